"""What every stack offers to tools and tests, declared once: its observability (alarm specs by
the prefix that names their alarms, the alarms, the dashboard), its alarm topic, its chaos
experiments and its fault claims. :class:`~modules.stack.base.BaseStack` carries them; a stack's
``observability.py`` returns :class:`Observability` from its ``observe()``."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from cdktf import TerraformResource
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

    def alarms_named(self, names: Iterable[str]) -> list[CloudwatchMetricAlarm]:
        """The alarms of the stack that ``names`` (alarm names written out) name, in that order;
        a name no alarm of the stack has is an error, not a silent gap."""
        by_name = {
            spec.alarm_name(prefix): self.alarms[prefix][spec.key]
            for prefix, specs in self.specs.items()
            for spec in specs
        }
        names = list(names)
        if unknown := [name for name in names if name not in by_name]:
            raise ValueError(f"Observability: no alarm of the stack is named {', '.join(unknown)}")
        return [by_name[name] for name in names]


def depend_on(resource: TerraformResource, others: Iterable[TerraformResource]) -> None:
    """``resource`` is created after ``others`` (kept beside its own ``depends_on``): for what
    names them by string, which Terraform cannot see (an ECS service's deployment alarms, an
    Auto Scaling group's instance refresh alarms). AWS refuses a name that does not exist yet."""
    addresses = [f"{other.terraform_resource_type}.{other.friendly_unique_id}" for other in others]
    resource.depends_on = [*(resource.depends_on or []), *addresses]
