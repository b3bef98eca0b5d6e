"""The one typed settings object, read in one place.

Sources, lowest to highest precedence:

1. built-in defaults (the field defaults of the models): with nothing else, every stack
   synthesizes;
2. a TOML settings file: ``environments/<name>.toml`` of the environment ``RAI_ENV`` names
   (``make ... ENV=<name>``), else the path in ``RAI_SETTINGS_FILE`` (which must then exist),
   else ``settings.toml`` in the project root;
3. environment variables ``RAI_<KEY>`` for top-level keys and
   ``RAI_<SECTION>_<KEY>`` for keys of a section (``RAI_STATE_BUCKET``).

Every problem in every source is collected and reported in one :class:`SettingsError`
that names each field, its source and what is allowed. An unknown key (in the file or as
an ``RAI_`` variable) is an error, with the closest known name when there is one, so a
typo never silently falls back to a default.
"""

from __future__ import annotations

import os
from collections.abc import Collection, Mapping
from contextvars import ContextVar
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Literal, TypeVar, cast

from pydantic import BaseModel, Field, ValidationError, create_model, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from modules import registry
from modules.config import checks
from modules.config.alarms import AlarmsSettings, alarm_problems
from modules.config.arns import arn_region_problems
from modules.config.chaos import GROUP_SIZES, ChaosSettings, chaos_group_problems, chaos_problems
from modules.config.checks import (
    DEFAULT_ZONE_IDS,
    AccountId,
    Endpoint,
    EnvironmentName,
    Exposure,
    Project,
    Region,
    Tags,
    ZoneIds,
    refuse,
)
from modules.config.environments import FileChoice, choose_settings_file
from modules.config.fleet import FleetSettings
from modules.config.ha_failover import HaFailoverSettings
from modules.config.load_balancer import LoadBalancerSettings
from modules.config.messages import Wording
from modules.config.model_server import ModelServerSettings
from modules.config.network import NetworkSettings
from modules.config.server_metrics import ServerMetricsSettings, server_metrics_problems
from modules.config.serving import ServingSettings
from modules.config.sources import (
    EnvSource,
    Load,
    TomlFileSource,
    sections,
)
from modules.config.state import StateSettings
from modules.config.tooling import ToolingSettings
from modules.config.zones import zone_problems
from modules.core.input_rules import AzCount, VpcCidr
from modules.core.names import bucket_name_problem

SectionModel = TypeVar("SectionModel", bound=BaseModel)


