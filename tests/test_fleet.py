"""The fleet block and the model server it runs, as both fleet stacks synthesize them.

Every Auto Scaling group of `ha-failover` and `target-groups` must heal itself: replace what
the ALB finds unhealthy, roll out new template versions without losing capacity, survive
spot interruptions, drain before termination, and scale; and its instances must boot into
the model server from the artifact the stack uploaded.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from modules.blocks.fleet import FleetProps
from modules.blocks.instance_template import AL2023_X86_64, user_data
from modules.blocks.model_server_fleet import SERVER_DIR, ModelServerFleetProps, template_props
from modules.patterns.server_environment import server_environment
from modules.patterns.serving_front import short_name
from tests.conftest import StackDoc, private_subnet_refs, resources, settings_from
from tools.harness.boot_script import BootRun, run_boot_script, unit_settings

FLEET_STACKS = ("ha-failover", "target-groups")


@pytest.fixture(params=FLEET_STACKS)
def doc(request: pytest.FixtureRequest, stacks: dict[str, StackDoc]) -> StackDoc:
    return stacks[request.param]


def groups(doc: StackDoc) -> dict[str, dict[str, Any]]:
    found = dict(doc["resource"]["aws_autoscaling_group"])
    assert found, "every fleet stack has Auto Scaling groups"
    return found


# --- Auto Scaling group -----------------------------------------------------------------------


def test_no_launch_configurations_anywhere(stacks: dict[str, StackDoc]) -> None:
    for name, stack in stacks.items():
        assert not resources(stack, "aws_launch_configuration"), name
        for group in resources(stack, "aws_autoscaling_group"):
            assert "launch_configuration" not in group, name


def test_groups_run_the_latest_launch_template_version_through_the_mixed_instances_policy(doc: StackDoc) -> None:
    templates = set(doc["resource"]["aws_launch_template"])
    for group in groups(doc).values():
        spec = group["mixed_instances_policy"]["launch_template"]["launch_template_specification"]
        name = spec["launch_template_id"].split(".")[1]
        assert name in templates and spec["version"] == f"${{aws_launch_template.{name}.latest_version}}"


def test_groups_span_the_private_subnets_of_every_az(doc: StackDoc) -> None:
    private = private_subnet_refs(doc)
    for group in groups(doc).values():
        assert set(group["vpc_zone_identifier"]) == private and len(private) >= 2


def test_elb_health_checks_replace_what_the_alb_finds_unhealthy_after_a_grace_period(doc: StackDoc) -> None:
    target_groups = {f"${{aws_lb_target_group.{n}.arn}}" for n in doc["resource"]["aws_lb_target_group"]}
    attached = []
    for group in groups(doc).values():
        assert group["health_check_type"] == "ELB"
        assert group["health_check_grace_period"] == 240
        attached += group["target_group_arns"]
    assert sorted(attached) == sorted(target_groups), "each target group backed by exactly one group"


def test_instance_refresh_rolls_new_versions_out_without_losing_capacity(doc: StackDoc) -> None:
    for group in groups(doc).values():
        refresh = group["instance_refresh"]
        assert refresh["strategy"] == "Rolling"
        assert refresh["preferences"]["min_healthy_percentage"] == 100
        assert group["instance_maintenance_policy"]["min_healthy_percentage"] == 100


def alarm_names_by_path(doc: StackDoc) -> dict[str, str]:
    """Alarm name by construct path (without the stack name)."""
    return {
        a["//"]["metadata"]["path"].split("/", 1)[1]: a["alarm_name"]
        for a in resources(doc, "aws_cloudwatch_metric_alarm")
    }


def refresh_of(doc: StackDoc, path_end: str) -> dict[str, Any]:
    (group,) = [g for g in groups(doc).values() if g["//"]["metadata"]["path"].endswith(path_end)]
    return dict(group["instance_refresh"]["preferences"])


def test_instance_refresh_replaces_a_fifth_bakes_then_the_rest(doc: StackDoc) -> None:
    for group in groups(doc).values():
        prefs = group["instance_refresh"]["preferences"]
        assert (prefs["checkpoint_percentages"], prefs["checkpoint_delay"]) == ([20, 100], "300")
        assert prefs["skip_matching"] is True


TARGET_GUARDS = ("unhealthy-hosts", "target-5xx")
# The servers' own metrics: a refresh to a slow, failing or load-shedding model rolls back too.
SERVER_GUARDS = ("model-p99-latency", "server-5xx-rate", "rejection-rate")


def test_instance_refresh_rolls_itself_back_when_the_fleets_own_alarms_fire(stacks: dict[str, StackDoc]) -> None:
    """The group's ALB alarms and its servers' own (latency, 5xx rate, rejection rate) guard
    its refresh; "metrics missing" does not (a rollback cannot fix a broken log pipeline)."""
    ha, tg = stacks["ha-failover"], stacks["target-groups"]
    names = alarm_names_by_path(ha)
    prefs = refresh_of(ha, "primary/servers/fleet/asg")
    assert prefs["auto_rollback"] is True
    assert prefs["alarm_specification"]["alarms"] == [
        names[f"primary/alarm-{k}"] for k in (*TARGET_GUARDS, *SERVER_GUARDS)
    ]
    names = alarm_names_by_path(tg)
    for key in ("stable", "canary"):
        prefs = refresh_of(tg, f"site/{key}/fleet/asg")
        assert prefs["auto_rollback"] is True
        assert prefs["alarm_specification"]["alarms"] == [
            names[f"site/alarm-{key}-{k}"] for k in (*TARGET_GUARDS, "client-error-rate", *SERVER_GUARDS)
        ]


def test_refresh_checkpoints_and_bake_come_from_settings_and_bad_plans_name_the_field() -> None:
    from modules.config import SettingsError
    from tests.conftest import settings_from

    fleet = settings_from({"RAI_FLEET_REFRESH_CHECKPOINTS": "10,50,100", "RAI_FLEET_REFRESH_BAKE_S": "600"}).fleet
    assert (fleet.refresh_checkpoints, fleet.refresh_bake_s) == ((10, 50, 100), 600)
    for bad in ("50,20,100", "20,50", "0,100", "20,x"):
        with pytest.raises(SettingsError, match=r"fleet\.refresh_checkpoints"):
            settings_from({"RAI_FLEET_REFRESH_CHECKPOINTS": bad})


def test_spot_capacity_is_rebalanced_and_mixed_with_an_on_demand_base(doc: StackDoc) -> None:
    for group in groups(doc).values():
        assert group["capacity_rebalance"] is True
        policy = group["mixed_instances_policy"]
        distribution = policy["instances_distribution"]
        assert distribution["on_demand_base_capacity"] == 1
        assert distribution["on_demand_percentage_above_base_capacity"] == 0
        assert distribution["spot_allocation_strategy"] == "capacity-optimized"
        types = [o["instance_type"] for o in policy["launch_template"]["override"]]
        assert types == ["c7i.large", "c6i.large", "c6a.large", "c5.large", "c5a.large"]


def test_every_group_has_a_termination_hook_so_instances_drain(doc: StackDoc) -> None:
    hooks = resources(doc, "aws_autoscaling_lifecycle_hook")
    assert len(hooks) == len(groups(doc))
    for hook in hooks:
        assert hook["lifecycle_transition"] == "autoscaling:EC2_INSTANCE_TERMINATING"
        assert hook["heartbeat_timeout"] == 120 and hook["default_result"] == "CONTINUE"


def test_groups_track_cpu_and_requests_per_target_of_their_own_target_group(doc: StackDoc) -> None:
    policies = [
        p
        for p in resources(doc, "aws_autoscaling_policy")
        if "predefined_metric_specification" in p["target_tracking_configuration"]
    ]
    assert len(policies) == 2 * len(groups(doc))
    by_metric: dict[str, list[dict[str, Any]]] = {}
    for p in policies:
        assert p["policy_type"] == "TargetTrackingScaling"
        spec = p["target_tracking_configuration"]["predefined_metric_specification"]
        by_metric.setdefault(spec["predefined_metric_type"], []).append(p)
    assert {p["target_tracking_configuration"]["target_value"] for p in by_metric["ASGAverageCPUUtilization"]} == {60}
    for p in by_metric["ALBRequestCountPerTarget"]:
        label = p["target_tracking_configuration"]["predefined_metric_specification"]["resource_label"]
        assert re.fullmatch(r"\$\{aws_lb\.[\w-]+\.arn_suffix\}/\$\{aws_lb_target_group\.[\w-]+\.arn_suffix\}", label)
        assert p["target_tracking_configuration"]["target_value"] == 1000
    labels = {
        p["target_tracking_configuration"]["predefined_metric_specification"]["resource_label"]
        for p in by_metric["ALBRequestCountPerTarget"]
    }
    assert len(labels) == len(groups(doc)), "each group scales on its own target group's requests"


# --- launch template and instance role ----------------------------------------------------


def test_launch_templates_are_al2023_from_ssm_with_imdsv2_encrypted_gp3_and_monitoring(doc: StackDoc) -> None:
    assert {d["name"] for d in doc["data"]["aws_ssm_parameter"].values()} == {AL2023_X86_64}
    for template in resources(doc, "aws_launch_template"):
        assert template["image_id"].startswith("${data.aws_ssm_parameter.")
        assert template["metadata_options"] == {
            "http_endpoint": "enabled",
            "http_tokens": "required",
            "http_put_response_hop_limit": 1,
        }
        ebs = template["block_device_mappings"][0]["ebs"]
        assert (ebs["volume_type"], ebs["encrypted"], ebs["delete_on_termination"]) == ("gp3", "true", "true")
        assert template["monitoring"] == {"enabled": True}
        assert {t["resource_type"] for t in template["tag_specifications"]} == {
            "instance",
            "volume",
            "network-interface",
        }


def test_instance_role_may_read_its_artifact_write_its_logs_and_use_session_manager_only(doc: StackDoc) -> None:
    attachments = resources(doc, "aws_iam_role_policy_attachment")
    templates = resources(doc, "aws_launch_template")
    assert [a["policy_arn"] for a in attachments] == ["arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore"] * len(
        templates
    )
    for policy in resources(doc, "aws_iam_role_policy"):
        statements = json.loads(policy["policy"])["Statement"]
        if statements[0].get("Sid") != "ReadArtifact":
            continue  # the VPC flow-log role
        sids = {s["Sid"]: s for s in statements}
        assert set(sids) == {"ReadArtifact", "DecryptTheArtifact", "WriteServerLogs", "AgentMetricsOnly"}
        assert sids["ReadArtifact"]["Action"] == "s3:GetObject"
        assert sids["ReadArtifact"]["Resource"].endswith("/model-server/*")
        assert sids["AgentMetricsOnly"]["Condition"] == {"StringEquals": {"cloudwatch:namespace": "CWAgent"}}
        assert "*" not in json.dumps([s["Action"] for s in statements])


def test_instances_accept_only_the_alb_on_the_server_port_and_send_only_https(doc: StackDoc) -> None:
    ingress = [r for r in resources(doc, "aws_vpc_security_group_ingress_rule") if "targets" in r["security_group_id"]]
    assert ingress and all(
        r["from_port"] == r["to_port"] == 8080 and "referenced_security_group_id" in r for r in ingress
    )
    egress = [r for r in resources(doc, "aws_vpc_security_group_egress_rule") if "targets" in r["security_group_id"]]
    assert [(r["from_port"], r["cidr_ipv4"]) for r in egress] == [(443, "0.0.0.0/0")]


def test_each_fleet_uploads_its_own_artifact_named_by_content_hash(doc: StackDoc) -> None:
    objects = resources(doc, "aws_s3_object")
    assert len(objects) == len(groups(doc))
    keys = [o["key"] for o in objects]
    assert len(set(keys)) == len(keys), "no two resources manage one object"
    for key in keys:
        assert re.fullmatch(r"artifacts/\w+/model-server/[0-9A-F]{32}\.zip", key)


def test_server_logs_go_to_a_kms_encrypted_log_group(doc: StackDoc) -> None:
    groups_ = [g for g in resources(doc, "aws_cloudwatch_log_group") if g["name"].startswith("/ec2/")]
    assert len(groups_) == len(groups(doc))
    assert all(g["kms_key_id"].startswith("${aws_kms_key.") and g["retention_in_days"] == 365 for g in groups_)


# --- props ----------------------------------------------------------------------------------


SERVER_SETTINGS = (
    "MAX_BODY_BYTES",
    "MAX_IN_FLIGHT",
    "MAX_BATCH_ROWS",
    "MAX_BATCH_SIZE",
    "MAX_BATCH_DELAY_MS",
    "INFER_THREADS",
    "KEEP_ALIVE_S",
)


def test_container_and_fleets_run_the_server_with_the_same_settings_and_a_keep_alive_beyond_the_albs(
    stacks: dict[str, StackDoc],
) -> None:
    """The same [model_server] settings mean the same server on Fargate and on EC2. Each server
    keeps idle connections open longer than its ALB: when the server closes first, the ALB can
    send a request on a connection being closed, and its client gets a 502."""
    (task,) = resources(stacks["model-serving"], "aws_ecs_task_definition")
    (container,) = json.loads(task["container_definitions"])
    envs = {"model-serving": {e["name"]: e["value"] for e in container["environment"]}}
    for name in FLEET_STACKS:
        script = deployed_script(stacks[name])
        block = re.search(r"<<'ENV'\n(.*?)\nENV", script, re.S)
        assert block, name
        envs[name] = dict(line.split("=", 1) for line in block.group(1).splitlines())
        envs[name] = {k: v.strip("'") for k, v in envs[name].items()}
    wanted = {k: envs["model-serving"][k] for k in SERVER_SETTINGS}
    assert wanted["MAX_BATCH_SIZE"] == "128" and wanted["INFER_THREADS"] == "1", "dynamic batching on by default"
    for name, env in envs.items():
        assert {k: env.get(k) for k in SERVER_SETTINGS} == wanted, name
        timeouts = [lb["idle_timeout"] for lb in resources(stacks[name], "aws_lb")]
        assert timeouts and all(int(env["KEEP_ALIVE_S"]) > t for t in timeouts), (name, timeouts)


def test_fleet_props_report_every_problem() -> None:
    with pytest.raises(ValueError) as info:
        FleetProps(
            name="",
            subnet_ids=["a"],
            instance_types=["m5.large"],
            min_size=3,
            max_size=2,
            desired_capacity=9,
            drain_s=5,
            cpu_target_percent=99,
            requests_per_target=10,
        )
    text = str(info.value)
    for name in (
        "name:",
        "subnet_ids:",
        "instance_types=",
        "min_size=",
        "desired_capacity=",
        "target_group_arns:",
        "drain_s=",
        "cpu_target_percent=",
        "requests_per_target:",
    ):
        assert name in text, name


def test_long_names_are_cut_to_aws_limit_with_a_stable_suffix() -> None:
    long = "a-twenty-char-projct-staging-tg-canary"
    assert len(short_name(long)) == 32 and short_name(long) == short_name(long) and short_name("ok") == "ok"
    assert short_name(long) != short_name(long.replace("canary", "stable"))


# --- the boot script, for real ------------------------------------------------------------


def _props(service: str = "demo") -> ModelServerFleetProps:
    return ModelServerFleetProps(
        name="demo",
        region="us-east-1",
        artifact_bucket="demo-bucket",
        artifact_bucket_arn="arn:aws:s3:::demo-bucket",
        kms_key_arn="arn:aws:kms:us-east-1:123456789012:key/x",
        security_group_ids=["sg-1"],
        fleet=FleetProps(
            name="demo", subnet_ids=["a", "b"], instance_types=["m5.large", "m6i.large"], target_group_arns=["arn:tg"]
        ),
        # what ModelServerRegion passes by default
        environment=server_environment(settings_from(), "ha-failover", service),
    )


ARTIFACT_KEY = "artifacts/demo/model-server/0123.zip"
TOKENS = {"aws_s3_bucket": "demo-bucket", "aws_s3_object": ARTIFACT_KEY, "aws_cloudwatch_log_group": "/ec2/demo"}


def deployed_script(doc: StackDoc) -> str:
    """The first launch template's user data, as Terraform will render it, tokens filled in."""
    value = resources(doc, "aws_launch_template")[0]["user_data"]
    inner = re.fullmatch(r'\$\{base64encode\("(.*)"\)\}', value, re.S)
    assert inner, value[:80]
    script = str(json.loads(f'"{inner.group(1)}"'))
    return re.sub(r"\$\{(\w+)\.[\w-]+\.\w+\}", lambda m: TOKENS[m.group(1)], script)


