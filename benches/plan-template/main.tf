# The root module whose real plan is the template for the large synthetic
# plans of benches/inspect-vs-jq.sh: ~50 resources with object values of a
# realistic size, and a sensitive value.

variable "db_password" {
  type      = string
  sensitive = true
  default   = "bench-only-not-a-secret"
}

locals {
  services = { for i in range(50) : format("svc-%02d", i) => i }
}

resource "terraform_data" "svc" {
  for_each = local.services
  input = {
    name        = each.key
    index       = each.value
    region      = "eu-west-1"
    tags        = { team = "platform", env = "prod", owner = "ops@example.com", cost_center = "cc-${each.value}" }
    ports       = [80, 443, 8000 + each.value]
    description = "Service ${each.key} managed by strata; this string pads the value to look like a real resource attribute."
  }
  triggers_replace = [each.key]
}

resource "terraform_data" "db" {
  input = {
    engine   = "postgres"
    password = var.db_password
  }
}

output "endpoints" {
  value = { for k, v in terraform_data.svc : k => v.id }
}

output "db_password" {
  value     = var.db_password
  sensitive = true
}
