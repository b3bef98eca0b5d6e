"""The `model-serving` stack: what keeps the model server up, deployable and observable."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from modules.architectures.model_serving.stack import SERVER_DIR
from modules.blocks.container_image import folder_hash
from modules.config import SettingsError
from tests.conftest import StackDoc, load_stacks, one, resources, settings_from

IMAGE = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/team/model:v7"
CERT = "arn:aws:acm:us-east-1:123456789012:certificate/abc-123"


@pytest.fixture(scope="module")
def prod(tmp_path_factory: pytest.TempPathFactory) -> StackDoc:
    """model-serving in prod with an existing image, a certificate and a model in S3."""
    from modules.app import synth

    env = {
        "RAI_ENVIRONMENT": "prod",
        "RAI_SERVING_IMAGE_URI": IMAGE,
        "RAI_MODEL_SERVER_MODEL_URI": "s3://models-bucket/wine/v2.json",
        "RAI_LOAD_BALANCER_CERTIFICATE_ARN": CERT,
        "RAI_ALARM_EMAIL": "oncall@example.com",
    }
    outdir = tmp_path_factory.mktemp("prod") / "cdktf.out"
    synth(settings_from(env), outdir, only=["model-serving"])
    return load_stacks(outdir)["model-serving"]


@pytest.fixture
def ms(stacks: dict[str, StackDoc]) -> StackDoc:
    return stacks["model-serving"]


def container(doc: StackDoc) -> dict[str, Any]:
    (c,) = json.loads(one(doc, "aws_ecs_task_definition")["container_definitions"])
    return dict(c)


# --- image ------------------------------------------------------------------------------


def test_repository_scans_on_push_keeps_tags_immutable_and_uses_kms(ms: StackDoc) -> None:
    repo = one(ms, "aws_ecr_repository")
    assert repo["image_tag_mutability"] == "IMMUTABLE"
    assert repo["image_scanning_configuration"] == {"scan_on_push": True}
    assert repo["encryption_configuration"][0]["encryption_type"] == "KMS"
    assert repo["encryption_configuration"][0]["kms_key"].startswith("${aws_kms_key.")


def test_repository_lifecycle_keeps_the_newest_images_and_drops_untagged(ms: StackDoc) -> None:
    rules = json.loads(one(ms, "aws_ecr_lifecycle_policy")["policy"])["rules"]
    by_status = {r["selection"]["tagStatus"]: r["selection"] for r in rules}
    assert by_status["any"] == {"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": 20}
    assert by_status["untagged"]["countNumber"] == 1


def test_image_tag_is_the_hash_of_the_server_folder(ms: StackDoc) -> None:
    tag = folder_hash(SERVER_DIR)
    assert container(ms)["image"] == f"${{aws_ecr_repository.repository.repository_url}}:{tag}"
    build = one(ms, "terraform_data")
    assert build["triggers_replace"]["tag"] == tag, "the build reruns only when the folder changes"


def test_build_step_runs_before_the_task_definition_and_skips_pushed_tags(ms: StackDoc) -> None:
    task = one(ms, "aws_ecs_task_definition")
    (build_id,) = ms["resource"]["terraform_data"]
    assert f"terraform_data.{build_id}" in task["depends_on"]
    step = one(ms, "terraform_data")["provisioner"][0]["local-exec"]
    assert "describe-images" in step["command"] and "docker push" in step["command"]
    assert step["environment"]["CONTEXT"].startswith("assets/"), "the build context ships with the synth output"
    assert "${" not in step["command"], "Terraform must not interpolate the shell script"


def test_folder_hash_ignores_caches_and_follows_source_changes(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text("FROM scratch\n")
    before = folder_hash(tmp_path)
    (tmp_path / "__pycache__").mkdir()
    (tmp_path / "__pycache__" / "x.pyc").write_bytes(b"\0")
    (tmp_path / "wine.onnx").write_bytes(b"\0")
    assert folder_hash(tmp_path) == before
    (tmp_path / "server.py").write_text("print(1)\n")
    assert folder_hash(tmp_path) != before


def test_an_image_uri_deploys_that_image_with_no_build(prod: StackDoc) -> None:
    assert "terraform_data" not in prod["resource"]
    assert container(prod)["image"] == IMAGE
    policy = json.loads(next(p for p in resources(prod, "aws_iam_role_policy") if "ecr:" in p["policy"])["policy"])
    pull = next(s for s in policy["Statement"] if "ecr:BatchGetImage" in s["Action"])
    assert "arn:aws:ecr:eu-west-1:123456789012:repository/team/model" in pull["Resource"]


# --- cluster, task, service --------------------------------------------------------------


def test_cluster_has_container_insights_and_a_spot_mix_with_an_on_demand_base(ms: StackDoc) -> None:
    assert one(ms, "aws_ecs_cluster")["setting"] == [{"name": "containerInsights", "value": "enabled"}]
    providers = one(ms, "aws_ecs_cluster_capacity_providers")
    assert providers["capacity_providers"] == ["FARGATE", "FARGATE_SPOT"]
    strategy = {
        s["capacity_provider"]: (s["base"], s["weight"]) for s in providers["default_capacity_provider_strategy"]
    }
    assert strategy == {"FARGATE": (1, 1), "FARGATE_SPOT": (0, 3)}
    service = one(ms, "aws_ecs_service")
    assert {s["capacity_provider"] for s in service["capacity_provider_strategy"]} == {"FARGATE", "FARGATE_SPOT"}


def test_task_is_fargate_awsvpc_with_settings_sizes_and_separate_roles(ms: StackDoc) -> None:
    task = one(ms, "aws_ecs_task_definition")
    assert (task["cpu"], task["memory"]) == ("512", "1024")
    assert task["network_mode"] == "awsvpc" and task["requires_compatibilities"] == ["FARGATE"]
    assert task["execution_role_arn"] != task["task_role_arn"]
    assert task["volume"] == [{"name": "tmp"}]


def test_container_runs_non_root_on_a_read_only_root_with_writable_tmp(ms: StackDoc) -> None:
    c = container(ms)
    assert c["user"] == "10001" and c["readonlyRootFilesystem"] is True
    assert c["mountPoints"] == [{"sourceVolume": "tmp", "containerPath": "/tmp", "readOnly": False}]


def test_container_health_check_needs_nothing_beyond_the_image(ms: StackDoc) -> None:
    check = container(ms)["healthCheck"]
    assert check["command"][:3] == ["CMD", "python", "-c"], "python is in the image; curl is not"
    assert "/v2/health/live" in check["command"][3]
    dockerfile = (SERVER_DIR / "Dockerfile").read_text()
    assert check["command"][3] in dockerfile, "ECS and the image's HEALTHCHECK run the same probe"


def test_stop_timeout_leaves_the_server_time_to_drain(ms: StackDoc) -> None:
    c = container(ms)
    env = {e["name"]: e["value"] for e in c["environment"]}
    assert c["stopTimeout"] == 30
    assert float(env["DRAIN_DELAY_S"]) + float(env["DRAIN_TIMEOUT_S"]) < c["stopTimeout"], "exit before SIGKILL"
    assert env["MAX_IN_FLIGHT"] == "32" and env["MAX_BATCH_ROWS"] == "1000" and env["PORT"] == "8080"


def test_logs_go_to_an_encrypted_group_with_retention_without_blocking(ms: StackDoc) -> None:
    log = container(ms)["logConfiguration"]
    assert log["logDriver"] == "awslogs" and log["options"]["mode"] == "non-blocking"
    group = next(g for g in resources(ms, "aws_cloudwatch_log_group") if g["name"].startswith("/ecs/"))
    assert group["retention_in_days"] == 365 and group["kms_key_id"].startswith("${aws_kms_key.")


def test_model_location_is_in_the_environment(ms: StackDoc, prod: StackDoc) -> None:
    assert "MODEL_URI" not in {e["name"] for e in container(ms)["environment"]}, "default: the image's own model"
    env = {e["name"]: e["value"] for e in container(prod)["environment"]}
    assert env["MODEL_URI"] == "s3://models-bucket/wine/v2.json"
    # The served name is written out: serving.model_name, else the file's stem (as the server would).
    served = {e["name"]: e["value"] for e in container(ms)["environment"]}["MODEL_NAME"]
    assert (served, env["MODEL_NAME"]) == ("wine", "v2")
    task_policy = next(p for p in resources(prod, "aws_iam_role_policy") if "s3:GetObject" in p["policy"])
    statements = json.loads(task_policy["policy"])["Statement"]
    assert [st["Resource"] for st in statements] == [
        "arn:aws:s3:::models-bucket/wine/v2.json",
        "arn:aws:s3:::models-bucket/wine/v2.golden.json",
    ], "read the model and its golden set, nothing else"
    assert env["GOLDEN_URI"] == "s3://models-bucket/wine/v2.golden.json", "the set beside the model"


def test_service_runs_two_tasks_in_private_subnets_without_public_ips(ms: StackDoc) -> None:
    service = one(ms, "aws_ecs_service")
    assert service["desired_count"] == 2
    net = service["network_configuration"]
    assert net["assign_public_ip"] is False
    assert len(net["subnets"]) == 3 and all("private" in s for s in net["subnets"])
    assert net["security_groups"] == ["${aws_security_group.alb_targets-sg_5CB36FE1.id}"]


def test_deployments_keep_capacity_and_roll_back_on_failure(ms: StackDoc) -> None:
    service = one(ms, "aws_ecs_service")
    assert service["deployment_circuit_breaker"] == {"enable": True, "rollback": True}
    assert service["deployment_minimum_healthy_percent"] == 100
    assert service["deployment_maximum_percent"] == 200
    assert service["health_check_grace_period_seconds"] == 60
    assert service["availability_zone_rebalancing"] == "ENABLED"


def test_deployment_rolls_back_when_errors_latency_or_missing_tasks_alarm(ms: StackDoc) -> None:
    """GIVEN the service WHEN a new revision deploys THEN it watches the stack's own target 5xx,
    p99 latency and running < desired alarms, and the servers' own model latency, 5xx rate and
    rejection rate (by name), and rolls back when one fires."""
    service = one(ms, "aws_ecs_service")
    assert (service["alarms"]["enable"], service["alarms"]["rollback"]) == (True, True)
    by_path = {
        a["//"]["metadata"]["path"].rsplit("/", 1)[1]: a["alarm_name"]
        for a in resources(ms, "aws_cloudwatch_metric_alarm")
    }
    assert service["alarms"]["alarm_names"] == [
        by_path[f"alarm-{k}"]
        for k in (
            "target-5xx",
            "p99-latency",
            "running-tasks",
            "model-p99-latency",
            "server-5xx-rate",
            "rejection-rate",
        )
    ]


def test_service_is_behind_the_load_balancer_and_autoscaling_owns_the_count(ms: StackDoc) -> None:
    service = one(ms, "aws_ecs_service")
    (lb,) = service["load_balancer"]
    assert lb["container_name"] == "model-server" and lb["container_port"] == 8080
    assert lb["target_group_arn"].startswith("${aws_lb_target_group.")
    assert service["lifecycle"] == {"ignore_changes": ["desired_count"]}
    assert any(d.startswith("aws_lb_listener.") for d in service["depends_on"])


def test_load_balancer_health_check_uses_readiness(ms: StackDoc) -> None:
    """A draining task answers /ready with 503 and leaves rotation before it stops."""
    assert one(ms, "aws_lb_target_group")["health_check"]["path"] == "/v2/health/ready"


def test_autoscaling_tracks_cpu_and_requests_per_target(ms: StackDoc) -> None:
    target = one(ms, "aws_appautoscaling_target")
    assert (target["min_capacity"], target["max_capacity"]) == (2, 10)
    assert target["resource_id"] == "service/resilient-ai-dev-serving/model-server"
    policies = {
        p["target_tracking_scaling_policy_configuration"]["predefined_metric_specification"][
            "predefined_metric_type"
        ]: p
        for p in resources(ms, "aws_appautoscaling_policy")
        if "predefined_metric_specification" in p["target_tracking_scaling_policy_configuration"]
    }
    assert set(policies) == {"ECSServiceAverageCPUUtilization", "ALBRequestCountPerTarget"}
    cpu = policies["ECSServiceAverageCPUUtilization"]["target_tracking_scaling_policy_configuration"]
    assert cpu["target_value"] == 60 and cpu["scale_in_cooldown"] > cpu["scale_out_cooldown"]
    req = policies["ALBRequestCountPerTarget"]["target_tracking_scaling_policy_configuration"]
    assert req["target_value"] == 500
    label = req["predefined_metric_specification"]["resource_label"]
    assert ".arn_suffix}/${aws_lb_target_group." in label
    assert all(p["resource_id"] == target["resource_id"] for p in policies.values())


# --- alarms, dashboard, outputs ------------------------------------------------------------


# On the servers' own metrics (modules/patterns/server_metrics.py; tests/test_server_metrics.py).
SERVER_ALARMS = ("model-p99-latency", "server-5xx-rate", "rejection-rate", "server-metrics-missing")


def test_alarms_cover_errors_health_latency_capacity_and_cpu(ms: StackDoc) -> None:
    alarms = {
        a["alarm_name"].removeprefix("resilient-ai-dev-serving-"): a
        for a in resources(ms, "aws_cloudwatch_metric_alarm")
    }
    assert set(alarms) == {
        "alb-5xx",
        "target-5xx",
        "unhealthy-hosts",
        "cpu-high",
        "p99-latency",
        "running-below-desired",
        *SERVER_ALARMS,
        "emf-parsing-errors",
        "emf-validation-errors",
    }
    assert alarms["alb-5xx"]["metric_name"] == "HTTPCode_ELB_5XX_Count"
    assert alarms["target-5xx"]["metric_name"] == "HTTPCode_Target_5XX_Count"
    unhealthy = alarms["unhealthy-hosts"]
    assert (unhealthy["metric_name"], unhealthy["threshold"], unhealthy["comparison_operator"]) == (
        "UnHealthyHostCount",
        0,
        "GreaterThanThreshold",
    )
    p99 = alarms["p99-latency"]
    assert p99["extended_statistic"] == "p99" and p99["threshold"] == 1.0 and "statistic" not in p99
    running = alarms["running-below-desired"]
    expression = next(q for q in running["metric_query"] if q.get("expression"))
    assert expression["expression"] == "desired - running" and running["treat_missing_data"] == "breaching"
    topic = "${aws_sns_topic.alarms.arn}"
    assert all(a["alarm_actions"] == [topic] and a["ok_actions"] == [topic] for a in alarms.values())


def test_alarm_topic_is_encrypted_and_an_address_makes_the_alarms_go_to_the_environments_topic(
    ms: StackDoc, prod: StackDoc
) -> None:
    assert one(ms, "aws_sns_topic")["kms_master_key_id"].startswith("${aws_kms_key.")
    assert "aws_sns_topic_subscription" not in ms["resource"]
    assert not resources(prod, "aws_sns_topic") and not resources(prod, "aws_sns_topic_subscription")
    (lookup,) = prod["data"]["aws_sns_topic"].values()
    assert lookup["name"] == "resilient-ai-prod-alarms", "the `alarms` stack's topic, which the address subscribes to"


def test_key_lets_logs_and_alarms_use_it(ms: StackDoc) -> None:
    statements = json.loads(one(ms, "aws_kms_key")["policy"])["Statement"]
    services = {s["Principal"].get("Service") for s in statements}
    assert {"logs.us-east-1.amazonaws.com", "cloudwatch.amazonaws.com"} <= services
    logs = next(s for s in statements if s["Principal"].get("Service", "").startswith("logs."))
    assert "kms:EncryptionContext:aws:logs:arn" in logs["Condition"]["ArnLike"], "only this account's log groups"


def test_dashboard_shows_traffic_errors_latency_health_and_capacity(ms: StackDoc) -> None:
    widgets = json.loads(one(ms, "aws_cloudwatch_dashboard")["dashboard_body"])["widgets"]
    metrics = {m[1] for w in widgets for m in w["properties"]["metrics"]}
    assert {
        "RequestCount",
        "HTTPCode_Target_5XX_Count",
        "TargetResponseTime",
        "UnHealthyHostCount",
        "CPUUtilization",
        "RunningTaskCount",
    } <= metrics


def test_outputs_name_url_cluster_service_and_repository(ms: StackDoc, prod: StackDoc) -> None:
    outputs = ms["output"]
    assert {"service_url", "cluster_name", "service_name", "repository_url"} <= set(outputs)
    assert all(o["description"] for o in outputs.values())
    assert outputs["service_url"]["value"].startswith("http://${aws_lb.")
    assert prod["output"]["service_url"]["value"].startswith("https://")


def test_prod_protects_the_load_balancer_from_deletion(ms: StackDoc, prod: StackDoc) -> None:
    assert one(prod, "aws_lb")["enable_deletion_protection"] is True
    assert one(ms, "aws_lb")["enable_deletion_protection"] is False, "dev stacks stay destroyable"


# --- settings ------------------------------------------------------------------------------


def test_bad_serving_settings_are_all_reported_together() -> None:
    env = {
        "RAI_SERVING_CPU": "300",
        "RAI_SERVING_MIN_TASKS": "1",
        "RAI_SERVING_IMAGE_URI": "no-tag-image",
        "RAI_MODEL_SERVER_MODEL_URI": "ftp://x",
        "RAI_LOAD_BALANCER_ALLOWED_CIDRS": "0.0.0.0/0,10.1.2.3/8",
        "RAI_NETWORK_NAT": "sometimes",
    }
    with pytest.raises(SettingsError) as err:
        settings_from(env)
    message = str(err.value)
    for name in (
        "serving.cpu",
        "serving.min_tasks",
        "serving.image_uri",
        "model_server.model_uri",
        "load_balancer.allowed_cidrs",
        "network.nat",
    ):
        assert name in message


def test_memory_must_fit_the_fargate_cpu_size() -> None:
    sizes = r"serving.memory_mib = 8192 .*: must be one of Fargate's sizes .*: 1024, 2048, 3072, 4096 \(MiB\)"
    with pytest.raises(SettingsError, match=sizes):
        settings_from({"RAI_SERVING_CPU": "512", "RAI_SERVING_MEMORY_MIB": "8192"})
    with pytest.raises(SettingsError, match="max_tasks"):
        settings_from({"RAI_SERVING_MIN_TASKS": "5", "RAI_SERVING_MAX_TASKS": "4"})
