"""Environments: named settings files, and what each environment keeps apart on disk.

An environment is ``environments/<name>.toml``; ``RAI_ENV=<name>`` (what ``make <target>
ENV=<name>`` sets) selects that file instead of ``settings.toml`` and names the environment
after it. The file may leave ``environment`` out or say its own name; ``RAI_ENVIRONMENT``
still sets the name on its own (then ``settings.toml`` or ``RAI_SETTINGS_FILE`` is read, as
before).

What differs per environment on disk (every other name carries the environment already):

* the synth output: ``cdktf.out`` for the default environment (``dev``), ``cdktf.out.<name>``
  for any other, so a plan never mixes two environments (:func:`synth_outdir`);
* the local state of a stack with local state (the bootstrap ``state`` stack):
  ``terraform.<stack>.tfstate`` for ``dev``, ``terraform.<name>.<stack>.tfstate`` for any other
  (:func:`local_state_file`).

The default environment keeps the paths it had before environments existed.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import TypeAdapter, ValidationError

from modules.config.checks import EnvironmentName
from modules.config.sources import DEFAULT_SETTINGS_FILE, ENV_SELECT, SETTINGS_FILE_ENV, env_var
from modules.core.paths import PROJECT_ROOT

ENVIRONMENTS_DIR = PROJECT_ROOT / "environments"
# The environment of a run that names none: its paths are those from before environments.
DEFAULT_ENVIRONMENT = "dev"
SYNTH_OUTDIR = "cdktf.out"


def known_environments(directory: Path | None = None) -> list[str]:
    """The names of the environment files in ``directory`` (default ``environments/``), sorted."""
    return sorted(p.stem for p in (directory or ENVIRONMENTS_DIR).glob("*.toml") if p.is_file())


@dataclass(frozen=True)
class FileChoice:
    """Which settings file a load reads, the environment it names (if selected by ``RAI_ENV``),
    and why the choice itself is refused."""

    path: Path | None
    environment: str | None = None
    problems: list[str] = field(default_factory=list)


def choose_settings_file(environ: Mapping[str, str], directory: Path | None = None) -> FileChoice:
    """``RAI_ENV``'s environment file (in ``directory``, default ``environments/``), else
    ``RAI_SETTINGS_FILE``, else ``settings.toml`` if present."""
    directory = directory or ENVIRONMENTS_DIR
    name = environ.get(ENV_SELECT) or None  # empty (`make synth ENV=`): no environment file
    if name is None:
        if SETTINGS_FILE_ENV in environ:
            return FileChoice(Path(environ[SETTINGS_FILE_ENV]))
        return FileChoice(DEFAULT_SETTINGS_FILE if DEFAULT_SETTINGS_FILE.is_file() else None)
    problems = []
    if SETTINGS_FILE_ENV in environ:
        problems.append(
            f"{ENV_SELECT}={name} (make's ENV=) and {SETTINGS_FILE_ENV}={environ[SETTINGS_FILE_ENV]}: "
            "both choose the settings file; give one"
        )
    given = environ.get(env_var(None, "environment"))
    if given is not None and given != name:
        problems.append(
            f"{env_var(None, 'environment')}={given} and {ENV_SELECT}={name} (make's ENV=): "
            "two names for one environment; give one"
        )
    try:
        TypeAdapter(EnvironmentName).validate_python(name)
    except ValidationError:
        problems.append(
            f"{ENV_SELECT}={name!r} (make's ENV=): not an environment name (1-10 characters: lowercase "
            f"letters, digits and '-', starting with a letter); known: {_listing(directory)}"
        )
        return FileChoice(None, None, problems)
    path = directory / f"{name}.toml"
    if not path.is_file():
        problems.append(f"{ENV_SELECT}={name} (make's ENV=): no file {_shown(path)}; known: {_listing(directory)}")
        return FileChoice(None, None, problems)
    return FileChoice(path, name, problems)


def synth_outdir(environment: str) -> Path:
    """Where ``environment`` is synthesized: ``cdktf.out`` for the default one, else ``cdktf.out.<name>``."""
    name = SYNTH_OUTDIR if environment == DEFAULT_ENVIRONMENT else f"{SYNTH_OUTDIR}.{environment}"
    return PROJECT_ROOT / name


def chosen_outdir(environment: str, environ: Mapping[str, str] | None = None) -> Path:
    """Where a synth of ``environment`` goes and is read: ``CDKTF_OUTDIR`` when set (how `cdktf
    synth` tells the app where to write), else :func:`synth_outdir`."""
    given = (os.environ if environ is None else environ).get("CDKTF_OUTDIR")
    return Path(given) if given else synth_outdir(environment)


def local_state_file(environment: str, stack: str) -> Path:
    """The local state of ``stack`` in ``environment``, in the project root (never in the synth output)."""
    middle = stack if environment == DEFAULT_ENVIRONMENT else f"{environment}.{stack}"
    return PROJECT_ROOT / f"terraform.{middle}.tfstate"


def _listing(directory: Path) -> str:
    names = known_environments(directory)
    return f"{', '.join(names)} ({_shown(directory)}/*.toml)" if names else f"none ({_shown(directory)}/ has no .toml)"


def _shown(path: Path) -> str:
    return str(path.relative_to(PROJECT_ROOT)) if path.is_relative_to(PROJECT_ROOT) else str(path)


def outdir_problem(environment: str, outdir: Path) -> str | None:
    """Why ``outdir`` must not receive a synth of ``environment``: it is another environment's
    (``cdktf.out*`` in the project root), as when the cdktf CLI runs without ``--output``."""
    own = synth_outdir(environment)
    resolved = outdir.resolve()
    if resolved == own or resolved.parent != PROJECT_ROOT or not resolved.name.startswith(SYNTH_OUTDIR):
        return None
    return (
        f"environment {environment} synthesizes into {own.name}/, not {resolved.name}/ (another environment's); "
        f"with the cdktf CLI add `--output {own.name}` (make deploy/plan/destroy ENV={environment} do)"
    )
