"""The settings tables of docs/settings.md, generated from the models so that they never drift."""

from __future__ import annotations

import json
from collections.abc import Mapping

from pydantic import BaseModel

from modules.config.messages import describe
from modules.config.renamed import RENAMED
from modules.config.settings import SECTIONS, Settings
from modules.config.sources import env_var


def _default(value: object) -> str:
    if isinstance(value, Mapping):
        value = dict(value)
    return "`{}`" if value == {} else f"`{json.dumps(value)}`"


def _rows(model: type[BaseModel], section: str | None) -> list[str]:
    rows = []
    for name, info in model.model_fields.items():
        if section is None and name in SECTIONS:
            continue
        extra = info.json_schema_extra
        derived = isinstance(extra, dict) and extra.get("derived")
        shown = "(derived)" if derived else _default(info.get_default(call_default_factory=True))
        key = f"{section}.{name}" if section else name
        doc = f"{info.description or ''} ({describe(info.annotation)})"
        rows.append(f"| `{key}` | `{env_var(section, name)}` | {shown} | {doc} |")
    return rows


_HEADER = ["| setting (TOML) | environment variable | default | what it does |", "|---|---|---|---|"]


def settings_table() -> str:
    """One table of every key, its variable, default and meaning."""
    rows = _HEADER + _rows(Settings, None)
    for section, model in SECTIONS.items():
        rows += _rows(model, section)
    return "\n".join(rows)


def renamed_table() -> str:
    """The old names that still work (with a deprecation message), and the settings they became."""
    rows = ["| old setting (TOML) | old environment variable | now |", "|---|---|---|"]
    for entry in RENAMED:
        now = " and ".join(f"`{'.'.join(new)}` (`{env_var(*new)}`)" for new in entry.new)
        rows.append(f"| `{entry.old_name}` | `{env_var(*entry.old)}` | {now} |")
    return "\n".join(rows)


def section_table(section: str | None) -> str:
    """The table of one section's keys; ``None``: the top-level keys."""
    model = Settings if section is None else SECTIONS[section]
    return "\n".join(_HEADER + _rows(model, section))
