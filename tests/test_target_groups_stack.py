"""The `target-groups` stack: stable and canary target groups behind one ALB, weighted, each
backed by its own self-healing Auto Scaling group; thresholds tuned for fast detection."""

from __future__ import annotations

import json
from typing import Any

import pytest

from modules.architectures.target_groups.settings import TargetGroupsSettings, controller_alarm_names
from modules.architectures.target_groups.stack import GROUPS, detection_and_replacement_s, target_group_props
from modules.config import Settings, SettingsError
from tests.conftest import StackDoc, one, resources, settings_from


@pytest.fixture
def tg(stacks: dict[str, StackDoc]) -> StackDoc:
    return stacks["target-groups"]


@pytest.fixture
def variant(fleet_variant: dict[str, StackDoc]) -> StackDoc:
    return fleet_variant["target-groups"]


def target_groups(doc: StackDoc) -> dict[str, dict[str, Any]]:
    """Target groups by role (stable / canary), from their names."""
    return {g["name"].rsplit("-", 1)[1]: g for g in resources(doc, "aws_lb_target_group")}


def arn_of(doc: StackDoc, role: str) -> str:
    (name,) = [n for n, g in doc["resource"]["aws_lb_target_group"].items() if g["name"].endswith(f"-{role}")]
    return f"${{aws_lb_target_group.{name}.arn}}"


def alb_ingress(doc: StackDoc) -> list[dict[str, Any]]:
    (sg,) = [n for n, s in doc["resource"]["aws_security_group"].items() if s["name"].endswith("-alb")]
    return [r for r in resources(doc, "aws_vpc_security_group_ingress_rule") if sg in r["security_group_id"]]


def test_alb_security_group_admits_exactly_the_configured_cidrs(tg: StackDoc, variant: StackDoc) -> None:
    assert [(r["cidr_ipv4"], r["from_port"]) for r in alb_ingress(tg)] == [("10.0.0.0/16", 80)], "the VPC only"
    assert sorted((r["cidr_ipv4"], r["from_port"]) for r in alb_ingress(variant)) == [
        ("10.0.0.0/8", 80),
        ("10.0.0.0/8", 443),
        ("192.168.0.0/16", 80),
        ("192.168.0.0/16", 443),
    ]


def test_empty_allowed_cidrs_mean_the_shared_setting_and_bad_ones_are_refused() -> None:
    assert settings_from({"RAI_TARGET_GROUPS_ALLOWED_CIDRS": " , "}).section(TargetGroupsSettings).allowed_cidrs == ()
    with pytest.raises(SettingsError) as info:
        settings_from({"RAI_TARGET_GROUPS_ALLOWED_CIDRS": "10.0.0.1/8"})
    assert "target_groups.allowed_cidrs" in str(info.value)


def test_both_target_groups_use_the_seed_thresholds_with_a_fast_interval(tg: StackDoc) -> None:
    groups = target_groups(tg)
    assert set(groups) == {"stable", "canary"}
    for group in groups.values():
        check = group["health_check"]
        assert (check["healthy_threshold"], check["unhealthy_threshold"], check["timeout"]) == (2, 2, 3)
        assert (check["matcher"], check["interval"], check["path"]) == ("200-299", 5, "/v2/health/ready")
        assert (group["port"], group["target_type"]) == (8080, "instance")
        assert "stickiness" not in group, "no stickiness unless asked for"


def test_failure_detection_is_10_s_by_default_and_replacement_grace_plus_launch(
    tg: StackDoc, default_settings: Settings
) -> None:
    check = target_groups(tg)["stable"]["health_check"]
    detection, replacement = detection_and_replacement_s(default_settings)
    assert detection == check["interval"] * check["unhealthy_threshold"] == 10 <= 20
    assert replacement == 240 + 60
    assert detection_and_replacement_s(settings_from({"RAI_TARGET_GROUPS_HEALTH_CHECK_INTERVAL_S": "30"}))[0] == 60


def test_the_health_check_thresholds_are_the_stacks_own_settings() -> None:
    """Both target groups check with [target_groups]'s thresholds, and detection follows them."""
    env = {"RAI_TARGET_GROUPS_HEALTHY_THRESHOLD": "3", "RAI_TARGET_GROUPS_UNHEALTHY_THRESHOLD": "4"}
    settings = settings_from(env)
    props = target_group_props(settings, "x-stable")
    assert (props.healthy_threshold, props.unhealthy_threshold) == (3, 4)
    assert detection_and_replacement_s(settings)[0] == 5 * 4


