"""The example stack's experiment: one AZ of its network cut off, stopped by its DLQ alarm."""

from __future__ import annotations

from modules.blocks.chaos import ExperimentSpec
from modules.blocks.network import NetworkHandles
from modules.config import Settings
from modules.patterns.chaos_experiments import az_outage, outage_zone
from tests.example_queue.faults import FAULT_CLAIMS


def experiments(settings: Settings, *, network: NetworkHandles, account_id: str) -> list[ExperimentSpec]:
    return [
        az_outage(
            settings,
            FAULT_CLAIMS,
            private_subnet_ids=network.private_subnet_ids,
            account_id=account_id,
            stop_alarms=("dlq-depth",),
            hypothesis=f"no job reaches the DLQ while {outage_zone(settings)} is cut off: the queue is regional",
        )
    ]
