"""The faults `target-groups` claims to survive, each with the experiment that runs it on AWS
(``chaos.py``) or the reason there is none (read by the scorecard and the chaos tests)."""

from __future__ import annotations

from modules.stack.faults import FaultClaim, FaultClaims

FAULT_CLAIMS = FaultClaims(
    FaultClaim(
        experiment="terminate-instance",
        fault="Terminate a stable instance (its group replaces it within the detection time)",
    ),
    FaultClaim(
        experiment="terminate-canary",
        fault="Terminate a canary instance (its group replaces it; the canary is not rolled back)",
    ),
    FaultClaim(experiment="spot-interruptions", fault="Send the stable group's spot instances an interruption notice"),
    FaultClaim(
        experiment="spot-interruptions-canary",
        fault="Send the canary group's spot instances an interruption notice (the canary is not rolled back)",
    ),
)
