"""How a refused setting is worded: the field, its value, where the value came from, and what
is allowed. Generic over the settings root: it reads the model's fields, not their meaning."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal, get_args, get_origin

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from modules.config.sources import Load, did_you_mean

_PHRASES = {
    "int_type": "an integer",
    "string_type": "a string",
    "bool_type": "true or false",
    "tuple_type": "a list (a TOML array, or comma-separated)",
    "dict_type": "a table",
    "mapping_type": "a table",
}


def describe(annotation: Any) -> str:
    """What a field of this type accepts, in words."""
    origin = get_origin(annotation)
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in get_args(annotation))
    if origin is tuple:
        item = get_args(annotation)[0]
        item = get_args(item)[0] if get_origin(item) is Annotated else item
        return f"a list of {'integers' if item is int else 'strings'}: a TOML array, or comma-separated"
    if origin is not None:  # Mapping[str, X]
        value = get_args(annotation)[1]
        value = get_args(value)[0] if get_origin(value) is Annotated else value
        return f"a table of string keys to {'integer' if value is int else 'string'} values"
    return {bool: "true or false", int: "an integer", float: "a number", str: "a string"}.get(
        annotation, str(annotation)
    )


class Wording:
    """The problems of one failed validation of ``root``, whose sections are ``sections``."""

    def __init__(self, root: type[BaseModel], sections: Mapping[str, type[BaseModel]]) -> None:
        self.root = root
        self.sections = sections

    def problems(self, exc: ValidationError, load: Load) -> list[str]:
        return [line for error in exc.errors() for line in self._problem(error, load)]

    def rules_beside_bad_fields(self, exc: ValidationError, load: Load) -> list[str]:
        """A section's rules across fields, checked on its valid fields (defaults for the bad
        ones): pydantic runs a model validator only when every field is valid, but one error
        should still name every problem."""
        bad: dict[str, set[str]] = {}
        for error in exc.errors():
            if len(error["loc"]) >= 2 and error["loc"][0] in self.sections:
                bad.setdefault(str(error["loc"][0]), set()).add(str(error["loc"][1]))
        out: list[str] = []
        for section, keys in bad.items():
            valid = {k: v for k, v in load.section_input(section).items() if k not in keys}
            try:
                self.sections[section].model_validate(valid)
            except ValidationError as again:
                out += [
                    line
                    for e in again.errors()
                    if not e["loc"]
                    for line in str((e.get("ctx") or {})["error"]).splitlines()
                ]
        return out

    def _field(self, loc: tuple[str, ...]) -> Any:
        """The FieldInfo at ``loc`` (a top-level key, or section and key), or None."""
        if loc[0] in self.sections:
            if len(loc) > 1:
                return self.sections[loc[0]].model_fields.get(loc[1])
            return self.root.model_fields[loc[0]]
        return self.root.model_fields.get(loc[0])

    def _problem(self, error: ErrorDetails, load: Load) -> list[str]:
        loc = tuple(str(p) for p in error["loc"])
        ctx = error.get("ctx") or {}
        if not loc or (loc[0] in self.sections and len(loc) == 1 and error["type"] == "value_error"):
            return str(ctx["error"]).splitlines()  # a rule across fields: its message names them
        name = ".".join(loc)
        at = loc[:2] if loc[0] in self.sections else loc[:1]
        origin = load.origins.get(at)
        source = f" (from {origin})" if origin else " (default)"
        if error["type"] == "extra_forbidden":
            known = self.sections[loc[0]].model_fields if len(loc) == 2 else self.root.model_fields
            return [f"{name}{source}: unknown setting{did_you_mean(loc[-1], known)}"]
        if loc[0] in self.sections and len(loc) == 1:
            return [f"{name} = {error['input']!r}{source}: must be a table ([{name}])"]
        if error["type"] == "value_error":
            allowed = str(ctx["error"])
        elif (info := self._field(loc)) is not None and len(loc) == len(at):
            allowed = describe(info.annotation)
        else:
            allowed = _PHRASES.get(error["type"], error["msg"])
        return [f"{name} = {_show(error['input'])}{source}: must be {allowed}"]


def _show(value: object) -> str:
    if isinstance(value, Mapping):
        return repr(dict(value))
    return repr(value)
