"""Settings: defaults < file < environment, and one error that names every bad field."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from modules.config.settings import (
    SettingsError,
    bucket_name_problem,
    env_var,
    load_settings,
    settings_table,
)
from tests.conftest import PROJECT_ROOT, settings_from


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "settings.toml"
    path.write_text(text)
    return path


def problems_of(env: dict[str, str] | None = None, file: Path | None = None) -> list[str]:
    with pytest.raises(SettingsError) as info:
        load_settings(environ=env or {}, settings_file=file)
    return info.value.problems


def test_embedded_defaults_are_valid_and_multi_az() -> None:
    s = settings_from()
    assert (s.project, s.environment, s.region) == ("resilient-ai", "dev", "us-east-1")
    assert s.az_count >= 2, "fault tolerance needs at least two AZs by default"
    assert s.vpc_cidr == "10.0.0.0/16"
    assert s.alarm_email == "" and s.emulator_endpoint == "" and not s.emulated
    assert s.state.bucket == "resilient-ai-dev-tfstate-us-east-1"
    assert s.state.key_prefix == "resilient-ai" and s.state.bootstrap_backend == "local"
    assert dict(s.tags) == {}


def test_settings_are_frozen() -> None:
    s = settings_from()
    with pytest.raises(AttributeError):
        s.environment = "prod"  # type: ignore[misc]
    with pytest.raises(TypeError):
        s.tags["team"] = "x"  # type: ignore[index]


def test_file_overrides_defaults(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
project = "acme-ml"
environment = "staging"
az_count = 2
[state]
key_prefix = "acme/infra"
[tags]
team = "ml-platform"
""",
    )
    s = load_settings(environ={}, settings_file=path)
    assert (s.project, s.environment, s.az_count) == ("acme-ml", "staging", 2)
    assert s.state.key_prefix == "acme/infra"
    assert s.state.bucket == "acme-ml-staging-tfstate-us-east-1", "the bucket default follows project/env"
    assert dict(s.tags) == {"team": "ml-platform"}


def test_environment_overrides_file(tmp_path: Path) -> None:
    path = write(tmp_path, 'environment = "staging"\naz_count = 2\n[state]\nbucket = "from-file-bucket"\n')
    env = {"RAI_ENVIRONMENT": "prod", "RAI_STATE_BUCKET": "from-env-bucket", "RAI_TAGS": "team=ml, cost-center=42"}
    s = load_settings(environ=env, settings_file=path)
    assert s.environment == "prod"
    assert s.az_count == 2, "a key the environment does not set keeps the file's value"
    assert s.state.bucket == "from-env-bucket"
    assert dict(s.tags) == {"team": "ml", "cost-center": "42"}


def test_settings_file_from_environment_variable(tmp_path: Path) -> None:
    path = write(tmp_path, 'region = "eu-west-1"\n')
    s = load_settings(environ={"RAI_SETTINGS_FILE": str(path)})
    assert s.region == "eu-west-1"


def test_missing_settings_file_named_by_environment_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="not found"):
        load_settings(environ={"RAI_SETTINGS_FILE": str(tmp_path / "nope.toml")})


def test_environment_integers_and_booleans_are_parsed() -> None:
    s = settings_from({"RAI_AZ_COUNT": "4", "RAI_STATE_NONCURRENT_VERSION_EXPIRY_DAYS": "30"})
    assert s.az_count == 4 and s.state.noncurrent_version_expiry_days == 30


