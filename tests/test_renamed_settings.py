"""Settings that moved or were renamed: the old name still works, says which setting it
became, and given beside the new name is refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from modules.config import SettingsError, env_var, load_settings
from modules.config.renamed import RENAMED, Renamed
from modules.config.settings import SECTIONS, Settings
from tests.conftest import settings_from

# A valid value, not the default, for each setting that moved.
VALUES: dict[str, str | int] = {
    "model_uri": "s3://acme-models/wine/v2.onnx",
    "model_sha256": "a" * 64,
    "max_body_bytes": 4096,
    "max_in_flight": 64,
    "max_rows_per_request": 500,
    "max_batch_size": 64,
    "max_batch_delay_ms": 5,
    "infer_threads": 2,
    "health_check_interval_s": 30,
    "healthy_threshold": 3,
    "unhealthy_threshold": 4,
    "emails": "oncall@example.com",
}
# What a value given under its old name becomes under its new one: one address, a list of one.
AS_NEW: dict[str, object] = {"emails": ("oncall@example.com",)}


def dotted(path: tuple[str, str]) -> str:
    return ".".join(part for part in path if part)


def value_of(entry: Renamed) -> str | int:
    return VALUES[entry.new[0][1]]


def new_value_of(entry: Renamed) -> object:
    return AS_NEW.get(entry.new[0][1], value_of(entry))


def toml(value: str | int) -> str:
    return f'"{value}"' if isinstance(value, str) else str(value)


def test_every_old_name_is_gone_from_the_models_and_every_new_one_is_there() -> None:
    for entry in RENAMED:
        old_model = SECTIONS[entry.old[0]] if entry.old[0] else Settings
        assert entry.old[1] not in old_model.model_fields, entry.old
        for section, key in entry.new:
            assert key in SECTIONS[section].model_fields, (section, key)
            assert SECTIONS[section].model_fields[key].default != AS_NEW.get(key, VALUES[key]), "must show the move"


@pytest.mark.parametrize("entry", RENAMED, ids=lambda e: dotted(e.old))
def test_an_old_variable_sets_the_new_setting_and_says_so(entry: Renamed, capsys: pytest.CaptureFixture[str]) -> None:
    settings = settings_from({env_var(*entry.old): str(value_of(entry))})
    for section, key in entry.new:
        assert getattr(getattr(settings, section), key) == new_value_of(entry)
    err = capsys.readouterr().err
    assert err.count(env_var(*entry.old)) == 1, err
    assert "deprecated" in err
    for new in entry.new:
        assert env_var(*new) in err, err


@pytest.mark.parametrize("entry", RENAMED, ids=lambda e: dotted(e.old))
def test_an_old_key_in_the_file_sets_the_new_setting_and_says_so(
    entry: Renamed, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    file = tmp_path / "settings.toml"
    table = f"[{entry.old[0]}]\n" if entry.old[0] else ""  # "": a top-level key
    file.write_text(f"{table}{entry.old[1]} = {toml(value_of(entry))}\n")
    settings = load_settings(environ={}, settings_file=file)
    for section, key in entry.new:
        assert getattr(getattr(settings, section), key) == new_value_of(entry)
    err = capsys.readouterr().err
    assert f"settings: {dotted(entry.old)} in {file}: deprecated, use " in err, err
    for new in entry.new:
        assert dotted(new) in err


def test_the_load_balancers_healthy_threshold_still_sets_both_stacks_that_read_it() -> None:
    """model-serving and ha-failover read load_balancer.healthy_threshold; target-groups never did."""
    settings = settings_from({"RAI_LOAD_BALANCER_HEALTHY_THRESHOLD": "5"})
    assert settings.serving.healthy_threshold == settings.ha_failover.healthy_threshold == 5
    assert settings_from().serving.healthy_threshold == 2


def test_each_stacks_health_checks_are_its_own() -> None:
    """One variable changes the health checks of one stack: the three sections are independent."""
    settings = settings_from({"RAI_SERVING_HEALTH_CHECK_INTERVAL_S": "30"})
    intervals = {s: getattr(settings, s).health_check_interval_s for s in ("serving", "ha_failover", "target_groups")}
    assert intervals == {"serving": 30, "ha_failover": 10, "target_groups": 5}


def test_new_names_alone_say_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    settings_from({"RAI_MODEL_SERVER_MAX_ROWS_PER_REQUEST": "500", "RAI_SERVING_HEALTHY_THRESHOLD": "3"})
    assert capsys.readouterr().err == ""


def test_old_and_new_name_together_are_refused_in_one_source() -> None:
    with pytest.raises(SettingsError) as info:
        settings_from({"RAI_SERVING_MAX_BATCH_ROWS": "500", "RAI_MODEL_SERVER_MAX_ROWS_PER_REQUEST": "500"})
    assert info.value.problems == [
        "RAI_SERVING_MAX_BATCH_ROWS and RAI_MODEL_SERVER_MAX_ROWS_PER_REQUEST: the same setting under its old and "
        "its new name; give only model_server.max_rows_per_request"
    ]


def test_old_and_new_name_together_are_refused_across_sources(tmp_path: Path) -> None:
    """The old name in the file and the new one in the environment (or the other way round):
    refused, not settled by precedence, and with every other problem of the load."""
    file = tmp_path / "settings.toml"
    file.write_text('[serving]\nmodel_uri = "s3://acme-models/a.onnx"\ncpu = 300\n')
    with pytest.raises(SettingsError) as info:
        load_settings(environ={"RAI_MODEL_SERVER_MODEL_URI": "s3://acme-models/b.onnx"}, settings_file=file)
    message = str(info.value)
    assert (
        f"serving.model_uri in {file} and RAI_MODEL_SERVER_MODEL_URI: the same setting under its old and its new "
        "name; give only model_server.model_uri"
    ) in message
    assert "serving.cpu = 300" in message
    file.write_text("[load_balancer]\nhealthy_threshold = 3\n")
    with pytest.raises(SettingsError, match=r"give only ha_failover\.healthy_threshold"):
        load_settings(environ={"RAI_HA_FAILOVER_HEALTHY_THRESHOLD": "3"}, settings_file=file)


def test_a_bad_value_under_an_old_name_names_the_new_setting_and_where_it_came_from(tmp_path: Path) -> None:
    with pytest.raises(SettingsError) as info:
        settings_from({"RAI_SERVING_MAX_BATCH_ROWS": "0"})
    (problem,) = info.value.problems
    assert problem.startswith("model_server.max_rows_per_request = 0 (from RAI_SERVING_MAX_BATCH_ROWS): must be ")
    file = tmp_path / "settings.toml"
    file.write_text("[load_balancer]\nunhealthy_threshold = 1\n")
    with pytest.raises(SettingsError) as info:
        load_settings(environ={}, settings_file=file)
    (problem,) = info.value.problems
    assert problem.startswith(f"serving.unhealthy_threshold = 1 (from {file}, as load_balancer.unhealthy_threshold)")
