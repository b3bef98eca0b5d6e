"""The `state` stack."""
