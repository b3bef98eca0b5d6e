"""Where settings come from: the TOML file and the ``RAI_`` environment variables.

Both are pydantic-settings sources that hand the raw values on unvalidated, and note
where each value came from (so an error can name the file or the variable), every
problem that stops a source from being read at all, and every old name of a setting
(:mod:`modules.config.renamed`) they read, with the setting it became.
"""

from __future__ import annotations

import re
import sys
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource

from modules.config.renamed import RENAMED
from modules.core.aws_catalogue import did_you_mean as did_you_mean
from modules.core.paths import PROJECT_ROOT

ENV_PREFIX = "RAI_"
SETTINGS_FILE_ENV = f"{ENV_PREFIX}SETTINGS_FILE"
# Selects the environment file environments/<name>.toml (modules/config/environments.py); make's ENV= sets it.
ENV_SELECT = f"{ENV_PREFIX}ENV"
DEFAULT_SETTINGS_FILE = PROJECT_ROOT / "settings.toml"
_TRUE, _FALSE = ("true", "1", "yes"), ("false", "0", "no")


def env_var(section: str | None, key: str) -> str:
    """The environment variable that sets ``[section].key`` (or a top-level key)."""
    return ENV_PREFIX + (f"{section}_{key}" if section else key).upper()


def sections(settings_cls: type[BaseModel]) -> dict[str, type[BaseModel]]:
    """The section models of ``settings_cls`` by name, in declaration order."""
    out: dict[str, type[BaseModel]] = {}
    for name, info in settings_cls.model_fields.items():
        if isinstance(info.annotation, type) and issubclass(info.annotation, BaseModel):
            out[name] = info.annotation
    return out


def env_names(settings_cls: type[BaseModel]) -> dict[str, tuple[tuple[str, ...], FieldInfo]]:
    """Every ``RAI_`` variable name -> (where it goes, its field)."""
    parts = sections(settings_cls)
    known: dict[str, tuple[tuple[str, ...], FieldInfo]] = {}
    for name, info in settings_cls.model_fields.items():
        if name not in parts:
            known[env_var(None, name)] = ((name,), info)
    for section, model in parts.items():
        for name, info in model.model_fields.items():
            known[env_var(section, name)] = ((section, name), info)
    return known


@dataclass
class Load:
    """One call of ``load_settings``: its inputs, and what the sources found."""

    environ: Mapping[str, str]
    settings_file: Path | None
    file_named_by_env: bool = False
    environment: str | None = None  # the environment whose file `settings_file` is (selected by RAI_ENV)
    problems: list[str] = field(default_factory=list)
    # field path -> where its value came from: the file (or its old name there), the variable
    file_origins: dict[tuple[str, ...], str] = field(default_factory=dict)
    env_origins: dict[tuple[str, ...], str] = field(default_factory=dict)
    file_data: dict[str, Any] = field(default_factory=dict)
    env_data: dict[str, Any] = field(default_factory=dict)
    deprecations: list[str] = field(default_factory=list)  # an old name was read: which, and the new one
    # (section, key) of a renamed setting -> where it was given under its old name, under its new one
    by_old_name: dict[tuple[str, str], str] = field(default_factory=dict)
    by_new_name: dict[tuple[str, str], str] = field(default_factory=dict)

    @property
    def origins(self) -> dict[tuple[str, ...], str]:
        """Where each given value came from: the environment's over the file's, as the values are
        (whichever source pydantic-settings happens to read last)."""
        return {**self.file_origins, **self.env_origins}

    def all_problems(self) -> list[str]:
        """The sources' problems, and every setting given under both its old and its new name."""
        both = [
            f"{self.by_old_name[path]} and {self.by_new_name[path]}: the same setting under its old and its new "
            f"name; give only {'.'.join(path)}"
            for path in self.by_new_name
            if path in self.by_old_name
        ]
        return self.problems + both

    def warn_of_old_names(self) -> None:
        """Each old name read, on stderr (a warning: the setting works as before)."""
        for line in self.deprecations:
            print(f"settings: {line}", file=sys.stderr)

    def section_input(self, section: str) -> dict[str, Any]:
        """The raw values of ``[section]``, the environment's over the file's."""
        merged: dict[str, Any] = {}
        for layer in (self.file_data.get(section), self.env_data.get(section)):
            merged.update(layer if isinstance(layer, dict) else {})
        return merged


