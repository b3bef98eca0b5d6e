"""The README configuration table, generated from the models so that it never drifts."""

from __future__ import annotations

import json
from collections.abc import Mapping

from pydantic import BaseModel

from modules.config.settings import SECTIONS, Settings, describe
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


def settings_table() -> str:
    """The README configuration table: every key, its variable, default and meaning."""
    rows = ["| setting (TOML) | environment variable | default | what it does |", "|---|---|---|---|"]
    rows += _rows(Settings, None)
    for section, model in SECTIONS.items():
        rows += _rows(model, section)
    return "\n".join(rows)
