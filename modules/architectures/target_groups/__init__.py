"""The `target-groups` stack."""