def test_listener_forwards_90_10_to_stable_and_canary(tg: StackDoc) -> None:
    action = one(tg, "aws_lb_listener")["default_action"][0]
    assert action["type"] == "forward"
    weights = {g["arn"]: g["weight"] for g in action["forward"]["target_group"]}
    assert weights == {arn_of(tg, "stable"): 90, arn_of(tg, "canary"): 10}
    assert "stickiness" not in action["forward"]


def test_weights_and_stickiness_come_from_settings(variant: StackDoc) -> None:
    (https,) = [x for x in resources(variant, "aws_lb_listener") if x["protocol"] == "HTTPS"]
    forward = https["default_action"][0]["forward"]
    assert {g["weight"] for g in forward["target_group"]} == {50}
    assert forward["stickiness"] == {"enabled": True, "duration": 3600}, "a client stays on one model version"
    for group in target_groups(variant).values():
        assert group["stickiness"] == {"type": "lb_cookie", "enabled": True, "cookie_duration": 3600}


def test_each_target_group_is_backed_by_its_own_group(tg: StackDoc) -> None:
    attached = {g["name_prefix"]: g["target_group_arns"] for g in resources(tg, "aws_autoscaling_group")}
    assert attached == {
        "resilient-ai-dev-tg-stable-": [arn_of(tg, "stable")],
        "resilient-ai-dev-tg-canary-": [arn_of(tg, "canary")],
    }
    for group in resources(tg, "aws_autoscaling_group"):
        assert (group["min_size"], group["max_size"]) == (2, 4)


def test_alarms_watch_each_group_its_alb_and_the_controller(tg: StackDoc) -> None:
    names = {a["alarm_name"].split("-tg-", 1)[1] for a in resources(tg, "aws_cloudwatch_metric_alarm")}
    own = (
        "unhealthy-hosts",
        "target-5xx",
        "client-error-rate",
        "model-p99-latency",
        "server-5xx-rate",
        "rejection-rate",
        "server-metrics-missing",
        "in-service-below-min",
        "emf-parsing-errors",
        "emf-validation-errors",
    )
    controller = ("controller-errors", "controller-throttles", "controller-missed-runs")
    assert names == {f"{group}-{alarm}" for group in GROUPS for alarm in own} | {"alb-5xx", *controller}


def alarm(doc: StackDoc, key: str) -> dict[str, Any]:
    return by_path(doc, "aws_cloudwatch_metric_alarm", f"site/alarm-{key}")


def test_a_canary_answering_4xx_is_a_rollout_guard_with_the_servers_traffic_floor(tg: StackDoc) -> None:
    """404 from a canary serving another name, or 400 on inputs it refuses: the ALB's target 4xx
    less the servers' 401s, as a share of the group's calls, once 20 calls a minute arrive."""
    spec = alarm(tg, "canary-client-error-rate")
    queries = {q["id"]: q for q in spec["metric_query"]}
    assert queries["clienterrors"]["metric"]["metric_name"] == "HTTPCode_Target_4XX_Count"
    assert queries["requests"]["metric"]["metric_name"] == "RequestCount"
    assert "TargetGroup" in queries["requests"]["metric"]["dimensions"]
    assert queries["unauthorized"]["metric"]["metric_name"] == "Unauthorized"
    assert queries["clienterrorrate"]["expression"].startswith("IF(requests >= 20, ")
    assert (spec["threshold"], spec["evaluation_periods"], spec["datapoints_to_alarm"]) == (5, 3, 2)
    assert spec["alarm_name"] in controller_env(tg)["CANARY_ALARMS"].split(",")


def test_the_controller_pages_when_it_fails_is_throttled_or_misses_runs(tg: StackDoc) -> None:
    function = ref(tg, "aws_lambda_function", "canary-controller/function", "function_name")
    missed = alarm(tg, "controller-missed-runs")
    assert (missed["metric_name"], missed["comparison_operator"], missed["threshold"]) == (
        "Invocations",
        "LessThanThreshold",
        1,
    )
    assert (missed["evaluation_periods"], missed["treat_missing_data"]) == (3, "breaching")
    for key in ("controller-errors", "controller-throttles", "controller-missed-runs"):
        assert alarm(tg, key)["dimensions"] == {"FunctionName": function}
        assert alarm(tg, key)["alarm_actions"] == [ref(tg, "aws_sns_topic", "site/alarms/topic", "arn")]
    guards = controller_env(tg)["CANARY_ALARMS"]
    assert "controller" not in guards and "emf" not in guards, "they page and guard nothing"


