"""The model server's own metrics on AWS: the settings, the environment that names them, the
alarms and rollout guards that read them, the in-flight scaling, the dashboards and the
generated reference, in the three serving stacks.

What matters: each stack's alarms and scaling read the ``Service`` its own servers publish as
(``EMF_SERVICE``), or they watch nothing; the canary's read the canary's alone.
"""

from __future__ import annotations

import json
import re
from dataclasses import fields
from typing import Any

import pytest
from model_server import emf

from modules.blocks.alarms import Metric
from modules.blocks.fleet import MetricTarget
from modules.blocks.server_metrics import CATALOG, DIMENSION_SETS, ServerMetrics, server_metrics
from modules.config import SettingsError
from tests.conftest import StackDoc, one, resources, settings_from
from tools.docs.metric_reference import metric_reference, metric_uses

NAMESPACE = "ResilientAI/ModelServer"
SERVER_GUARDS = ("model-p99-latency", "server-5xx-rate", "rejection-rate")


def by_path(doc: StackDoc, rtype: str) -> dict[str, dict[str, Any]]:
    """Resources of ``rtype`` by construct path, without the stack's name."""
    return {r["//"]["metadata"]["path"].split("/", 1)[1]: r for r in resources(doc, rtype)}


def alarm_service(alarm: dict[str, Any]) -> set[str]:
    """The ``Service`` values an alarm reads, in the servers' namespace."""
    queries = [q["metric"] for q in alarm.get("metric_query", []) if "metric" in q] or [alarm]
    assert all(q["namespace"] == NAMESPACE for q in queries), alarm["alarm_name"]
    return {q["dimensions"]["Service"] for q in queries}


def task_env(doc: StackDoc) -> dict[str, str]:
    (container,) = json.loads(one(doc, "aws_ecs_task_definition")["container_definitions"])
    return {e["name"]: e["value"] for e in container["environment"]}


def template_env(doc: StackDoc, path_start: str) -> dict[str, str]:
    """The server environment file a fleet's boot script writes."""
    (template,) = [t for p, t in by_path(doc, "aws_launch_template").items() if p.startswith(path_start)]
    inner = re.fullmatch(r'\$\{base64encode\("(.*)"\)\}', template["user_data"], re.S)
    assert inner
    block = re.search(r"<<'ENV'\n(.*?)\nENV", json.loads(f'"{inner.group(1)}"'), re.S)
    assert block
    return {k: v.strip("'") for k, v in (line.split("=", 1) for line in block.group(1).splitlines())}


# --- one catalogue ------------------------------------------------------------------------------


def test_the_catalogue_is_what_the_server_writes_and_orders_the_fields() -> None:
    """Names, units and dimension sets are what the server's own EMF document declares (the
    server's writer, handlers/model_server, builds it here): a typo on either side is an alarm
    on a metric that never exists, which CloudWatch accepts silently."""
    window = emf.Window(0.0)
    window.latency.add(0.004)
    window.observe_batch(2, 16)
    identity = emf.Identity(namespace="N", service="svc", model="m", version="1")
    doc = emf.document(identity, window, 1.0, in_flight=0, draining=False)
    declared = doc["_aws"]["CloudWatchMetrics"][0]
    assert len(declared["Metrics"]) == len(CATALOG)
    assert {(m["Name"], m["Unit"]) for m in declared["Metrics"]} == {(c.name, c.unit) for c in CATALOG}
    assert [tuple(d) for d in declared["Dimensions"]] == list(DIMENSION_SETS)
    m = server_metrics("N", "svc")
    assert [getattr(m, f.name).name for f in fields(ServerMetrics)] == [c.name for c in CATALOG]
    assert m.latency == Metric(namespace="N", name="Latency", dimensions={"Service": "svc"})


# --- settings ---------------------------------------------------------------------------------


