"""What every stack offers to tools and tests, declared once: its observability (alarm specs by
the prefix that names their alarms, the alarms, the dashboard), its alarm topic, its chaos
experiments and its fault claims. :class:`~modules.stack.base.BaseStack` carries them; a stack's
``observability.py`` returns :class:`Observability` from its ``observe()``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from cdktf_cdktf_provider_aws.cloudwatch_dashboard import CloudwatchDashboard
from cdktf_cdktf_provider_aws.cloudwatch_metric_alarm import CloudwatchMetricAlarm

from modules.blocks.alarms import AlarmSpec, rollout_guards


@dataclass(frozen=True, kw_only=True)
class Observability:
    """What a stack's ``observe()`` made. ``specs`` and ``alarms`` are keyed by the prefix that
    names the alarms (one per site or region: ``ha-failover``'s secondary site has its own),
    ``alarms[prefix]`` by spec key."""

    specs: Mapping[str, Sequence[AlarmSpec]] = field(default_factory=dict)
    alarms: Mapping[str, Mapping[str, CloudwatchMetricAlarm]] = field(default_factory=dict)
    dashboard: CloudwatchDashboard | None = None

    def __post_init__(self) -> None:
        for prefix, specs in self.specs.items():
            made = set(self.alarms.get(prefix, {}))
            if missing := [spec.key for spec in specs if spec.key not in made]:
                raise ValueError(f"Observability: {prefix}: no alarm made for spec(s) {', '.join(missing)}")

    def guard_names(self, prefix: str) -> list[str]:
        """The names of ``prefix``'s rollout guards, written out (a reference back from what the
        rollout changes would be a cycle: :func:`~modules.blocks.alarms.rollout_guards`)."""
        return rollout_guards(prefix, self.specs[prefix])

    def guard_references(self, prefix: str) -> list[str]:
        """The names of ``prefix``'s rollout guards as references to the alarms (where what reads
        them is created after them and is no input of theirs: no cycle)."""
        return [self.alarms[prefix][spec.key].alarm_name for spec in self.specs[prefix] if spec.guards_rollout]
