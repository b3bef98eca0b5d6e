"""The chaos experiments of ``target-groups``: terminate a stable or a canary instance, send
the stable or the canary group's spot instances an interruption notice (one template per
group: a template's tag filter names one group).

Each is stopped by the alarms of the group it hits that say callers are hurt: its servers' 5xx
(as the ALB counts them and as they count them) and p99 latency. "Unhealthy hosts" is left out
on purpose: the fault itself fires it, and what matters is whether callers notice.
"""

from __future__ import annotations

from modules.architectures.target_groups.faults import FAULT_CLAIMS
from modules.blocks.chaos import ExperimentSpec
from modules.config import Settings
from modules.patterns.chaos_experiments import ASG_TAG, minutes, spot_interruptions, terminate


def stop_alarms(group: str) -> tuple[str, ...]:
    """The alarms of target group ``group`` (stable, canary) that say its callers are hurt."""
    return tuple(f"{group}-{key}" for key in ("target-5xx", "server-5xx-rate", "model-p99-latency"))


def experiments(
    settings: Settings, *, group_names: dict[str, str], min_size: int, back_within_s: int
) -> list[ExperimentSpec]:
    """``group_names``: the stable and canary groups' names; ``back_within_s``: detection plus
    replacement time of a failed instance."""
    chaos, back = settings.chaos, minutes(back_within_s)
    p99 = settings.server_metrics.p99_latency_alarm_ms

    def hypothesis(group: str, fault: str) -> str:
        return (
            f"no {group} 5xx alarm and {group} p99 under {p99} ms while {fault}. The {group} group is back to "
            f"{min_size} healthy targets or more within {back} min"
        )

    return [
        terminate(
            settings,
            FAULT_CLAIMS,
            "terminate-instance",
            tags={ASG_TAG: group_names["stable"]},
            stop_alarms=stop_alarms("stable"),
            hypothesis=hypothesis("stable", f"{chaos.terminate_count} stable instances go without notice"),
        ),
        terminate(
            settings,
            FAULT_CLAIMS,
            "terminate-canary",
            tags={ASG_TAG: group_names["canary"]},
            stop_alarms=stop_alarms("canary"),
            hypothesis=hypothesis("canary", f"{chaos.terminate_count} canary instances go without notice"),
        ),
        spot_interruptions(
            settings,
            FAULT_CLAIMS,
            tags={ASG_TAG: group_names["stable"]},
            stop_alarms=stop_alarms("stable"),
            hypothesis=hypothesis(
                "stable",
                f"{chaos.spot_interruptions_count} stable spot instances drain on a "
                f"{chaos.spot_notice_minutes} min notice",
            ),
        ),
        spot_interruptions(
            settings,
            FAULT_CLAIMS,
            key="spot-interruptions-canary",
            tags={ASG_TAG: group_names["canary"]},
            stop_alarms=stop_alarms("canary"),
            hypothesis=hypothesis(
                "canary",
                f"{chaos.spot_interruptions_count} canary spot instances drain on a "
                f"{chaos.spot_notice_minutes} min notice",
            ),
        ),
    ]
