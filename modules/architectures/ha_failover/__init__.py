"""The `ha-failover` stack: multi-AZ VPC + ALB + self-healing Auto Scaling group of model
servers; optional second region with Route 53 failover.
"""