class TomlFileSource(PydanticBaseSettingsSource):
    """The TOML settings file, if there is one."""

    def __init__(self, settings_cls: type[BaseSettings], load: Load) -> None:
        super().__init__(settings_cls)
        self.load = load

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # __call__ reads the whole file at once

    def __call__(self) -> dict[str, Any]:
        path = self.load.settings_file
        if path is None:
            return {}
        try:
            with path.open("rb") as fh:
                data = tomllib.load(fh)
        except FileNotFoundError:
            self.load.problems.append(f"settings file {path}: not found (from {SETTINGS_FILE_ENV})")
            return {}
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            self.load.problems.append(f"settings file {path}: not valid TOML ({exc})")
            return {}
        for key, value in data.items():
            self.load.file_origins[(key,)] = str(path)
            for sub in value if isinstance(value, dict) and key in sections(self.settings_cls) else ():
                self.load.file_origins[(key, sub)] = str(path)
        if self.load.environment is not None:
            _name_the_environment(data, self.load, path, self.load.environment)
        move_renamed(data, self.load, str(path))
        self.load.file_data = data
        return data


class EnvSource(PydanticBaseSettingsSource):
    """``RAI_<KEY>`` and ``RAI_<SECTION>_<KEY>``; integers and booleans are converted from text
    here (lists and tables by their field types), an unknown ``RAI_`` name is a problem."""

    def __init__(self, settings_cls: type[BaseSettings], load: Load) -> None:
        super().__init__(settings_cls)
        self.load = load

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # __call__ reads every variable at once

    def __call__(self) -> dict[str, Any]:
        known = env_names(self.settings_cls) | old_env_names(self.settings_cls)
        out: dict[str, Any] = {}
        for name, text in self.load.environ.items():
            if not name.startswith(ENV_PREFIX) or name in (SETTINGS_FILE_ENV, ENV_SELECT):
                continue
            if name not in known:
                self.load.problems.append(f"{name}: unknown setting{did_you_mean(name, known)}")
                continue
            path, info = known[name]
            target = out.setdefault(path[0], {}) if len(path) == 2 and path[0] else out
            target[path[-1]] = _from_text(info.annotation, text)
            self.load.env_origins[path] = name
        move_renamed(out, self.load, None)
        self.load.env_data = out
        return out


def _name_the_environment(data: dict[str, Any], load: Load, path: Path, name: str) -> None:
    """The file of environment ``name`` sets ``environment`` to its name; a file saying another is refused."""
    said = data.get("environment")
    if said is not None and said != name:
        load.problems.append(
            f"environment = {said!r} in {path}: the file of environment {name!r} names another; an environment "
            "file says its own name or none (rename the file, or change the value)"
        )
        return
    data["environment"] = name
    load.file_origins[("environment",)] = f"{path} (its name)"


def old_env_names(settings_cls: type[BaseModel]) -> dict[str, tuple[tuple[str, ...], FieldInfo]]:
    """Every old ``RAI_`` variable name -> (its old place, the field of the setting it became)."""
    parts = sections(settings_cls)
    return {env_var(*entry.old): (entry.old, parts[entry.new[0][0]].model_fields[entry.new[0][1]]) for entry in RENAMED}


def _name(path: tuple[str, str], file: str | None) -> str:
    """How a source names a setting: its variable, or its key and the file."""
    return env_var(*path) if file is None else f"{'.'.join(p for p in path if p)} in {file}"


def move_renamed(data: dict[str, Any], load: Load, file: str | None) -> None:
    """Each value in ``data`` (one source's: the file's, or the environment's when ``file`` is
    None) given under an old name moves to the setting(s) it became, with a deprecation message."""
    for entry in RENAMED:
        for new in entry.new:
            if isinstance(data.get(new[0]), dict) and new[1] in data[new[0]]:
                load.by_new_name[new] = _name(new, file)
        old = data.get(entry.old[0]) if entry.old[0] else data  # "": a top-level key
        if not isinstance(old, dict) or entry.old[1] not in old:
            continue
        if any(not isinstance(data.get(section, {}), dict) for section, _ in entry.new):
            continue  # `[section]` is no table: that is the error to report, not this name
        value = old.pop(entry.old[1])
        where = _name(entry.old, file)
        uses = " and ".join(_name(new, file) if file is None else ".".join(new) for new in entry.new)
        load.deprecations.append(f"{where}: deprecated, use {uses} (the old name will be removed)")
        for new in entry.new:
            data.setdefault(new[0], {})[new[1]] = value
            load.by_old_name[new] = where
            if file is None:
                load.env_origins[new] = where
            else:
                load.file_origins[new] = f"{file}, as {entry.old_name}"


def _from_text(annotation: object, text: str) -> object:
    """An environment string as the integer or boolean its field wants, when it reads as one
    (else as is, so that validation names the field and the text)."""
    if annotation is bool:
        low = text.strip().lower()
        return True if low in _TRUE else False if low in _FALSE else text
    if annotation is int and re.fullmatch(r"-?\d+", text.strip()):
        return int(text)
    return text