def render(tmp: Path, root: str = "", service: str = "demo") -> str:
    props = _props(service)
    return user_data(
        template_props(props, "/ec2/demo", "arn:log"), f"s3://demo-bucket/{ARTIFACT_KEY}", "us-east-1", root
    )


def test_the_rendered_script_is_the_deployed_one_and_differs_under_a_root_only_by_it(
    doc: StackDoc, tmp_path: Path
) -> None:
    # Each fleet publishes its metrics as a service of its own: the template's Name.
    service = resources(doc, "aws_launch_template")[0]["tags"]["Name"]
    assert render(tmp_path, service=service) == deployed_script(doc)
    root = str(tmp_path / "root")
    assert render(tmp_path, root).replace(root, "") == render(tmp_path)


def boot(tmp_path: Path) -> tuple[Path, BootRun]:
    """The boot script run under a temporary root against the stack's artifact: (root, run)."""
    from modules.core.source_archive import write_archive

    root, s3, work = tmp_path / "root", tmp_path / "s3", tmp_path / "work"
    script = render(tmp_path, str(root))
    parsed = subprocess.run(["bash", "-n"], input=script, text=True, capture_output=True, check=False)
    assert parsed.returncode == 0, parsed.stderr
    # The artifact as the stack packages it: the folder's source, zipped.
    artifact = s3 / "demo-bucket" / ARTIFACT_KEY
    artifact.parent.mkdir(parents=True)
    write_archive(SERVER_DIR, artifact)
    return root, run_boot_script(script, root, s3, work)


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_boot_script_parses_and_fetches_the_artifact_and_writes_a_restarting_unit(tmp_path: Path) -> None:
    root, run = boot(tmp_path)

    assert run.returncode == 0, run.stderr
    home = root / "opt/model-server"
    assert (home / "model_server/model_server/server.py").read_bytes() == (
        SERVER_DIR / "model_server/server.py"
    ).read_bytes()
    assert run.called("aws") == [
        f"s3 cp --region us-east-1 s3://demo-bucket/{ARTIFACT_KEY} {root}/tmp/model-server.zip"
    ]
    assert run.called("dnf") == ["install -y python3 python3.11 python3.11-pip amazon-cloudwatch-agent"]
    assert run.called("useradd") == ["--system --no-create-home --shell /sbin/nologin model-server"]
    setup = [c for c in run.calls if c.command == "python3.11"]
    assert {c.cwd for c in setup} == {str(home)}, "setup runs in the service's home"
    assert [c.args for c in setup] == [
        "-m pip install --quiet --target vendor -r model_server/requirements.txt",
        "-m pip install --quiet --target build -r model_server/requirements-build.txt",
        "model_server/train.py model_server/model_server/wine.onnx",
    ], "serving requirements vendored, the model built by train.py as in the image"
    assert run.called("systemctl") == ["daemon-reload", "enable --now model-server"]
    assert [c.command for c in run.calls][-3:] == ["amazon-cloudwatch-agent-ctl", "systemctl", "systemctl"]

    unit = unit_settings((root / "etc/systemd/system/model-server.service").read_text())
    assert unit["ExecStart"] == "/usr/bin/python3.11 -m model_server"
    assert (unit["User"], unit["WorkingDirectory"]) == ("model-server", "/opt/model-server")
    assert (unit["Restart"], unit["StartLimitIntervalSec"], unit["KillSignal"]) == ("always", "0", "SIGTERM")
    assert unit["TimeoutStopSec"] == "30" and unit["WantedBy"] == "multi-user.target"
    assert unit["EnvironmentFile"] == "/etc/model-server.env"
    env = dict(line.split("=", 1) for line in (root / "etc/model-server.env").read_text().splitlines() if line)
    assert env["PORT"] == "'8080'" and env["DRAIN_TIMEOUT_S"] == "'25'", "drains before the 30 s stop timeout"
    paths = env["PYTHONPATH"].strip("'").split(":")
    assert (root / paths[0].lstrip("/") / "model_server" / "__main__.py").is_file(), "`-m model_server` resolves"
    agent = json.loads((root / "opt/aws/amazon-cloudwatch-agent/etc/model-server.json").read_text())
    collect = agent["logs"]["logs_collected"]["files"]["collect_list"][0]
    assert collect["log_group_name"] == "/ec2/demo" and collect["file_path"] == "/var/log/model-server/model-server.log"


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_boot_script_ships_the_servers_metric_documents_through_the_agent_tailing_its_log(tmp_path: Path) -> None:
    """The server writes its EMF documents to stdout, systemd appends stdout to the log file,
    and the CloudWatch agent tails exactly that file into the fleet's own KMS log group, where
    CloudWatch Logs extracts the metrics (the agent flags the destination as EMF when a line
    holds ``CloudWatchMetrics``). No EMF listener: its documents would land in a log group the
    stack does not own (docs/metrics.md)."""
    root, run = boot(tmp_path)
    assert run.returncode == 0, run.stderr

    env = dict(line.split("=", 1) for line in (root / "etc/model-server.env").read_text().splitlines() if line)
    emf = {k: v.strip("'") for k, v in env.items() if k.startswith("EMF_")}
    assert emf == {
        "EMF_NAMESPACE": "ResilientAI/ModelServer",
        "EMF_INTERVAL_S": "10",
        "EMF_DISTRIBUTION": "values_counts",
        "EMF_SERVICE": "demo",
        "EMF_SINK": "stdout",
    }
    unit = unit_settings((root / "etc/systemd/system/model-server.service").read_text())
    log_file = unit["StandardOutput"].removeprefix("append:")
    assert unit["StandardOutput"] == f"append:{log_file}" and log_file.startswith("/var/log/model-server/")
    agent = json.loads((root / "opt/aws/amazon-cloudwatch-agent/etc/model-server.json").read_text())
    assert agent["logs"]["logs_collected"]["files"]["collect_list"] == [
        {"file_path": log_file, "log_group_name": "/ec2/demo", "log_stream_name": "{instance_id}"}
    ]
    assert "metrics_collected" not in agent["logs"], "no EMF listener: the documents travel in the log file"
