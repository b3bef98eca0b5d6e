"""The faults `stream-analytics` claims to survive, each with the experiment that runs it on AWS
(``chaos.py``) or the reason there is none (read by the scorecard and the chaos tests)."""

from __future__ import annotations

from modules.stack.faults import FaultClaim, FaultClaims

FAULT_CLAIMS = FaultClaims(
    FaultClaim(
        experiment="spot-interruptions",
        fault="Send the stream workers' spot instances an interruption notice (they drain, leases move)",
    ),
    FaultClaim(
        experiment="terminate-worker",
        fault="Terminate a stream worker without notice (its leases expire and move to the others)",
    ),
)
