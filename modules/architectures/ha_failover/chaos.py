"""The chaos experiments of ``ha-failover`` (primary site): terminate instances of its group,
cut one AZ off.

Both are stopped by the alarms that say callers are hurt: no healthy host, the ALB's and the
servers' 5xx, the servers' p99 latency. "Unhealthy hosts" and "in service below the minimum"
are left out on purpose: the fault itself fires them, and what matters is whether callers notice.
"""

from __future__ import annotations

from modules.architectures.ha_failover.faults import FAULT_CLAIMS
from modules.blocks.chaos import ExperimentSpec
from modules.blocks.network import NetworkHandles
from modules.config import Settings
from modules.patterns.chaos_experiments import ASG_TAG, az_outage, minutes, outage_zone, terminate

STOP_ALARMS = ("no-healthy-hosts", "alb-5xx", "target-5xx", "model-p99-latency", "server-5xx-rate")


def experiments(
    settings: Settings, *, group_name: str, network: NetworkHandles, account_id: str, back_within_s: int
) -> list[ExperimentSpec]:
    """``back_within_s``: detection plus replacement time of a failed instance."""
    chaos, back = settings.chaos, minutes(back_within_s)
    no_5xx = f"no 5xx alarm and p99 under {settings.server_metrics.p99_latency_alarm_ms} ms"
    return [
        terminate(
            settings,
            FAULT_CLAIMS,
            "terminate-instances",
            tags={ASG_TAG: group_name},
            stop_alarms=STOP_ALARMS,
            hypothesis=f"{no_5xx} while {chaos.terminate_count} of its instances go without notice. The group is back "
            f"to {settings.ha_failover.min_size} healthy targets or more within {back} min",
        ),
        az_outage(
            settings,
            FAULT_CLAIMS,
            private_subnet_ids=network.private_subnet_ids,
            account_id=account_id,
            stop_alarms=STOP_ALARMS,
            hypothesis=f"{no_5xx} while {outage_zone(settings)} is cut off for {chaos.az_outage_minutes} min. "
            f"The group replaces the instances there in the other zones within {back} min",
        ),
    ]
