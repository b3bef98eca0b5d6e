"""The `network` stack: the one VPC per region that every multi-AZ stack uses (`network.mode = shared`, the default)."""
