"""The registry of stacks: one line per stack, in deploy order.

Everything that works on "every stack" reads this list and nothing else: the app (synth,
``manifest.json`` and the deploy order, :mod:`modules.app`), the settings root (a stack's
own ``[section]``, :mod:`modules.config.settings`), the import contracts (by wildcard), and
the docs (the README's stack table from here; scorecard, diagrams and settings tables from
the synth and the settings). Adding a stack is one :class:`Registered` line here; see
README "Add a stack".

Construct-free on purpose: the settings import it, and they load and fail without jsii.
The stack and settings modules are named, not imported: :func:`stack_class` imports a
stack when the app asks for it, :func:`settings_sections` imports only the settings
modules (which import no construct: a contract in ``pyproject.toml``).
"""

from __future__ import annotations

import importlib
import re
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel

from modules.core.paths import PROJECT_ROOT

_STACK_NAME = re.compile(r"^[a-z][a-z0-9-]*$")
_SECTION_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


@dataclass(frozen=True)
class Registered:
    """One stack: its name, and where its code is.

    ``package`` (default ``modules.architectures.<name with _>``) holds ``stack.py`` with the
    class ``stack`` (built as ``stack(scope, name, settings)``). ``settings``, when the stack
    has a section of its own, names the pydantic model in ``<package>/settings.py``, read in
    the stack with ``settings.section(<model>)``. ``section`` is the stack's settings section
    (``[<section>]``, ``RAI_<SECTION>_<KEY>``), by default the last part of ``package``; a
    section with an ``exposure`` field makes the stack one with a load balancer. ``on_demand``:
    the stack is built only when its class's ``wanted(settings)`` says so (``alarms``: when
    ``[alarms]`` names subscribers), so the default synth does not have it.
    """

    name: str
    stack: str
    package: str = ""
    settings: str = ""
    section: str = ""
    on_demand: bool = False

    def __post_init__(self) -> None:
        if not _STACK_NAME.match(self.name):
            raise ValueError(f"registry: stack name {self.name!r}: must be lower-case letters, digits and '-'")
        if not self.package:
            object.__setattr__(self, "package", f"modules.architectures.{self.name.replace('-', '_')}")
        if not self.section:
            object.__setattr__(self, "section", self.package.rsplit(".", 1)[-1])
        if not _SECTION_NAME.match(self.section):
            raise ValueError(
                f"registry: {self.name}: section {self.section!r}: must be lower-case letters, digits, '_'"
            )

    @property
    def folder(self) -> Path:
        """The stack's folder: ``stack.py``, ``README.md`` (and ``observability.py``, ``settings.py``)."""
        return PROJECT_ROOT.joinpath(*self.package.split("."))


# Deploy order: `state` first (it holds everyone's state), `alarms` next (the topics every
# stack's alarms notify, when [alarms] names subscribers), `network` next (the VPC the others
# use with network.mode = "shared"), then the others in this order.
STACKS: tuple[Registered, ...] = (
    Registered("state", "StateStack"),
    Registered("alarms", "AlarmsStack", on_demand=True),
    Registered("network", "NetworkStack"),
    Registered("stream-analytics", "StreamAnalyticsStack", settings="StreamSettings", section="stream"),
    Registered("model-serving", "ModelServingStack", section="serving"),
    Registered("ha-failover", "HaFailoverStack"),
    Registered("target-groups", "TargetGroupsStack", settings="TargetGroupsSettings"),
    Registered("event-processing", "EventProcessingStack", settings="EventProcessingSettings"),
)

STATE_STACK = "state"


def _attribute(module: str, name: str, entry: Registered) -> object:
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as exc:
        raise LookupError(f"registry: stack {entry.name!r} names {module}.{name}, which does not exist: {exc}") from exc


def stack_class(entry: Registered) -> object:
    """The stack class of ``entry`` (imports its ``stack.py``, so cdktf)."""
    return _attribute(f"{entry.package}.stack", entry.stack, entry)


def settings_sections(stacks: tuple[Registered, ...] | None = None) -> dict[str, type[BaseModel]]:
    """Section name -> settings model of every registered stack with a section of its own."""
    out: dict[str, type[BaseModel]] = {}
    for entry in STACKS if stacks is None else stacks:
        if not entry.settings:
            continue
        model = _attribute(f"{entry.package}.settings", entry.settings, entry)
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            raise TypeError(f"registry: stack {entry.name!r}: {entry.package}.settings.{entry.settings} is no model")
        if entry.section in out:
            raise ValueError(f"registry: two stacks have the settings section [{entry.section}]")
        out[entry.section] = model
    return out
