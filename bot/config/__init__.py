"""`omnicat.yaml`: the schema (`schema`) and the loader that validates it (`load`)."""
