"""Resilience policy: rules over each stack's synthesized JSON, run as a cdktf aspect."""

from modules.policy.check import Finding, PolicyError, ResiliencePolicy, evaluate, raise_on_violations, waive

__all__ = ["Finding", "PolicyError", "ResiliencePolicy", "evaluate", "raise_on_violations", "waive"]
