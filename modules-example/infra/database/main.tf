# The database stack. It reads the network stack's outputs from its local
# state, and is replaced when the engine version changes.

variable "engine_version" {
  type = string
}

variable "instance_class" {
  type    = string
  default = "small"
}

# Until network has been applied there is no state to read; plan against
# placeholders then, like a first `strata plan` on a fresh state directory.
data "terraform_remote_state" "network" {
  count   = fileexists("${path.module}/../network/terraform.tfstate") ? 1 : 0
  backend = "local"
  config = {
    path = "${path.module}/../network/terraform.tfstate"
  }
}

locals {
  network = try(data.terraform_remote_state.network[0].outputs, {
    vpc_id = "(network not applied yet)"
    region = "pending"
  })
}

resource "terraform_data" "primary" {
  input = {
    vpc            = local.network.vpc_id
    instance_class = var.instance_class
  }
  # An engine upgrade cannot happen in place: it replaces the instance.
  triggers_replace = [var.engine_version]
}

output "endpoint" {
  value = "db-${substr(sha256(terraform_data.primary.id), 0, 8)}.${local.network.region}.internal:5432"
}

output "engine_version" {
  value = var.engine_version
}

output "password" {
  value     = sha256("${terraform_data.primary.id}-credentials")
  sensitive = true
}