def test_the_dashboard_says_first_when_a_rolling_canary_is_unguarded(tg: StackDoc) -> None:
    body = json.loads(one(tg, "aws_cloudwatch_dashboard")["dashboard_body"])
    first = body["widgets"][0]
    assert first["type"] == "alarm" and "UNGUARDED" in first["properties"]["title"]
    assert first["properties"]["alarms"] == [
        ref(tg, "aws_cloudwatch_metric_alarm", f"site/alarm-controller-{k}", "arn")
        for k in ("errors", "throttles", "missed-runs")
    ]


def test_dropped_emf_documents_page_for_each_group_and_guard_nothing(tg: StackDoc) -> None:
    for group in GROUPS:
        log_group = ref(tg, "aws_cloudwatch_log_group", f"site/{group}/logs", "name")
        for metric in ("parsing", "validation"):
            spec = alarm(tg, f"{group}-emf-{metric}-errors")
            assert (spec["namespace"], spec["dimensions"]) == ("AWS/Logs", {"LogGroupName": log_group})
            assert spec["metric_name"] == f"EMF{metric.capitalize()}Errors"
    experiments = resources(tg, "aws_fis_experiment_template")
    assert experiments and all("emf" not in json.dumps(x.get("stop_condition")) for x in experiments)


def test_outputs_url_and_both_target_group_arns(tg: StackDoc) -> None:
    outputs = tg["output"]
    assert outputs["stable_target_group_arn"]["value"] == arn_of(tg, "stable")
    assert outputs["canary_target_group_arn"]["value"] == arn_of(tg, "canary")
    assert outputs["alb_url"]["value"].startswith("http://${aws_lb.")
    assert all(o["description"] for o in outputs.values())


def test_bad_target_group_settings_are_reported_together() -> None:
    with pytest.raises(SettingsError) as info:
        settings_from(
            {
                "RAI_TARGET_GROUPS_WEIGHTS": "stable=0,canary=0",
                "RAI_TARGET_GROUPS_HEALTH_CHECK_INTERVAL_S": "1",
                "RAI_TARGET_GROUPS_ALLOWED_CIDRS": "10.0.0.1/8",
            }
        )
    text = str(info.value)
    for name in ("target_groups.weights", "target_groups.health_check_interval_s", "target_groups.allowed_cidrs"):
        assert name in text
    with pytest.raises(SettingsError) as info:
        settings_from({"RAI_TARGET_GROUPS_MIN_SIZE": "5", "RAI_TARGET_GROUPS_MAX_SIZE": "3"})
    assert "target_groups.max_size" in str(info.value)


def test_the_canary_can_run_another_model_than_stable(tg: StackDoc, variant: StackDoc) -> None:
    """A canary is only worth its weight if it can serve a new version: with
    `target_groups.canary_model_uri` set, only the canary servers load that model and only
    their role may read it; by default both groups serve the same model."""

    def role_statements(doc: StackDoc, group: str) -> list[dict[str, Any]]:
        policies = [p for k, p in doc["resource"]["aws_iam_role_policy"].items() if f"{group}_template" in k]
        return [st for p in policies for st in json.loads(p["policy"])["Statement"]]

    def boot_env(doc: StackDoc, group: str) -> str:
        (template,) = [t for k, t in doc["resource"]["aws_launch_template"].items() if f"{group}_template" in k]
        return str(template["user_data"])

    canary_reads = [st for st in role_statements(variant, "canary") if st.get("Sid") == "ReadTheModel"]
    assert canary_reads == [
        {
            "Sid": "ReadTheModel",
            "Effect": "Allow",
            "Action": "s3:GetObject",
            "Resource": "arn:aws:s3:::acme-models/wine/v2.onnx",
        }
    ]
    assert not [st for st in role_statements(variant, "stable") if st.get("Sid") == "ReadTheModel"]
    assert not [st for g in GROUPS for st in role_statements(tg, g) if st.get("Sid") == "ReadTheModel"]
    assert "s3://acme-models/wine/v2.onnx" in boot_env(variant, "canary")
    assert "MODEL_URI" not in boot_env(variant, "stable") and "MODEL_URI" not in boot_env(tg, "canary")
    # The canary's file is v2.onnx; it serves under stable's name all the same, so clients call one name.
    for doc in (tg, variant):
        assert all("MODEL_NAME='wine'" in boot_env(doc, group) for group in GROUPS), boot_env(doc, "canary")


