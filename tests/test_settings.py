"""Settings: defaults < file < environment, and one error that names every bad field."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from modules.architectures.stream_analytics.settings import StreamSettings
from modules.architectures.target_groups.settings import TargetGroupsSettings
from modules.config import SettingsError, env_var, load_settings, settings_table
from modules.config.settings import SECTIONS
from modules.config.table import section_table
from modules.core.names import bucket_name_problem
from tests.conftest import PROD_ALARMS, PROJECT_ROOT, settings_from


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
    assert s.alarms.emails == () and s.emulator_endpoint == "" and not s.emulated
    assert s.state.bucket == "resilient-ai-dev-tfstate-us-east-1"
    assert s.state.key_prefix == "resilient-ai" and s.state.bootstrap_backend == "local"
    assert dict(s.tags) == {}


def test_settings_are_frozen() -> None:
    s = settings_from()
    with pytest.raises(ValidationError, match="frozen"):
        s.environment = "prod"
    with pytest.raises(ValidationError, match="frozen"):
        s.state.bucket = "other"
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
    env |= PROD_ALARMS
    s = load_settings(environ=env, settings_file=path)
    assert s.environment == "prod"
    assert s.az_count == 2, "a key the environment does not set keeps the file's value"
    assert s.state.bucket == "from-env-bucket"
    assert dict(s.tags) == {"team": "ml", "cost-center": "42"}


def test_settings_file_from_environment_variable(tmp_path: Path) -> None:
    path = write(tmp_path, 'region = "eu-west-1"\nzone_ids = ["euw1-az1", "euw1-az2", "euw1-az3"]\n')
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
environment = "QA"
colour = "blue"
[state]
bucket = "Bad_Bucket"
""",
    )
    problems = problems_of({"RAI_REGION": "mars-1", "RAI_ALARM_EMAIL": "nobody"}, path)
    text = "\n".join(problems)
    for field_name in ("az_count", "vpc_cidr", "environment", "colour", "state.bucket", "region", "alarms.emails"):
        assert field_name in text, f"{field_name} missing from:\n{text}"
    assert len(problems) == 7
    assert "from 2 to 6" in text and "lowercase letters" in text and "unknown setting" in text
    assert "RAI_REGION" in text, "an environment value names the variable it came from"


@pytest.mark.parametrize(
    ("env", "needle"),
    [
        ({"RAI_AZ_COUNT": "1"}, "az_count = 1 (from RAI_AZ_COUNT): must be an integer from 2 to 6"),
        ({"RAI_AZ_COUNT": "three"}, "az_count = 'three' (from RAI_AZ_COUNT): must be an integer"),
        ({"RAI_VPC_CIDR": "10.0.0.1/16"}, "vpc_cidr"),  # host bits set
        ({"RAI_VPC_CIDR": "10.0.0.0/8"}, "prefix from /16 to /24"),
        ({"RAI_ENVIRONMENT": "production-eu"}, "1-10 characters: lowercase letters"),
        ({"RAI_ENVIRONMENT": "qa_2"}, "(dev, staging, prod, qa-2)"),
        (
            {"RAI_ACCOUNT_ID": "12345678901"},
            "account_id = '12345678901' (from RAI_ACCOUNT_ID): must be empty (any account) or 12 digits",
        ),
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
        ({"RAI_TOOLING_STACKS": "state,Event_Processing"}, "a list of stack names"),
    ],
)
def test_each_validation_error_names_field_and_allowed_values(env: dict[str, str], needle: str) -> None:
    problems = problems_of(env)
    assert len(problems) == 1
    assert needle in problems[0]


