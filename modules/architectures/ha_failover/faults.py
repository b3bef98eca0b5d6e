"""The faults `ha-failover` claims to survive, each with the experiment that runs it on AWS
(``chaos.py``) or the reason there is none (read by the scorecard and the chaos tests)."""

from __future__ import annotations

from modules.stack.faults import FaultClaim, FaultClaims

FAULT_CLAIMS = FaultClaims(
    FaultClaim(experiment="terminate-instances", fault="Terminate instances of the primary site's Auto Scaling group"),
    FaultClaim(experiment="az-outage", fault="Cut one AZ's private subnets of the primary site off the network"),
    FaultClaim(
        fault="The primary region fails: DNS sends clients to the secondary site",
        no_experiment="FIS has no action that takes a region down, and the failover needs "
        "ha_failover.secondary_region and a hosted zone (off by default). Route 53 fails over on the "
        "primary's no-healthy-hosts alarm: run az-outage until it fires to see the alarm side",
    ),
)
