"""Constructs of the resilient AI infrastructure: settings, the stack base, blocks, stacks."""
