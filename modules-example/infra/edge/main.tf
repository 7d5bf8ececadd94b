# The edge stack: a load balancer in front of the network.

data "terraform_remote_state" "network" {
  count   = fileexists("${path.module}/../network/terraform.tfstate") ? 1 : 0
  backend = "local"
  config = {
    path = "${path.module}/../network/terraform.tfstate"
  }
}

locals {
  vpc_id = try(data.terraform_remote_state.network[0].outputs.vpc_id, "(network not applied yet)")
}

resource "terraform_data" "load_balancer" {
  input = {
    vpc      = local.vpc_id
    listener = 443
  }
}

output "hostname" {
  value = "lb-${substr(sha256(terraform_data.load_balancer.id), 0, 8)}.example.internal"
}
