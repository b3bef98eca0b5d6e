"""The fault the example stack claims to survive, with the experiment that runs it (``chaos.py``)."""

from __future__ import annotations

from modules.stack.faults import FaultClaim, FaultClaims

FAULT_CLAIMS = FaultClaims(
    FaultClaim(
        experiment="az-outage",
        fault="Cut one AZ's private subnets off the network (the queue's consumers there are cut off)",
    ),
)