def test_server_metrics_settings_have_working_defaults_and_env_names() -> None:
    cfg = settings_from().server_metrics
    assert (cfg.namespace, cfg.interval_s, cfg.in_flight_target) == (NAMESPACE, 10, 16)
    assert (cfg.p99_latency_alarm_ms, cfg.server_5xx_alarm_percent, cfg.rejection_alarm_percent) == (500, 1, 5)
    changed = settings_from({"RAI_SERVER_METRICS_NAMESPACE": "Team/Models", "RAI_SERVER_METRICS_INTERVAL_S": "30"})
    assert (changed.server_metrics.namespace, changed.server_metrics.interval_s) == ("Team/Models", 30)


def test_bad_server_metrics_settings_are_each_named_in_one_error() -> None:
    """A namespace AWS reserves, an interval that leaves alarm minutes empty, zero thresholds and
    an in-flight target the admission limit makes unreachable: all in one error."""
    with pytest.raises(SettingsError) as refused:
        settings_from(
            {
                "RAI_SERVER_METRICS_NAMESPACE": "AWS/Mine",
                "RAI_SERVER_METRICS_INTERVAL_S": "7",
                "RAI_SERVER_METRICS_P99_LATENCY_ALARM_MS": "0",
                "RAI_SERVER_METRICS_SERVER_5XX_ALARM_PERCENT": "101",
                "RAI_SERVER_METRICS_REJECTION_ALARM_PERCENT": "0",
                "RAI_SERVER_METRICS_ALARM_MIN_REQUESTS": "0",
                "RAI_SERVER_METRICS_IN_FLIGHT_TARGET": "32",
            }
        )
    text = str(refused.value)
    for name in (
        "namespace",
        "interval_s",
        "p99_latency_alarm_ms",
        "server_5xx_alarm_percent",
        "rejection_alarm_percent",
        "alarm_min_requests",
        "in_flight_target",
    ):
        assert f"server_metrics.{name} = " in text, name
    assert "model_server.max_in_flight = 32" in text


@pytest.mark.parametrize("namespace", ["", " ", "a" * 256, "bad$name", "AWS/ECS"])
def test_a_namespace_cloudwatch_refuses_is_a_settings_error(namespace: str) -> None:
    with pytest.raises(SettingsError, match=r"server_metrics\.namespace"):
        settings_from({"RAI_SERVER_METRICS_NAMESPACE": namespace})


def test_in_flight_target_must_stay_below_the_admission_limit_either_way() -> None:
    assert settings_from({"RAI_MODEL_SERVER_MAX_IN_FLIGHT": "64", "RAI_SERVER_METRICS_IN_FLIGHT_TARGET": "40"})
    with pytest.raises(
        SettingsError,
        match=r"in_flight_target = 16 \(default\): must be below model_server.max_in_flight = 8 "
        r"\(from RAI_MODEL_SERVER_MAX_IN_FLIGHT\)",
    ):
        settings_from({"RAI_MODEL_SERVER_MAX_IN_FLIGHT": "8"})


def test_metric_target_refuses_bad_fields_naming_each() -> None:
    with pytest.raises(ValueError) as refused:
        MetricTarget(key="", metric=server_metrics("N", "s").in_flight, target=0, statistic="p99")
    assert all(f in str(refused.value) for f in ("key:", "target=0", "statistic='p99'")), refused.value


# --- model-serving ----------------------------------------------------------------------------


def test_model_serving_task_publishes_as_the_service_its_alarms_and_scaling_read(stacks: dict[str, StackDoc]) -> None:
    ms = stacks["model-serving"]
    env = task_env(ms)
    assert {k: v for k, v in env.items() if k.startswith("EMF_")} == {
        "EMF_NAMESPACE": NAMESPACE,
        "EMF_INTERVAL_S": "10",
        "EMF_DISTRIBUTION": "values_counts",
        "EMF_SERVICE": "resilient-ai-dev-serving",
        "EMF_SINK": "stdout",
    }
    alarms = by_path(ms, "aws_cloudwatch_metric_alarm")
    for key in (*SERVER_GUARDS, "server-metrics-missing"):
        assert alarm_service(alarms[f"alarm-{key}"]) == {env["EMF_SERVICE"]}, key
    spec = by_path(ms, "aws_appautoscaling_policy")["scale-in-flight"]["target_tracking_scaling_policy_configuration"]
    assert spec["customized_metric_specification"] == {
        "namespace": NAMESPACE,
        "metric_name": "InFlight",
        "statistic": "Average",
        "dimensions": [{"name": "Service", "value": env["EMF_SERVICE"]}],
    }
    assert spec["target_value"] == 16 and spec["scale_in_cooldown"] > spec["scale_out_cooldown"]


