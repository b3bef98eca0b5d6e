"""Environments are named settings files: ``RAI_ENV`` (make's ``ENV=``) selects
``environments/<name>.toml`` and names the environment; each environment has its own synth
output and local state path; bad choices are refused with the known environments listed."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from modules.config import SettingsError, load_settings
from modules.config import environments as envs
from modules.config.environments import (
    DEFAULT_ENVIRONMENT,
    known_environments,
    local_state_file,
    outdir_problem,
    synth_outdir,
)
from tests.conftest import PROD_ALARMS, PROJECT_ROOT


@pytest.fixture
def env_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An environments/ folder of the test's own with `dev` and `qa-2`."""
    folder = tmp_path / "environments"
    folder.mkdir()
    (folder / "dev.toml").write_text("")
    (folder / "qa-2.toml").write_text('region = "eu-west-1"\nzone_ids = ["euw1-az1", "euw1-az2", "euw1-az3"]\n')
    monkeypatch.setattr(envs, "ENVIRONMENTS_DIR", folder)
    return folder


def refused(environ: dict[str, str]) -> str:
    with pytest.raises(SettingsError) as exc:
        load_settings(environ=environ)
    return str(exc.value)


def test_env_selects_its_file_and_names_the_environment(env_dir: Path) -> None:
    settings = load_settings(environ={"RAI_ENV": "qa-2"})
    assert (settings.environment, settings.region) == ("qa-2", "eu-west-1")
    assert settings.name_prefix == "resilient-ai-qa-2"
    assert settings.state.bucket == "resilient-ai-qa-2-tfstate-eu-west-1"


def test_environment_variables_still_win_over_the_environment_file(env_dir: Path) -> None:
    settings = load_settings(environ={"RAI_ENV": "qa-2", "RAI_AZ_COUNT": "2", "RAI_ENVIRONMENT": "qa-2"})
    assert (settings.az_count, settings.region, settings.environment) == (2, "eu-west-1", "qa-2")


def test_an_unknown_environment_is_refused_listing_the_known_ones(env_dir: Path) -> None:
    message = refused({"RAI_ENV": "prod"})
    assert "RAI_ENV=prod" in message and "no file" in message and "prod.toml" in message
    assert "known: dev, qa-2" in message
    assert "not an environment name" in refused({"RAI_ENV": "../settings"}), "no path outside environments/"


def test_a_file_naming_another_environment_is_refused_naming_both(env_dir: Path) -> None:
    (env_dir / "staging.toml").write_text('environment = "prod"\n')
    message = refused({"RAI_ENV": "staging"})
    assert "environment = 'prod'" in message and "environment 'staging'" in message and "staging.toml" in message
    (env_dir / "staging.toml").write_text('environment = "staging"\n')
    assert load_settings(environ={"RAI_ENV": "staging"}).environment == "staging", "its own name is allowed"


def test_env_and_another_choice_of_file_or_name_is_refused(env_dir: Path, tmp_path: Path) -> None:
    message = refused({"RAI_ENV": "dev", "RAI_SETTINGS_FILE": str(tmp_path / "x.toml")})
    assert "RAI_ENV=dev" in message and "RAI_SETTINGS_FILE" in message and "give one" in message
    message = refused({"RAI_ENV": "dev", "RAI_ENVIRONMENT": "prod"})
    assert "RAI_ENVIRONMENT=prod and RAI_ENV=dev" in message


def test_without_env_the_old_ways_still_work(env_dir: Path, tmp_path: Path) -> None:
    assert load_settings(environ={"RAI_ENVIRONMENT": "prod", **PROD_ALARMS}).environment == "prod"
    empty = {"RAI_ENV": "", "RAI_ENVIRONMENT": "prod", **PROD_ALARMS}
    assert load_settings(environ=empty).environment == "prod", "empty: none"
    file = tmp_path / "mine.toml"
    file.write_text('environment = "staging"\n')
    assert load_settings(environ={"RAI_SETTINGS_FILE": str(file)}).environment == "staging"


