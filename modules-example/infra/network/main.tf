# The network stack: a VPC and two subnets, modelled with terraform_data so
# the example runs without downloading any provider.

variable "region" {
  type = string
}

variable "cidr" {
  type = string
}

resource "terraform_data" "vpc" {
  input = {
    region = var.region
    cidr   = var.cidr
  }
}

resource "terraform_data" "subnet" {
  for_each = {
    a = cidrsubnet(var.cidr, 8, 1)
    b = cidrsubnet(var.cidr, 8, 2)
  }
  input = {
    vpc  = terraform_data.vpc.id
    cidr = each.value
    zone = "${var.region}${each.key}"
  }
}

output "vpc_id" {
  value = terraform_data.vpc.id
}

output "subnet_cidrs" {
  value = [for s in terraform_data.subnet : s.input.cidr]
}

output "region" {
  value = var.region
}
