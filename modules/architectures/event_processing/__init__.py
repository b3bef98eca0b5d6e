"""The `event-processing` stack."""
