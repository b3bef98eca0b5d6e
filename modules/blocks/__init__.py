"""Reusable building blocks (network, load balancer, fleet, queue, ...): a Props dataclass and a
Construct each. A block takes typed props and never reads settings."""
