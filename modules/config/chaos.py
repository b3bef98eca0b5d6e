"""``[chaos]``: the FIS experiments each stack ships for the faults it claims to survive
(`model-serving`, `ha-failover`, `target-groups`, `stream-analytics`), and how hard they hit."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated

from pydantic import Field

from modules.config.checks import Int, Section, between
from modules.core.input_rules import MAX_AZS


class ChaosSettings(Section):
    """The chaos experiments (AWS FIS templates): free until run, each stopped by its stack's alarms."""

    enabled: bool = Field(
        default=True,
        description="ship an AWS FIS experiment template per claimed fault (nothing runs, and nothing is billed, "
        "until someone starts one: `make chaos RUN=<stack>/<experiment>`); false = no FIS resources at all",
    )
    stop_tasks_percent: Annotated[Int, between(1, 100, "a percentage")] = Field(
        default=50, description="model-serving `stop-tasks`: share (%) of the service's running tasks stopped at once"
    )
    terminate_count: Annotated[Int, between(1, 100)] = Field(
        default=1,
        description="instances terminated at once by the `terminate-*` experiments (ha-failover, target-groups, "
        "stream-analytics); keep it below the group's minimum, or the experiment takes the whole group",
    )
    spot_interruptions_count: Annotated[Int, between(1, 100)] = Field(
        default=1, description="spot instances sent an interruption notice by the `spot-interruptions` experiments"
    )
    spot_notice_minutes: Annotated[Int, between(2, 15, "a number of minutes")] = Field(
        default=2,
        description="time from the interruption notice to the interruption (AWS gives 2 minutes; FIS allows up to 15)",
    )
    az_outage_minutes: Annotated[Int, between(1, 720, "a number of minutes")] = Field(
        default=5,
        description="how long the `az-outage` experiments cut one AZ's private subnets off (FIS: 12 h at most)",
    )
    az_outage_zone: Annotated[Int, between(1, MAX_AZS, "a zone number")] = Field(
        default=1,
        description="which of the stack's zones the `az-outage` experiments cut: 1 = the first of `zone_ids`; at "
        "most `az_count`",
    )


# The groups of instances the `terminate-*` and `spot-interruptions` experiments act on: the setting
# that sizes each (section, key). By name: a stack's own section is registered, not imported here.
# (section, key, whether a `spot-interruptions` experiment acts on it too)
GROUP_SIZES = (
    ("ha_failover", "min_size", False),
    ("target_groups", "min_size", True),
    ("stream", "target_capacity", True),
)


def chaos_problems(chaos: ChaosSettings, az_count: int) -> list[str]:
    """Rules across ``[chaos]`` and the top-level settings."""
    if chaos.az_outage_zone <= az_count:
        return []
    return [
        f"chaos.az_outage_zone = {chaos.az_outage_zone}: must be at most az_count = {az_count} (a zone the stacks use)"
    ]


def chaos_group_problems(chaos: ChaosSettings, sections: Mapping[str, object]) -> list[str]:
    """The instances the experiments take, against the sizes of the groups they act on
    (``sections``: the settings' sections by name)."""
    if not chaos.enabled:
        return []
    out = []
    sizes = [
        (f"{section}.{key}", getattr(sections.get(section), key, None), spot) for section, key, spot in GROUP_SIZES
    ]
    groups = [(name, size, spot) for name, size, spot in sizes if isinstance(size, int)]
    small = [f"{name} = {size}" for name, size, _ in groups if chaos.terminate_count >= size]
    if small:
        out.append(
            f"chaos.terminate_count = {chaos.terminate_count}: must be below the size of each group it acts on: "
            f"{', '.join(small)} (it would take the whole group, and the fault claim would not hold)"
        )
    small = [f"{name} = {size}" for name, size, spot in groups if spot and chaos.spot_interruptions_count > size]
    if small:
        out.append(
            f"chaos.spot_interruptions_count = {chaos.spot_interruptions_count}: must be at most the size of each "
            f"group it interrupts: {', '.join(small)}"
        )
    return out