def test_a_canary_serving_another_name_than_stable_is_refused_unless_on_purpose() -> None:
    with pytest.raises(SettingsError, match=r"target_groups\.canary_model_name = 'v2'.*404.*on_purpose"):
        settings_from({"RAI_TARGET_GROUPS_CANARY_MODEL_NAME": "v2"})
    with pytest.raises(SettingsError, match=r"canary_model_name = 'wine'.*\('iris'"):
        settings_from({"RAI_SERVING_MODEL_NAME": "iris", "RAI_TARGET_GROUPS_CANARY_MODEL_NAME": "wine"})
    env = {"RAI_TARGET_GROUPS_CANARY_MODEL_NAME": "v2", "RAI_TARGET_GROUPS_CANARY_NAME_DIFFERS_ON_PURPOSE": "true"}
    settings = settings_from(env)
    assert settings.section(TargetGroupsSettings).served_names(settings) == {"stable": "wine", "canary": "v2"}
    same = settings_from({"RAI_SERVING_MODEL_NAME": "iris", "RAI_TARGET_GROUPS_CANARY_MODEL_NAME": "iris"})
    assert same.section(TargetGroupsSettings).served_names(same) == {"stable": "iris", "canary": "iris"}


@pytest.mark.parametrize("threshold", ["0", "0.005", "1", "1.5", "-0.1"])
def test_a_drift_threshold_outside_its_range_is_refused(threshold: str) -> None:
    with pytest.raises(SettingsError, match=r"target_groups\.canary_drift_threshold.*0\.01 to 0\.99"):
        settings_from({"RAI_TARGET_GROUPS_CANARY_DRIFT_THRESHOLD": threshold})


# --- progressive canary delivery ----------------------------------------------------------


def by_path(doc: StackDoc, rtype: str, path_end: str) -> dict[str, Any]:
    (found,) = [r for r in resources(doc, rtype) if r["//"]["metadata"]["path"].endswith(path_end)]
    return found


def ref(doc: StackDoc, rtype: str, path_end: str, attr: str) -> str:
    return "${" + f"{rtype}.{by_path(doc, rtype, path_end)['//']['metadata']['uniqueId']}.{attr}" + "}"


def controller_env(doc: StackDoc) -> dict[str, str]:
    return dict(by_path(doc, "aws_lambda_function", "canary-controller/function")["environment"]["variables"])


def test_controller_runs_every_minute_from_eventbridge_scheduler(tg: StackDoc) -> None:
    schedule = by_path(tg, "aws_scheduler_schedule", "canary-schedule")
    assert schedule["schedule_expression"] == "rate(1 minute)"
    assert schedule["flexible_time_window"] == {"mode": "OFF"}
    assert schedule["target"]["arn"] == ref(tg, "aws_lambda_function", "canary-controller/function", "arn")


def test_controller_moves_through_the_steps_of_the_settings_after_each_bake(tg: StackDoc) -> None:
    env = controller_env(tg)
    assert (env["STEPS"], env["BAKE_S"]) == ("0,10,25,50,100", "300")
    assert env["LISTENER_ARN"] == ref(tg, "aws_lb_listener", "alb/http", "arn")


def test_controller_watches_the_canarys_own_alarms(tg: StackDoc) -> None:
    """Its targets' and its servers' own (latency, 5xx rate, rejection rate): a canary model that
    is slow or fails is sent back to weight 0, whatever the stable servers do."""
    guards = (
        "unhealthy-hosts",
        "target-5xx",
        "client-error-rate",
        "model-p99-latency",
        "server-5xx-rate",
        "rejection-rate",
    )
    names = [ref(tg, "aws_cloudwatch_metric_alarm", f"site/alarm-canary-{k}", "alarm_name") for k in guards]
    resolved = [by_path(tg, "aws_cloudwatch_metric_alarm", f"site/alarm-canary-{k}")["alarm_name"] for k in guards]
    assert controller_env(tg)["CANARY_ALARMS"].split(",") == resolved, names


def test_rollout_state_is_an_encrypted_parameter_terraform_only_creates(tg: StackDoc) -> None:
    param = by_path(tg, "aws_ssm_parameter", "canary-state")
    assert (param["type"], param["key_id"]) == ("SecureString", ref(tg, "aws_kms_key", "site/key/key", "arn"))
    assert json.loads(param["value"])["status"] == "idle"
    assert param["lifecycle"]["ignore_changes"] == ["value"]
    assert controller_env(tg)["STATE_PARAMETER"] == ref(tg, "aws_ssm_parameter", "canary-state", "name")


def test_terraform_never_resets_the_weights_the_controller_set(tg: StackDoc) -> None:
    listener = by_path(tg, "aws_lb_listener", "alb/http")
    assert listener["lifecycle"]["ignore_changes"] == ["default_action"]


