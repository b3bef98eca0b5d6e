"""The `example-queue` stack: a queue of jobs with its dead-letter queue (the "Add a stack" recipe's
example, registered by tests/test_registry.py only).
"""
