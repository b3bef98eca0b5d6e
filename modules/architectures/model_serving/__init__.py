"""The `model-serving` stack."""
