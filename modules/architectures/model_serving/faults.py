"""The faults `model-serving` claims to survive, each with the experiment that runs it on AWS
(``chaos.py``) or the reason there is none (read by the scorecard and the chaos tests)."""

from __future__ import annotations

from modules.stack.faults import FaultClaim, FaultClaims

FAULT_CLAIMS = FaultClaims(
    FaultClaim(experiment="stop-tasks", fault="Stop a share of the model server's running ECS tasks at once"),
    FaultClaim(
        experiment="az-outage",
        fault="Cut one AZ's private subnets off the network (tasks and ALB node there unreachable)",
    ),
)