class SettingsError(ValueError):
    """Every problem found in every settings source, one per line."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(dict.fromkeys(problems))  # each problem once, however many rules found it
        body = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"invalid settings ({len(self.problems)} problem(s)):\n{body}")


# The load in progress: settings_customise_sources is a class method, so this is how it
# learns the environment and the file of the one load_settings call that builds it.
_LOAD: ContextVar[Load | None] = ContextVar("settings_load", default=None)


class Settings(BaseSettings):
    """Everything the app reads. Built by :func:`load_settings`, never mutated."""

    model_config = SettingsConfigDict(frozen=True, extra="forbid")

    project: Project = Field(default="resilient-ai", description="name prefix of every resource")
    environment: EnvironmentName = Field(
        default="dev", description="deployment environment: part of every name and state key (environments/<name>.toml)"
    )
    protected: bool | None = Field(
        default=None,
        description="whether stores of data and state carry prevent_destroy and deletion protection; "
        "unset = true for the environment named prod, false for any other",
    )
    account_id: AccountId = Field(
        default="", description="the AWS account this environment deploys to; a plan against another fails"
    )
    region: Region = Field(default="us-east-1", description="AWS region of every stack")
    az_count: AzCount = Field(default=3, description="availability zones each multi-AZ stack spans")
    zone_ids: ZoneIds = Field(
        default=DEFAULT_ZONE_IDS,
        description="availability zone ids in `region` the multi-AZ stacks use, the first az_count of them "
        "(ids name the same physical zone in every account; names do not). The default is us-east-1's "
        "without use1-az3 (almost no current instance types); another region needs its own",
    )
    vpc_cidr: VpcCidr = Field(default="10.0.0.0/16", description="VPC address range")
    emulator_endpoint: Endpoint = Field(
        default="",
        description="AWS emulator URL (e.g. a moto server); empty = real AWS. "
        "Only then are emulator-only adjustments applied",
    )
    tags: Tags = Field(
        default_factory=lambda: MappingProxyType({}), description="extra tags on every resource; env form `k=v,k2=v2`"
    )
    state: StateSettings = Field(default_factory=StateSettings)
    tooling: ToolingSettings = Field(default_factory=ToolingSettings)
    network: NetworkSettings = Field(default_factory=NetworkSettings)
    load_balancer: LoadBalancerSettings = Field(default_factory=LoadBalancerSettings)
    model_server: ModelServerSettings = Field(default_factory=ModelServerSettings)
    serving: ServingSettings = Field(default_factory=ServingSettings)
    server_metrics: ServerMetricsSettings = Field(default_factory=ServerMetricsSettings)
    fleet: FleetSettings = Field(default_factory=FleetSettings)
    ha_failover: HaFailoverSettings = Field(default_factory=HaFailoverSettings)
    chaos: ChaosSettings = Field(default_factory=ChaosSettings)
    alarms: AlarmsSettings = Field(default_factory=AlarmsSettings)

    @model_validator(mode="after")
    def _rules_across_sections(self) -> Settings:
        """One validator, so that every rule's problems are reported together."""
        public = [stack for stack in EXPOSED_STACKS if self.exposure_of(stack) == "public"]
        network = self.network.problems_with(
            az_count=self.az_count, secondary_region=self.ha_failover.secondary_region, public=public
        )
        refuse(public_requirement_problems(self) + network + rules_across_sections(self) + self._stack_rules())
        return self

    def _stack_rules(self) -> list[str]:
        """A stack's own section may check itself against the others: its ``problems_across(settings)``."""
        rules = [getattr(getattr(self, name), "problems_across", None) for name in type(self).model_fields]
        return [problem for rule in rules if rule is not None for problem in rule(self)]

    def zones_in(self, region: str) -> tuple[str, ...]:
        """The ``az_count`` zone ids the multi-AZ stacks use in ``region`` (primary or secondary)."""
        if region == self.region:
            return self.zone_ids[: self.az_count]
        if region == self.ha_failover.secondary_region:
            return self.ha_failover.secondary_zone_ids[: self.az_count]
        raise ValueError(f"{region}: neither region nor ha_failover.secondary_region")

    def exposure_of(self, stack: str) -> Exposure:
        """``internal`` or ``public`` for one of :data:`EXPOSED_STACKS`: its section's, else the shared one."""
        if stack not in EXPOSED_STACKS:
            raise KeyError(f"{stack}: no stack with a load balancer ({', '.join(EXPOSED_STACKS)})")
        override = cast(checks.ExposureOverride, getattr(self, SECTION_OF[stack]).exposure)
        return override or self.load_balancer.exposure

    def section(self, model: type[SectionModel]) -> SectionModel:
        """The section whose model is ``model``: how a stack reads the section of its own,
        registered with ``settings=`` in :mod:`modules.registry` (typed, unlike an attribute
        that only exists once the registry has added it)."""
        for name, info in type(self).model_fields.items():
            if info.annotation is model:
                value = getattr(self, name)
                if isinstance(value, model):
                    return value
        raise LookupError(
            f"{model.__module__}.{model.__qualname__}: no settings section has this model; "
            "name it with settings= in the stack's line of modules/registry.py"
        )

    @property
    def is_protected(self) -> bool:
        """``protected`` if given, else whether the environment is named prod."""
        return self.environment == "prod" if self.protected is None else self.protected

    @property
    def emulated(self) -> bool:
        return self.emulator_endpoint != ""

    @property
    def name_prefix(self) -> str:
        return f"{self.project}-{self.environment}"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Highest precedence first: keyword arguments, the environment, the TOML file.

        Outside :func:`load_settings`, ``Settings()`` is the embedded defaults only.
        """
        load = _LOAD.get()
        if load is None:
            return (init_settings,)
        return init_settings, EnvSource(settings_cls, load), TomlFileSource(settings_cls, load)


def _with_registered_sections(root: type[Settings]) -> type[Settings]:
    """``root`` with one more section per registered stack that has settings of its own."""
    registered = registry.settings_sections()
    clash = sorted(registered.keys() & root.model_fields.keys())
    if clash:
        raise ValueError(f"registry: settings section(s) {clash} already exist in modules/config/settings.py")
    fields: dict[str, Any] = {name: (model, Field(default_factory=model)) for name, model in registered.items()}
    return create_model("Settings", __base__=root, __module__=__name__, __doc__=root.__doc__, **fields)


# The type checker knows the root (shared sections; section() reads a stack's own). At run time it also
# holds each registered stack's section: the file, RAI_ variables, errors and docs know it like any other.
if not TYPE_CHECKING:
    Settings = _with_registered_sections(Settings)

SECTIONS = sections(Settings)
WORDING = Wording(Settings, SECTIONS)
SECTION_OF = {entry.name: entry.section for entry in registry.STACKS}
# The stacks with a load balancer: their section overrides load_balancer.exposure.
EXPOSED_STACKS = tuple(
    name for name, s in SECTION_OF.items() if s in SECTIONS and "exposure" in SECTIONS[s].model_fields
)


def public_requirement_problems(settings: Settings, invalid: Collection[str] = ()) -> list[str]:
    """What ``exposure = 'public'`` still needs (TLS, authentication): one line naming every
    missing field, or none. ``invalid``: dotted names of fields whose given value was refused
    (``settings`` holds their defaults), so the line says so instead of calling them unset."""
    lb = settings.load_balancer
    public = [stack for stack in EXPOSED_STACKS if settings.exposure_of(stack) == "public"]
    if not public:
        return []
    needed: list[tuple[str, str]] = []  # (field, why)
    if not lb.certificate_arn:
        needed.append(("load_balancer.certificate_arn", "TLS"))
    if lb.auth == "jwt":
        needed += [(f"load_balancer.{f}", "auth = jwt") for f in ("jwt_issuer", "jwt_audience") if not getattr(lb, f)]
    if lb.auth == "none" and len(lb.auth_none_reason.strip()) < 20:
        needed.append(("load_balancer.auth_none_reason", "auth = none needs a written waiver, 20+ characters"))
    ha = settings.ha_failover
    if "ha-failover" in public and ha.secondary_region and not ha.secondary_certificate_arn:
        needed.append(("ha_failover.secondary_certificate_arn", "TLS in the secondary region"))
    if not needed:
        return []
    shown = [
        f"{name} ({why}{'; the value given is invalid, see above' if name in invalid else ''})" for name, why in needed
    ]
    return [f"exposure = 'public' ({', '.join(public)}) needs: " + "; ".join(shown)]


# The rules across sections that also run beside bad fields, each with the fields it judges: it
# is left out while one of them is invalid (its problem would be about a default, not the value given).
_JUDGES = {
    "zones": {"region", "zone_ids", "az_count", "ha_failover.secondary_region", "ha_failover.secondary_zone_ids"},
    "arns": {"region", "ha_failover.secondary_region"},
    "chaos_zone": {"az_count", "chaos.az_outage_zone"},
    "chaos_groups": {
        "chaos.enabled",
        "chaos.terminate_count",
        "chaos.spot_interruptions_count",
        *(f"{section}.{key}" for section, key, _ in GROUP_SIZES),
    },
    "scaling": {"server_metrics.in_flight_target", "model_server.max_in_flight"},
    "alarms": {
        "environment",
        "protected",
        "ha_failover.secondary_region",
        *(f"alarms.{key}" for key in AlarmsSettings.model_fields),
    },
}


def rules_across_sections(settings: Settings, bad: Collection[str] = ()) -> list[str]:
    """The zone, ARN, chaos and scaling rules across sections; ``bad``: dotted names of refused
    fields (``settings`` holds defaults for them), whose rules are then left out."""
    judged = {rule for rule, fields in _JUDGES.items() if not fields & set(bad)}
    found: list[str] = []
    if "zones" in judged:
        found += zone_problems(settings.region, settings.zone_ids, settings.az_count, settings.ha_failover)
    if "arns" in judged:
        found += arn_region_problems(settings)
    if "chaos_zone" in judged:
        found += chaos_problems(settings.chaos, settings.az_count)
    if "chaos_groups" in judged:
        found += chaos_group_problems(settings.chaos, {name: getattr(settings, name) for name in SECTIONS})
    if "scaling" in judged:
        found += server_metrics_problems(settings.server_metrics, settings.model_server)
    if "alarms" in judged:
        secondary = settings.ha_failover.secondary_region
        found += alarm_problems(settings.alarms, secondary_region=secondary, protected=settings.is_protected)
    return found


def load_settings(
    environ: Mapping[str, str] | None = None,
    settings_file: Path | Literal["auto"] | None = "auto",
) -> Settings:
    """Settings from defaults < file < environment.

    ``environ`` defaults to the process environment; ``settings_file="auto"`` means
    ``environments/<RAI_ENV>.toml`` if ``RAI_ENV`` is set, else ``RAI_SETTINGS_FILE`` if set,
    else ``settings.toml`` in the project root if present (``None``: no file; a path or None
    ignores ``RAI_ENV``). Raises :class:`SettingsError` listing every problem.
    """
    env = os.environ if environ is None else environ
    choice = choose_settings_file(env) if settings_file == "auto" else FileChoice(settings_file)
    load = Load(environ=env, settings_file=choice.path, environment=choice.environment, problems=list(choice.problems))
    token = _LOAD.set(load)
    try:
        settings = Settings()
    except ValidationError as exc:
        rules = WORDING.rules_beside_bad_fields(exc, load) + _public_requirements_beside_bad_fields(exc, load)
        problems = WORDING.problems(exc, load) + WORDING.with_sources(rules, load)
        raise SettingsError(load.all_problems() + problems) from None
    finally:
        _LOAD.reset(token)
        load.warn_of_old_names()
    if load.all_problems():
        raise SettingsError(load.all_problems())
    return _with_derived_names(settings)


def _with_derived_names(settings: Settings) -> Settings:
    """Names not given are derived from project, environment and region (each section's own
    ``with_derived_names``)."""
    parts = f"{settings.project}-{settings.environment}"
    update: dict[str, Any] = {}
    if "bucket" not in settings.state.model_fields_set:
        derived = f"{parts}-tfstate-{settings.region}"
        problem = bucket_name_problem(derived)
        if problem:  # cannot happen with valid parts, kept as a guard
            raise SettingsError([f"state.bucket (derived {derived!r}): must be {problem}"])
        update["state"] = settings.state.model_copy(update={"bucket": derived})
    for name in SECTIONS:
        section = getattr(settings, name)
        own = section.with_derived_names(parts, settings.region) if isinstance(section, checks.Section) else section
        if own is not section:
            update[name] = own
    return settings.model_copy(update=update) if update else settings


def _public_requirements_beside_bad_fields(exc: ValidationError, load: Load) -> list[str]:
    """The rules across sections (public exposure, :func:`rules_across_sections`) on the valid values,
    defaults for the bad ones: pydantic runs them only when every field is valid, so a bad ``idle_timeout_s`` would
    hide that ``exposure = 'public'`` also lacks its certificate until the next run."""
    if any(not e["loc"] for e in exc.errors()):
        return []  # every field was valid: the rule ran, and its problem is already reported
    # the setting each error is about: a section's key, or a top-level key (not an item of its list)
    bad = {".".join(str(p) for p in e["loc"][: 2 if e["loc"][0] in SECTIONS else 1]) for e in exc.errors()}
    given = {**load.file_data, **load.env_data}
    values: dict[str, Any] = {key: value for key, value in given.items() if key not in SECTIONS and key not in bad}
    for key, model in SECTIONS.items():
        valid = {k: v for k, v in load.section_input(key).items() if f"{key}.{k}" not in bad}
        try:
            values[key] = model.model_validate(valid)
        except ValidationError:  # the section's own rule, reported already; its fields are valid
            values[key] = model.model_construct(**valid)
    built = Settings.model_construct(**values)
    return public_requirement_problems(built, invalid=bad) + rules_across_sections(built, bad)
