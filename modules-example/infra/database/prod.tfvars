engine_version = "16.4"
instance_class = "medium"
