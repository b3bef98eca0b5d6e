"""How a block's props dataclass checks its fields with the same rules as the settings
(:mod:`modules.core.input_rules`): :func:`field_problems` in ``__post_init__`` checks every
field annotated with a rule, and names each problem as ``<field>=<value>: must be <allowed>``."""

from __future__ import annotations

import dataclasses
from functools import cache
from typing import Annotated, Any, get_args, get_origin, get_type_hints

from pydantic import TypeAdapter, ValidationError

_ADAPTERS: dict[type, dict[str, TypeAdapter[Any]]] = {}


def _adapters(cls: type) -> dict[str, TypeAdapter[Any]]:
    """A validator for each field of the dataclass ``cls`` whose type carries a rule (built once per class)."""
    if cls not in _ADAPTERS:
        hints = get_type_hints(cls, include_extras=True)
        fields = dataclasses.fields(cls)
        _ADAPTERS[cls] = {f.name: _adapter(hints[f.name]) for f in fields if _carries_rule(hints[f.name])}
    return _ADAPTERS[cls]


@cache
def _adapter(annotation: Any) -> TypeAdapter[Any]:
    return TypeAdapter(annotation)


def _carries_rule(hint: Any) -> bool:
    return get_origin(hint) is Annotated or any(get_origin(arg) is Annotated for arg in get_args(hint))


_TYPE_PHRASES = {"int_type": "an integer", "string_type": "a string", "tuple_type": "a tuple"}


def _problem(adapter: TypeAdapter[Any], value: object) -> str | None:
    try:
        adapter.validate_python(value)
    except ValidationError as exc:
        error = exc.errors()[0]
        if error["type"] == "value_error":
            return str((error.get("ctx") or {})["error"])
        return _TYPE_PHRASES.get(error["type"], error["msg"])
    return None


def problem(rule: Any, value: object) -> str | None:
    """What ``rule`` (one of the types above) allows, when it refuses ``value``; else None."""
    return _problem(_adapter(rule), value)


def field_problems(props: object) -> list[str]:
    """``<field>=<value>: must be <what is allowed>`` for each field of the dataclass
    ``props`` whose value its annotated rule refuses (the same rule as the setting's)."""
    found = (
        (name, getattr(props, name), _problem(adapter, getattr(props, name)))
        for name, adapter in _adapters(type(props)).items()
    )
    return [f"{name}={value!r}: must be {allowed}" for name, value, allowed in found if allowed]
