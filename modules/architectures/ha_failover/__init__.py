"""The `ha-failover` stack."""