def test_controller_may_move_only_this_listener_and_keep_only_its_state(tg: StackDoc) -> None:
    policy = json.loads(by_path(tg, "aws_iam_role_policy", "canary-controller/policy")["policy"])
    sids = {s["Sid"]: s for s in policy["Statement"]}
    assert sids["MoveTheCanaryWeight"]["Resource"] == ref(tg, "aws_lb_listener", "alb/http", "arn")
    assert sids["KeepTheRolloutState"]["Resource"] == ref(tg, "aws_ssm_parameter", "canary-state", "arn")
    assert sids["PublishTheRollback"]["Resource"] == ref(tg, "aws_sns_topic", "site/alarms/topic", "arn")
    assert by_path(tg, "aws_lambda_function", "canary-controller/function")["reserved_concurrent_executions"] == 1


@pytest.mark.parametrize("steps", ["0,25,10,100", "0,10,50", "0,10,150", "-5,100", "10,10,100", "a,100"])
def test_canary_steps_that_make_no_sense_are_a_settings_error_naming_the_field(steps: str) -> None:
    with pytest.raises(SettingsError, match=r"target_groups\.canary_steps"):
        settings_from({"RAI_TARGET_GROUPS_CANARY_STEPS": steps})


def test_canary_steps_and_bake_come_from_settings() -> None:
    tg = settings_from({"RAI_TARGET_GROUPS_CANARY_STEPS": "5,100", "RAI_TARGET_GROUPS_CANARY_BAKE_S": "900"}).section(
        TargetGroupsSettings
    )
    assert (tg.canary_steps, tg.canary_bake_s) == ((5, 100), 900)


def test_canary_status_says_where_the_rollout_is_and_what_comes_next() -> None:
    from tools.deploy.canary import describe

    steps = (0, 10, 25, 50, 100)
    rolling = describe({"status": "rolling", "step": 2, "since": 1000}, steps, 300, 1100)
    assert rolling.startswith("rolling: step 3/5, canary at 25 %") and "50 % in 200 s" in rolling
    assert "promotion in 300 s" in describe({"status": "rolling", "step": 4, "since": 0}, steps, 300, 0)
    assert "0 %" in describe({"status": "rolled_back", "reason": "alarm x"}, steps, 300, 0)
    assert describe({"status": "idle"}, steps, 300, 0).startswith("idle")


def test_canary_status_says_a_rolling_canary_is_unguarded_while_the_controller_fails(tg: StackDoc) -> None:
    from tools.deploy.canary import describe

    names = controller_alarm_names("resilient-ai-dev")
    made = {a["alarm_name"] for a in resources(tg, "aws_cloudwatch_metric_alarm")}
    assert set(names) <= made, "the status reads the alarms the stack makes"
    steps, failing = (0, 10, 25, 50, 100), names[2:]
    rolling = {"status": "rolling", "step": 1, "since": 0, "waiting": "too few predictions to judge: ..."}
    text = describe(rolling, steps, 300, 0, failing)
    assert text.startswith(f"UNGUARDED: the canary controller's alarm(s) {names[2]} in ALARM") and "extended" in text
    assert not describe(rolling, steps, 300, 0).startswith("UNGUARDED")
    assert describe({"status": "rolled_back"}, steps, 300, 0, failing).startswith("rolled back"), "nothing to guard"


def test_the_controller_judges_the_canarys_predictions_against_stables(tg: StackDoc) -> None:
    env = controller_env(tg)
    assert (env["PREDICTION_NAMESPACE"], env["DRIFT_THRESHOLD"], env["DRIFT_MIN_ROWS"]) == (
        "ResilientAI/ModelServer",
        "0.08",
        "1000",
    )
    assert (env["STABLE_SERVICE"], env["CANARY_SERVICE"]) == (
        "resilient-ai-dev-tg-stable",
        "resilient-ai-dev-tg-canary",
    )
    assert env["DRIFT_MAX_WAIT_S"] == "3600"
    policy = json.loads(by_path(tg, "aws_iam_role_policy", "canary-controller/policy")["policy"])
    reads = next(s for s in policy["Statement"] if s["Sid"] == "ReadThePredictions")
    assert sorted(reads["Action"]) == ["cloudwatch:GetMetricData", "cloudwatch:ListMetrics"]
    off = settings_from({"RAI_TARGET_GROUPS_CANARY_JUDGE_PREDICTIONS": "false"})
    assert not off.section(TargetGroupsSettings).canary_judge_predictions