def test_the_committed_environment_files_are_valid() -> None:
    assert {"dev", "prod"} <= set(known_environments())
    dev = load_settings(environ={"RAI_ENV": "dev"})
    # prod.toml leaves its alarm destination to the team: until it names one, prod is refused.
    assert "alarms: a protected environment must send its alarms somewhere" in refused({"RAI_ENV": "prod"})
    prod = load_settings(environ={"RAI_ENV": "prod", **PROD_ALARMS})
    assert dev == load_settings(environ={}, settings_file=None), "ENV=dev is the default synth"
    assert (prod.environment, prod.is_protected, dev.is_protected) == ("prod", True, False)


def test_each_environment_has_its_own_synth_output_and_local_state_and_dev_keeps_its_paths() -> None:
    assert DEFAULT_ENVIRONMENT == "dev"
    assert synth_outdir("dev") == PROJECT_ROOT / "cdktf.out"
    assert synth_outdir("prod") == PROJECT_ROOT / "cdktf.out.prod"
    assert local_state_file("dev", "state") == PROJECT_ROOT / "terraform.state.tfstate"
    assert local_state_file("prod", "state") == PROJECT_ROOT / "terraform.prod.state.tfstate"


def test_a_synth_into_another_environments_output_is_refused(tmp_path: Path) -> None:
    """The cdktf CLI without --output hands every environment cdktf.out."""
    problem = outdir_problem("prod", PROJECT_ROOT / "cdktf.out")
    assert problem is not None and "--output cdktf.out.prod" in problem
    assert outdir_problem("dev", PROJECT_ROOT / "cdktf.out.prod") is not None
    assert outdir_problem("prod", PROJECT_ROOT / "cdktf.out.prod") is None
    assert outdir_problem("prod", tmp_path / "cdktf.out") is None, "a directory of one's own is anyone's"


def test_the_app_refuses_to_write_prod_into_devs_output_and_writes_nothing(tmp_path: Path) -> None:
    """`RAI_ENV=prod npx cdktf synth` (the CLI's default --output, cdktf.out) and an unknown
    environment both stop main.py before jsii starts, with nothing written."""
    import os
    import sys

    base = {k: v for k, v in os.environ.items() if not k.startswith(("RAI_", "CDKTF_"))}
    before = sorted(PROJECT_ROOT.glob("*cdktf.out*"))
    runs = {
        "other's output": {"RAI_ENV": "prod", "CDKTF_OUTDIR": str(PROJECT_ROOT / "cdktf.out"), **PROD_ALARMS},
        "unknown": {"RAI_ENV": "nope", "CDKTF_OUTDIR": str(tmp_path / "out")},
    }
    errors = {}
    for case, env in runs.items():
        proc = subprocess.run(
            [sys.executable, "main.py"], cwd=PROJECT_ROOT, env={**base, **env}, capture_output=True, text=True
        )
        assert proc.returncode == 2, (case, proc.stderr)
        errors[case] = proc.stderr
    assert "--output cdktf.out.prod" in errors["other's output"]
    assert "RAI_ENV=nope" in errors["unknown"] and "known: dev, prod" in errors["unknown"]
    assert not (tmp_path / "out").exists()
    assert sorted(PROJECT_ROOT.glob("*cdktf.out*")) == before


def test_make_passes_env_from_its_command_line_only(tmp_path: Path) -> None:
    show = tmp_path / "show.mk"
    show.write_text('show-env:\n\t@echo "[$$RAI_ENV]"\n')

    def make(*args: str, env: dict[str, str] | None = None) -> str:
        cmd = ["make", "-s", "-f", "Makefile", "-f", str(show), "show-env", *args]
        return subprocess.run(cmd, cwd=PROJECT_ROOT, capture_output=True, text=True, env=env, check=True).stdout

    assert make("ENV=prod").strip() == "[prod]"
    assert make("ENV=").strip() == "[]", "an empty ENV= is none"
    assert make(env={"PATH": "/usr/bin:/bin", "ENV": "/root/.shrc"}).strip() == "[]", "a shell's own ENV is not ours"
