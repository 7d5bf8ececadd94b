# strata.hcl: what strata converges from this repository.
# Reference: docs/configuration.md

terraform {
  parallelism = 4 # stacks planned at once
}

# A Terraform root module. Its local state lives in strata's state
# directory, never in this repository.
stack "network" {
  path = "infra/network"
  vars = { region = "eu-west-1", cidr = "10.40.0.0/16" }
}

# Reads network's outputs through terraform_remote_state, so it is planned
# after network.
stack "database" {
  path       = "infra/database"
  var_files  = ["prod.tfvars"]
  depends_on = ["network"]
}

# Independent of database: planned at the same time.
stack "edge" {
  path       = "infra/edge"
  depends_on = ["network"]
}

# Kubernetes manifests, fed by the database stack's outputs.
workload "apps" {
  path       = "k8s/apps"
  namespace  = "apps"
  depends_on = ["database"]
  prune      = true
  wait       = true
  timeout    = "5m"
}

# database's outputs, as a ConfigMap (plain) and a Secret (sensitive).
outputs "database" {
  config_map = "apps/database-outputs"
  secret     = "apps/database-secrets"
}

approval {
  destructive = "prompt"
  protect     = ["terraform_data.primary"]
}