def test_model_serving_scales_on_cpu_requests_and_in_flight_on_one_target(stacks: dict[str, StackDoc]) -> None:
    """Three policies on the one scalable target: out when any asks, in when all allow."""
    ms = stacks["model-serving"]
    policies = by_path(ms, "aws_appautoscaling_policy")
    assert set(policies) == {"scale-cpu", "scale-requests", "scale-in-flight"}
    target = one(ms, "aws_appautoscaling_target")
    assert {p["resource_id"] for p in policies.values()} == {target["resource_id"]}


def test_server_alarms_fire_on_latency_rates_with_a_traffic_floor_and_silence(stacks: dict[str, StackDoc]) -> None:
    """p99 from the servers' distribution, rates as metric math: both read 0 below the traffic
    floor (the p99 of a few calls is their slowest one, a few failures no outage: a canary at
    10 % of a quiet hour must not be rolled back for one cold call); missing data pages only
    on the "metrics missing" alarm."""
    alarms = by_path(stacks["model-serving"], "aws_cloudwatch_metric_alarm")
    p99 = alarms["alarm-model-p99-latency"]
    metrics = {q["id"]: q["metric"] for q in p99["metric_query"] if "metric" in q}
    (math,) = [q for q in p99["metric_query"] if "expression" in q]
    assert math["expression"] == "IF(requests >= 20, latency, 0)" and p99["threshold"] == 500
    assert {i: (m["metric_name"], m["stat"]) for i, m in metrics.items()} == {
        "latency": ("Latency", "p99"),
        "requests": ("Requests", "Sum"),
    }
    for key, part, threshold in (("server-5xx-rate", "ServerErrors", 1), ("rejection-rate", "Rejected", 5)):
        alarm = alarms[f"alarm-{key}"]
        metrics = {q["id"]: q["metric"] for q in alarm["metric_query"] if "metric" in q}
        (math,) = [q for q in alarm["metric_query"] if "expression" in q]
        assert math["expression"] == "IF(requests >= 20, 100 * part / requests, 0)" and math["return_data"]
        assert {i: (m["metric_name"], m["stat"]) for i, m in metrics.items()} == {
            "part": (part, "Sum"),
            "requests": ("Requests", "Sum"),
        }
        assert (alarm["threshold"], alarm["treat_missing_data"]) == (threshold, "notBreaching")
    missing = alarms["alarm-server-metrics-missing"]
    assert (missing["statistic"], missing["comparison_operator"], missing["treat_missing_data"]) == (
        "SampleCount",
        "LessThanThreshold",
        "breaching",
    )
    assert missing["alarm_name"] not in one(stacks["model-serving"], "aws_ecs_service")["alarms"]["alarm_names"]


def test_thresholds_and_floor_come_from_the_settings() -> None:
    settings = settings_from(
        {"RAI_SERVER_METRICS_P99_LATENCY_ALARM_MS": "750", "RAI_SERVER_METRICS_ALARM_MIN_REQUESTS": "50"}
    )
    assert (settings.server_metrics.p99_latency_alarm_ms, settings.server_metrics.alarm_min_requests) == (750, 50)
    uses = metric_uses(settings)
    assert any("`IF(Requests >= 50, p99(Latency), 0)` > 750 Milliseconds" in u for u in uses["Latency"])
    assert any("IF(Requests >= 50, 100 * ServerErrors / Requests, 0)" in u for u in uses["ServerErrors"])


# --- EC2 fleets -------------------------------------------------------------------------------


