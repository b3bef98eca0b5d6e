"""Resilience policy: rules over each stack's synthesized JSON, run as a cdktf aspect.

``document`` and ``rules`` read plain JSON (the scorecard and diagrams use them without
starting jsii); ``check`` holds the aspect, :func:`~modules.policy.check.waive` and the error.
"""
