"""The `target-groups` stack: ALB with stable and canary target groups (weighted), each backed
by its own spot/on-demand Auto Scaling group.
"""