def test_each_ha_site_publishes_as_its_group_and_its_refresh_rolls_back_on_its_servers(
    stacks: dict[str, StackDoc],
) -> None:
    ha = stacks["ha-failover"]
    env = template_env(ha, "primary/")
    service = env["EMF_SERVICE"]
    assert (service, env["EMF_SINK"], env["EMF_NAMESPACE"]) == ("resilient-ai-dev-ha-servers", "stdout", NAMESPACE)
    alarms = by_path(ha, "aws_cloudwatch_metric_alarm")
    assert all(alarm_service(alarms[f"primary/alarm-{k}"]) == {service} for k in SERVER_GUARDS)
    (group,) = resources(ha, "aws_autoscaling_group")
    watched = group["instance_refresh"]["preferences"]["alarm_specification"]["alarms"]
    assert {alarms[f"primary/alarm-{k}"]["alarm_name"] for k in SERVER_GUARDS} <= set(watched)
    assert alarms["primary/alarm-server-metrics-missing"]["alarm_name"] not in watched


def test_fleets_track_their_own_servers_in_flight_calls(stacks: dict[str, StackDoc]) -> None:
    for name, paths in (("ha-failover", ("primary/servers",)), ("target-groups", ("site/stable", "site/canary"))):
        doc = stacks[name]
        policies = by_path(doc, "aws_autoscaling_policy")
        for path in paths:
            config = policies[f"{path}/fleet/scale-in-flight"]["target_tracking_configuration"]
            service = template_env(doc, f"{path}/")
            assert config["target_value"] == 16, path
            assert config["customized_metric_specification"] == {
                "namespace": NAMESPACE,
                "metric_name": "InFlight",
                "statistic": "Average",
                "metric_dimension": [{"name": "Service", "value": service["EMF_SERVICE"]}],
            }, path


def test_stable_and_canary_are_separate_services_and_the_canary_aborts_on_its_own(stacks: dict[str, StackDoc]) -> None:
    tg = stacks["target-groups"]
    services = {key: template_env(tg, f"site/{key}/")["EMF_SERVICE"] for key in ("stable", "canary")}
    assert services == {"stable": "resilient-ai-dev-tg-stable", "canary": "resilient-ai-dev-tg-canary"}
    alarms = by_path(tg, "aws_cloudwatch_metric_alarm")
    for key, service in services.items():
        assert all(alarm_service(alarms[f"site/alarm-{key}-{k}"]) == {service} for k in SERVER_GUARDS), key
    (controller,) = [f for f in resources(tg, "aws_lambda_function") if "CANARY_ALARMS" in str(f)]
    aborts = controller["environment"]["variables"]["CANARY_ALARMS"].split(",")
    assert {alarms[f"site/alarm-canary-{k}"]["alarm_name"] for k in SERVER_GUARDS} <= set(aborts)
    assert not [a for a in aborts if "-stable-" in a], "the stable servers never abort the canary"


# --- dashboards and reference -------------------------------------------------------------------


@pytest.mark.parametrize("stack", ["model-serving", "ha-failover", "target-groups"])
def test_dashboards_draw_server_latency_percentiles_batch_in_flight_and_rejections(
    stacks: dict[str, StackDoc], stack: str
) -> None:
    body = json.loads(one(stacks[stack], "aws_cloudwatch_dashboard")["dashboard_body"])
    drawn: set[tuple[str, str]] = set()
    for widget in body["widgets"]:
        props = widget["properties"]
        for line in props.get("metrics", []):  # an alarm status widget draws none
            if line[0] == NAMESPACE:
                stat = line[-1].get("stat", props["stat"]) if isinstance(line[-1], dict) else props["stat"]
                drawn.add((line[1], stat))
    assert {
        ("Latency", "p50"),
        ("Latency", "p99"),
        ("BatchRows", "Average"),
        ("InFlight", "Average"),
        ("Rejected", "Sum"),
        ("ServerErrors", "Sum"),
    } <= drawn, drawn


def test_reference_lists_every_metric_and_what_reads_it() -> None:
    table = metric_reference(metric_uses(settings_from()))
    rows = {line.split("|")[1].strip(" `"): line for line in table.splitlines() if line.startswith("| `")}
    assert list(rows) == [m.name for m in CATALOG]
    assert "alarm `model-p99-latency`" in rows["Latency"] and "rollout guard" in rows["Latency"]
    assert "scaling policy `scale-in-flight`" in rows["InFlight"]
    assert "alarm `server-metrics-missing`" in rows["Requests"] and rows["Draining"].endswith("dashboards only |")
