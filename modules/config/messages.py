"""How a refused setting is worded: the field, its value, where the value came from, and what
is allowed. Generic over the settings root: it reads the model's fields, not their meaning."""

from __future__ import annotations

import re
from collections.abc import Mapping
from types import UnionType
from typing import Annotated, Any, Literal, Union, get_args, get_origin

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
    if origin in (Union, UnionType):  # X | None: unset means the documented fallback
        given = [a for a in get_args(annotation) if a is not type(None)]
        return " or ".join(describe(a) for a in given) + ", or unset"
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
        """One line per problem: a value given under an old name that became several settings
        (:mod:`modules.config.renamed`) is one problem, named once with every setting it set."""
        lines = [line for error in exc.errors() for line in self._problem(error, load)]
        renamed = {f" (from {origin})" for path, origin in load.origins.items() if path in load.by_old_name}
        merged: dict[str, list[str]] = {}  # the line (after the name, if renamed) -> the names; a repeat is one
        for line in lines:
            name, sep, rest = line.partition(" = ")
            key = sep + rest if sep and any(origin in rest for origin in renamed) else line
            merged.setdefault(key, []).append(name)
        return [" and ".join(names) + key if key.startswith(" = ") else key for key, names in merged.items()]

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

    def with_sources(self, lines: list[str], load: Load) -> list[str]:
        """Each line with the source of the setting it is about (its first name, ``name = value``
        or ``name:``), and of each other setting it cites with the value given for it."""
        return [self._sourced(line, load) for line in lines]

    def _sourced(self, line: str, load: Load) -> str:
        out, done = [], 0
        for match in _NAMED.finditer(line):
            path = tuple(match.group(1).split("."))
            if not self._is_setting(path) or line[match.end() :].startswith((" (from ", " (default")):
                continue
            origin = load.origins.get(path)
            value = _given(load, path) if origin else self._field(path).default
            leading = _LEADING.fullmatch(line[: match.start()])
            if not leading and not _shown_as_given(match.group(2), value):
                continue  # a value the rule asks for, not one the setting has: no source to name
            out += [line[done : match.end()], f" (from {origin})" if origin else " (default)"]
            done = match.end()
        return "".join(out) + line[done:]

    def _is_setting(self, path: tuple[str, ...]) -> bool:
        if len(path) == 1:
            return path[0] in self.root.model_fields and path[0] not in self.sections
        return len(path) == 2 and path[0] in self.sections and path[1] in self.sections[path[0]].model_fields

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
            return self.with_sources(str(ctx["error"]).splitlines(), load)  # a rule across fields names them
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


# A setting's dotted name, and the value a rule's message shows for it: `name = value` or `name:`.
_NAMED = re.compile(
    r"(?<![\w.])([a-z][a-z0-9_]*(?:\.[a-z][a-z0-9_]*)?)(?: = ('[^']*'|\([^)]*\)|[^\s;:()]+?))?(?=[:;,)]?(?:\s|$)|:)"
)

# What may come before a name the line is about: nothing, or other such names ("a.b, c.d: ...").
_LEADING = re.compile(r"(?:[a-z][a-z0-9_.]*, )*")


def _given(load: Load, path: tuple[str, ...]) -> object:
    if len(path) == 2:
        return load.section_input(path[0]).get(path[1])
    return {**load.file_data, **load.env_data}.get(path[0])


def _shown_as_given(shown: str | None, given: object) -> bool:
    """Whether a message shows the value as it was given (then it is the value given, not one asked for)."""
    if shown is None or given is None:
        return False
    forms = {str(given), repr(given)}
    if isinstance(given, list | tuple):
        forms |= {",".join(map(str, given)), repr(tuple(given))}
    return shown in forms


def _show(value: object) -> str:
    if isinstance(value, Mapping):
        return repr(dict(value))
    return repr(value)
