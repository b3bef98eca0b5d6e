"""Resilience policy: rules over each stack's synthesized JSON, run when a stack is finalized.

``document`` and ``rules`` read plain JSON (the scorecard and diagrams use them without
starting jsii); ``check`` holds the evaluation, :func:`~modules.policy.check.waive` and the error.
"""
