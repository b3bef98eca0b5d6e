"""The chaos experiments of ``stream-analytics``: spot interruption notices to the workers,
and a worker terminated without notice (its leases expire and move).

Both are stopped by the alarms that say the stream's readers are hurt: the workers fall
behind (iterator age), or none heartbeats any more.
"""

from __future__ import annotations

from modules.architectures.stream_analytics.faults import FAULT_CLAIMS
from modules.architectures.stream_analytics.settings import StreamSettings
from modules.blocks.chaos import ExperimentSpec
from modules.config import Settings
from modules.patterns.chaos_experiments import ASG_TAG, SPOT_FLEET_TAG, spot_interruptions, terminate

STOP_ALARMS = ("iterator-age", "heartbeats")
BACK_WITHIN_MIN = 10  # a replacement's launch and boot (pip install) before it leases shards


def experiments(settings: Settings, *, fleet_id: str) -> list[ExperimentSpec]:
    """``fleet_id``: the Spot Fleet request's id or the Auto Scaling group's name (``stream.fleet_kind``)."""
    cfg, chaos = settings.section(StreamSettings), settings.chaos
    tags = {SPOT_FLEET_TAG if cfg.fleet_kind == "spot_fleet" else ASG_TAG: fleet_id}
    behind = f"the oldest unread record stays under {cfg.iterator_age_alarm_s} s"
    back = f"The fleet is back to {cfg.target_capacity} workers within {BACK_WITHIN_MIN} min"
    return [
        spot_interruptions(
            settings,
            FAULT_CLAIMS,
            tags=tags,
            stop_alarms=STOP_ALARMS,
            hypothesis=f"{behind}: the interrupted workers release their leases within the "
            f"{chaos.spot_notice_minutes} min notice. {back}",
        ),
        terminate(
            settings,
            FAULT_CLAIMS,
            "terminate-worker",
            tags=tags,
            stop_alarms=STOP_ALARMS,
            hypothesis=f"{behind}: the leases of the dead worker move after {cfg.lease_ttl_s} s. {back}",
        ),
    ]