def test_every_bad_field_is_reported_at_once(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
az_count = 1
vpc_cidr = "10.0.0.0/33"
environment = "qa"
colour = "blue"
[state]
bucket = "Bad_Bucket"
""",
    )
    problems = problems_of({"RAI_REGION": "mars-1", "RAI_ALARM_EMAIL": "nobody"}, path)
    text = "\n".join(problems)
    for field_name in ("az_count", "vpc_cidr", "environment", "colour", "state.bucket", "region", "alarm_email"):
        assert field_name in text, f"{field_name} missing from:\n{text}"
    assert len(problems) == 7
    assert "from 2 to 6" in text and "'dev', 'staging', 'prod'" in text and "unknown setting" in text
    assert "RAI_REGION" in text, "an environment value names the variable it came from"


@pytest.mark.parametrize(
    ("env", "needle"),
    [
        ({"RAI_AZ_COUNT": "1"}, "az_count = 1 (from RAI_AZ_COUNT): must be an integer from 2 to 6"),
        ({"RAI_AZ_COUNT": "three"}, "az_count = 'three' (from RAI_AZ_COUNT): must be an integer"),
        ({"RAI_VPC_CIDR": "10.0.0.1/16"}, "vpc_cidr"),  # host bits set
        ({"RAI_VPC_CIDR": "10.0.0.0/8"}, "prefix from /16 to /24"),
        ({"RAI_ENVIRONMENT": "production"}, "one of 'dev', 'staging', 'prod'"),
        ({"RAI_STATE_BUCKET": "ab"}, "state.bucket"),
        ({"RAI_STATE_BUCKET": "192.168.1.1"}, "not an IP address"),
        ({"RAI_STATE_BOOTSTRAP_BACKEND": "gcs"}, "one of 'local', 's3'"),
        ({"RAI_STATE_KEY_PREFIX": "/leading"}, "no leading or trailing '/'"),
        ({"RAI_EMULATOR_ENDPOINT": "127.0.0.1:5000"}, "http(s)://host:port"),
        ({"RAI_TAGS": "project=other"}, "reserved"),
        ({"RAI_TAGS": "aws:owner=me"}, "not 'aws:'"),
        ({"RAI_TAGS": "novalue"}, "k=v,k2=v2"),
        ({"RAI_PROJECT": "Has_Upper"}, "lowercase letters"),
        ({"RAI_AZCOUNT": "2"}, "RAI_AZCOUNT: unknown setting"),
        ({"RAI_TOOLING_PROVIDER_MIRROR": "/does/not/exist"}, "existing directory"),
    ],
)
def test_each_validation_error_names_field_and_allowed_values(env: dict[str, str], needle: str) -> None:
    problems = problems_of(env)
    assert len(problems) == 1
    assert needle in problems[0]


def test_wrong_types_in_file_are_errors(tmp_path: Path) -> None:
    path = write(tmp_path, 'az_count = "3"\nalarm_email = 5\nstate = "bucket"\n[tags]\nteam = 1\n')
    text = "\n".join(problems_of(file=path))
    assert "az_count = '3': must be an integer" in text
    assert "alarm_email = 5: must be a string" in text
    assert "state: must be a table" in text
    assert "tags" in text


def test_invalid_toml_is_an_error(tmp_path: Path) -> None:
    assert "not valid TOML" in problems_of(file=write(tmp_path, "project = \n"))[0]


@pytest.mark.parametrize("name", ["my-state-bucket", "a.b.c", "abc", "x" * 63])
def test_bucket_names_aws_accepts(name: str) -> None:
    assert bucket_name_problem(name) is None


@pytest.mark.parametrize(
    "name", ["ab", "x" * 64, "My-Bucket", "-start", "end-", "a..b", "10.0.0.1", "xn--abc", "abc-s3alias", "a_b"]
)
def test_bucket_names_aws_rejects(name: str) -> None:
    assert bucket_name_problem(name) is not None


def test_env_var_names() -> None:
    assert env_var(None, "az_count") == "RAI_AZ_COUNT"
    assert env_var("state", "bucket") == "RAI_STATE_BUCKET"


def test_bad_settings_exit_non_zero_and_write_nothing(tmp_path: Path) -> None:
    """main.py with two bad values: exit 2, both named, no cdktf.out at all."""
    outdir = tmp_path / "out"
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAI_")}
    env.update({"RAI_AZ_COUNT": "1", "RAI_ENVIRONMENT": "qa", "CDKTF_OUTDIR": str(outdir)})
    proc = subprocess.run(
        [sys.executable, "main.py"], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 2
    assert "az_count" in proc.stderr and "environment" in proc.stderr
    assert not outdir.exists(), "no partial output"


def test_readme_configuration_table_is_current() -> None:
    readme = (PROJECT_ROOT / "README.md").read_text()
    assert settings_table() in readme, "README configuration table is stale: run `make settings-table`"
