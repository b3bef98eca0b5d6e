"""The chaos experiments of ``model-serving``: stop a share of the tasks, cut one AZ off.

Both are stopped by the alarms that say callers are hurt: the ALB's and the servers' 5xx, and
p99 latency. "Running below desired" and "unhealthy hosts" are left out on purpose: the fault
itself fires them, and what matters is whether callers notice.
"""

from __future__ import annotations

from modules.architectures.model_serving.faults import FAULT_CLAIMS
from modules.blocks.chaos import ExperimentSpec, TargetSpec
from modules.blocks.network import NetworkHandles
from modules.config import Settings
from modules.patterns.chaos_experiments import az_outage, outage_zone

STOP_ALARMS = ("alb-5xx", "target-5xx", "p99-latency", "server-5xx-rate")
BACK_WITHIN_MIN = 5  # a Fargate task's launch, image pull, start period and two healthy checks


def experiments(
    settings: Settings, *, cluster: str, service: str, network: NetworkHandles, account_id: str
) -> list[ExperimentSpec]:
    serving, chaos = settings.serving, settings.chaos
    no_5xx = f"no 5xx alarm and p99 under {serving.p99_latency_alarm_ms} ms"
    return [
        ExperimentSpec(
            key="stop-tasks",
            fault=FAULT_CLAIMS.fault("stop-tasks"),
            hypothesis=f"{no_5xx} while {chaos.stop_tasks_percent} percent of the tasks stop. ECS runs the "
            f"desired count again within {BACK_WITHIN_MIN} min",
            action="aws:ecs:stop-task",
            target=TargetSpec(
                resource_type="aws:ecs:task",
                selection=f"PERCENT({chaos.stop_tasks_percent})",
                parameters={"cluster": cluster, "service": service},
            ),
            stop_alarms=STOP_ALARMS,
        ),
        az_outage(
            settings,
            FAULT_CLAIMS,
            private_subnet_ids=network.private_subnet_ids,
            account_id=account_id,
            stop_alarms=STOP_ALARMS,
            hypothesis=f"{no_5xx} while {outage_zone(settings)} is cut off for {chaos.az_outage_minutes} min. "
            f"The tasks there are replaced in the other zones within {BACK_WITHIN_MIN} min",
        ),
    ]