def test_wrong_types_in_file_are_errors(tmp_path: Path) -> None:
    path = write(tmp_path, 'az_count = "3"\nalarm_email = 5\nstate = "bucket"\n[tags]\nteam = 1\n')
    text = "\n".join(problems_of(file=path))
    assert f"az_count = '3' (from {path}): must be an integer" in text, "a file value names the file"
    assert f"alarms.emails = 5 (from {path}, as alarm_email): must be a list of strings" in text
    assert f"state = 'bucket' (from {path}): must be a table ([state])" in text
    assert "tags.team = 1" in text


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
    env.update({"RAI_AZ_COUNT": "1", "RAI_ENVIRONMENT": "Qa", "CDKTF_OUTDIR": str(outdir)})
    proc = subprocess.run(
        [sys.executable, "main.py"], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 2
    assert "az_count" in proc.stderr and "environment" in proc.stderr
    assert not outdir.exists(), "no partial output"


def test_tooling_stacks_limits_what_main_py_builds(tmp_path: Path) -> None:
    """``tooling.stacks``: main.py (so `cdktf deploy '*'`) builds only those; an unknown name
    exits 2 and writes nothing."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAI_")}
    env |= {
        "RAI_TOOLING_STACKS": "state",
        "RAI_SETTINGS_FILE": str(write(tmp_path, "")),
        "CDKTF_OUTDIR": str(tmp_path / "out"),
    }
    run = [sys.executable, "main.py"]
    proc = subprocess.run(run, cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in (tmp_path / "out" / "stacks").iterdir()) == ["state"]
    env |= {"RAI_TOOLING_STACKS": "state,nope", "CDKTF_OUTDIR": str(tmp_path / "bad")}
    proc = subprocess.run(run, cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2 and "tooling.stacks: unknown stack(s) nope" in proc.stderr
    assert not (tmp_path / "bad").exists()


def test_settings_page_has_every_key_under_its_section() -> None:
    page = (PROJECT_ROOT / "docs" / "settings.md").read_text()
    for section in (None, *SECTIONS):
        assert section_table(section) in page, f"docs/settings.md [{section}] table is stale: run `make docs`"
    rows = settings_table().splitlines()[2:]
    assert all(row in page for row in rows), "every row of `make settings-table` is on the page"


def test_a_close_unknown_key_gets_a_suggestion(tmp_path: Path) -> None:
    path = write(tmp_path, 'az_cuont = 2\n[stream]\ninstance_type = "m5.large,m6i.large"\n')
    problems = problems_of({"RAI_STATE_BUKET": "my-bucket", "RAI_XYZZY": "1"}, path)
    assert "RAI_STATE_BUKET: unknown setting; did you mean `RAI_STATE_BUCKET`?" in problems
    assert f"az_cuont (from {path}): unknown setting; did you mean `az_count`?" in problems
    assert f"stream.instance_type (from {path}): unknown setting; did you mean `instance_types`?" in problems
    assert "RAI_XYZZY: unknown setting" in problems, "nothing close: no suggestion, and no list of every name"
    assert len(problems) == 4


@pytest.mark.parametrize(
    ("file_text", "env"),
    [
        ('[stream]\ninstance_types = ["m5.large", "m6i.large"]\n[load_balancer]\nallowed_cidrs = ["10.0.0.0/8"]\n', {}),
        ("", {"RAI_STREAM_INSTANCE_TYPES": " m5.large, m6i.large,", "RAI_LOAD_BALANCER_ALLOWED_CIDRS": "10.0.0.0/8"}),
        ('[stream]\ninstance_types = "m5.large,m6i.large"\n[load_balancer]\nallowed_cidrs = "10.0.0.0/8"\n', {}),
    ],
    ids=["toml-array", "env-string", "toml-string"],
)
def test_lists_are_parsed_once_into_tuples(tmp_path: Path, file_text: str, env: dict[str, str]) -> None:
    s = load_settings(environ=env, settings_file=write(tmp_path, file_text))
    assert s.section(StreamSettings).instance_types == ("m5.large", "m6i.large")
    assert s.load_balancer.allowed_cidrs == ("10.0.0.0/8",)


def test_list_and_table_defaults_are_typed() -> None:
    s = settings_from(
        {"RAI_NETWORK_INTERFACE_ENDPOINTS": "ecr.api,logs", "RAI_TARGET_GROUPS_WEIGHTS": "stable=70,canary=30"}
    )
    assert s.network.interface_endpoints == ("ecr.api", "logs")
    assert dict(s.section(TargetGroupsSettings).weights) == {"stable": 70, "canary": 30}
    d = settings_from()
    assert d.network.interface_endpoints == (), "empty means none"
    assert dict(d.section(TargetGroupsSettings).weights) == {"stable": 90, "canary": 10}
    with pytest.raises(TypeError):
        d.section(TargetGroupsSettings).weights["stable"] = 1  # type: ignore[index]


def test_one_error_lists_bad_fields_from_every_source(tmp_path: Path) -> None:
    path = write(tmp_path, 'region = "mars-1"\n[serving]\ncpu = 300\n[stream]\ninstance_types = ["m5.large"]\n')
    problems = problems_of({"RAI_AZ_COUNT": "9", "RAI_LOAD_BALANCER_ALLOWED_CIDRS": "10.0.0.1/8"}, path)
    assert len(problems) == 5
    text = "\n".join(problems)
    assert f"region = 'mars-1' (from {path}): must be an AWS region botocore knows:" in text
    assert f"serving.cpu = 300 (from {path}): must be one of the Fargate CPU units" in text
    assert f"stream.instance_types = ['m5.large'] (from {path}): must be at least 2 distinct" in text
    assert "az_count = 9 (from RAI_AZ_COUNT): must be an integer from 2 to 6" in text
    assert "load_balancer.allowed_cidrs = '10.0.0.1/8' (from RAI_LOAD_BALANCER_ALLOWED_CIDRS)" in text


def test_python_m_modules_config_prints_the_table_and_the_settings() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAI_")}
    env["RAI_SETTINGS_FILE"] = os.devnull
    run = [sys.executable, "-m", "modules.config"]
    table = subprocess.run([*run, "--markdown"], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, check=True)
    assert table.stdout.strip() == settings_table()
    shown = subprocess.run(run, cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, check=True)
    assert '"bucket": "resilient-ai-dev-tfstate-us-east-1"' in shown.stdout


# --- availability zones: pinned by zone id, per region ----------------------------------------


def test_zones_are_pinned_by_id_and_the_default_is_us_east_1s_without_use1_az3() -> None:
    s = settings_from()
    assert s.zones_in("us-east-1") == ("use1-az1", "use1-az2", "use1-az4")
    assert "use1-az3" not in s.zone_ids, "it offers almost no current instance types"
    assert settings_from({"RAI_AZ_COUNT": "5"}).zones_in("us-east-1")[-1] == "use1-az6"


def test_another_region_needs_its_own_zone_ids() -> None:
    problems = problems_of({"RAI_REGION": "eu-west-1"})
    assert len(problems) == 1 and problems[0].startswith("zone_ids (default): the default is us-east-1's")
    s = settings_from({"RAI_REGION": "eu-west-1", "RAI_ZONE_IDS": "euw1-az1,euw1-az2,euw1-az3"})
    assert s.zones_in("eu-west-1") == ("euw1-az1", "euw1-az2", "euw1-az3")


@pytest.mark.parametrize(
    ("env", "fragment"),
    [
        (
            {"RAI_ZONE_IDS": "use1-az1,use1-az2"},
            "zone_ids (from RAI_ZONE_IDS): 2 given, az_count = 3 (default) needs as many",
        ),
        ({"RAI_ZONE_IDS": "use1-az1,use1-az1,use1-az2"}, "must be distinct availability zone ids of one region"),
        ({"RAI_ZONE_IDS": "use1-az1,usw2-az1,use1-az2"}, "must be distinct availability zone ids of one region"),
        ({"RAI_ZONE_IDS": "use1-az1,use1-az2,use1-bos1-az1"}, "must be distinct availability zone ids"),
        (
            {"RAI_HA_FAILOVER_SECONDARY_REGION": "us-west-2"},
            "ha_failover.secondary_zone_ids (default): secondary_region",
        ),
        (
            {
                "RAI_HA_FAILOVER_SECONDARY_REGION": "us-west-2",
                "RAI_HA_FAILOVER_SECONDARY_ZONE_IDS": "use1-az1,use1-az2,use1-az4",
            },
            "ha_failover.secondary_zone_ids (from RAI_HA_FAILOVER_SECONDARY_ZONE_IDS): zone ids of secondary_region, "
            "not of region",
        ),
        (
            {"RAI_HA_FAILOVER_SECONDARY_ZONE_IDS": "usw2-az1,usw2-az2"},
            "set only together with ha_failover.secondary_region",
        ),
    ],
)
def test_bad_zone_ids_are_refused(env: dict[str, str], fragment: str) -> None:
    assert any(fragment in p for p in problems_of(env)), problems_of(env)


@pytest.mark.parametrize(
    ("environ", "protected"),
    [
        ({"RAI_ENVIRONMENT": "prod", **PROD_ALARMS}, True),
        ({"RAI_ENVIRONMENT": "staging"}, False),
        ({"RAI_ENVIRONMENT": "qa-2", "RAI_PROTECTED": "true", **PROD_ALARMS}, True),
        ({"RAI_ENVIRONMENT": "prod", "RAI_PROTECTED": "false"}, False),
    ],
)
def test_protection_is_a_setting_of_its_own_defaulting_on_for_prod_only(
    environ: dict[str, str], protected: bool
) -> None:
    """Stores of data keep prevent_destroy where the environment is protected: by default prod,
    and any environment that says so; a name alone never decides against the setting."""
    assert load_settings(environ, settings_file=None).is_protected is protected
