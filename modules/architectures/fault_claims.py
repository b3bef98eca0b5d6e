"""The faults each stack claims to survive, in one place: each one either backed by a chaos
experiment of the stack (its key; the template is ``<stack>/chaos/experiment-<key>``) or with
the reason there is none.

The stacks' experiments take their fault text from here (:func:`fault`), and the scorecard
lists every claim with its experiment. Plain data: it imports no construct, so a tool reads it
without building a stack.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_KEY = re.compile(r"^[a-z0-9][a-z0-9-]*$")


@dataclass(frozen=True, kw_only=True)
class FaultClaim:
    """One fault ``stack`` claims to survive: ``experiment`` (a key) runs it on AWS, or
    ``no_experiment`` says why nothing does and what covers it instead."""

    stack: str
    fault: str
    experiment: str = ""
    no_experiment: str = ""

    def __post_init__(self) -> None:
        problems = []
        if not self.fault.strip():
            problems.append("fault: must say what fails")
        if bool(self.experiment) == bool(self.no_experiment.strip()):
            problems.append("experiment, no_experiment: exactly one (an experiment key, or why there is none)")
        if self.experiment and not _KEY.match(self.experiment):
            problems.append(f"experiment={self.experiment!r}: must be lower-case letters, digits and -")
        if problems:
            raise ValueError(f"FaultClaim {self.stack}: {self.fault!r}: " + "; ".join(problems))


_FIS_LAMBDA = (
    "hashicorp/aws 5.100.0 refuses the `Functions` target key the FIS Lambda actions need (6.22+), so no "
    "template can express it. Covered today by the fault-injected handler tests "
    "(tests/test_event_processor_handler.py: bad input, unreadable objects, partial batch failures, the DLQ after "
    "3 receives, nothing lost). On provider 6.22+ an `aws:lambda:invocation-error` experiment on the function, "
    "stopped by its errors and DLQ alarms, would add it"
)

FAULT_CLAIMS: tuple[FaultClaim, ...] = (
    FaultClaim(
        stack="model-serving",
        experiment="stop-tasks",
        fault="Stop a share of the model server's running ECS tasks at once",
    ),
    FaultClaim(
        stack="model-serving",
        experiment="az-outage",
        fault="Cut one AZ's private subnets off the network (tasks and ALB node there unreachable)",
    ),
    FaultClaim(
        stack="ha-failover",
        experiment="terminate-instances",
        fault="Terminate instances of the primary site's Auto Scaling group",
    ),
    FaultClaim(
        stack="ha-failover",
        experiment="az-outage",
        fault="Cut one AZ's private subnets of the primary site off the network",
    ),
    FaultClaim(
        stack="ha-failover",
        fault="The primary region fails: DNS sends clients to the secondary site",
        no_experiment="FIS has no action that takes a region down, and the failover needs "
        "ha_failover.secondary_region and a hosted zone (off by default). Route 53 fails over on the "
        "primary's no-healthy-hosts alarm: run az-outage until it fires to see the alarm side",
    ),
    FaultClaim(
        stack="target-groups",
        experiment="terminate-instance",
        fault="Terminate a stable instance (its group replaces it within the detection time)",
    ),
    FaultClaim(
        stack="target-groups",
        experiment="terminate-canary",
        fault="Terminate a canary instance (its group replaces it; the canary is not rolled back)",
    ),
    FaultClaim(
        stack="target-groups",
        experiment="spot-interruptions",
        fault="Send the stable group's spot instances an interruption notice",
    ),
    FaultClaim(
        stack="target-groups",
        experiment="spot-interruptions-canary",
        fault="Send the canary group's spot instances an interruption notice (the canary is not rolled back)",
    ),
    FaultClaim(
        stack="stream-analytics",
        experiment="spot-interruptions",
        fault="Send the stream workers' spot instances an interruption notice (they drain, leases move)",
    ),
    FaultClaim(
        stack="stream-analytics",
        experiment="terminate-worker",
        fault="Terminate a stream worker without notice (its leases expire and move to the others)",
    ),
    FaultClaim(
        stack="event-processing",
        no_experiment=_FIS_LAMBDA,
        fault="The processor fails or times out on an event: retried, then dead-lettered with its reason",
    ),
)


def claims_of(stack: str) -> tuple[FaultClaim, ...]:
    """The claims of ``stack``, in the catalogue's order."""
    return tuple(c for c in FAULT_CLAIMS if c.stack == stack)


def fault(stack: str, experiment: str) -> str:
    """The fault text of ``stack``'s experiment ``experiment``: what its template's description says."""
    for claim in FAULT_CLAIMS:
        if claim.stack == stack and claim.experiment == experiment:
            return claim.fault
    raise KeyError(f"{stack}/{experiment}: no such claim in modules/architectures/fault_claims.py")
