"""The faults `event-processing` claims to survive, each with the experiment that runs it on AWS
(``chaos.py``) or the reason there is none (read by the scorecard and the chaos tests)."""

from __future__ import annotations

from modules.stack.faults import FaultClaim, FaultClaims

_FIS_LAMBDA = (
    "hashicorp/aws 5.100.0 refuses the `Functions` target key the FIS Lambda actions need (6.22+), so no "
    "template can express it. Covered today by the fault-injected handler tests "
    "(tests/test_event_processor_handler.py: bad input, unreadable objects, partial batch failures, the DLQ after "
    "3 receives, nothing lost). On provider 6.22+ an `aws:lambda:invocation-error` experiment on the function, "
    "stopped by its errors and DLQ alarms, would add it"
)

FAULT_CLAIMS = FaultClaims(
    FaultClaim(
        no_experiment=_FIS_LAMBDA,
        fault="The processor fails or times out on an event: retried, then dead-lettered with its reason",
    ),
)
