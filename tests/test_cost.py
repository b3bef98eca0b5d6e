"""`make cost`: the counting rules on small hand-written synth JSON, the price table, the
classification of every synthesized resource type, and the freshness of docs/cost.md."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from modules.policy.document import StackDocument
from tests.conftest import StackDoc, load_stacks, shared_synth
from tools.cost.__main__ import DOC, fresh_doc
from tools.cost.kinds import KINDS
from tools.cost.prices import PRICES_FILE, load_prices
from tools.cost.report import StackCost, UnclassifiedError, money, stack_cost, unclassified
from tools.cost.rules import SPOT_EC2, SPOT_FARGATE, capacity_shares

PRICES = load_prices()
HOURS = PRICES.hours_per_month


def _cost(resources: dict[str, Any]) -> StackCost:
    return stack_cost(StackDocument("probe", {"resource": resources}), PRICES)


def _quantities(cost: StackCost) -> dict[tuple[str, str], float]:
    return {(line.kind, line.price): line.quantity for line in cost.lines}


# --- the generated page and the classification ---------------------------------------------


def test_checked_in_cost_tables_are_what_the_default_synth_gives(stacks: dict[str, StackDoc]) -> None:
    """docs/cost.md shows the defaults: a stack or price change without `make docs` fails here."""
    fresh = fresh_doc([StackDocument(name, doc) for name, doc in stacks.items()])
    assert DOC.read_text() == fresh, "docs/cost.md is stale: run `make cost` or `make docs`"


def test_the_readme_quotes_the_default_deploys_current_total(stacks: dict[str, StackDoc]) -> None:
    """The README names the defaults' fixed cost: a change that moves it must move the README too."""
    total = sum(stack_cost(StackDocument(name, doc), PRICES).total for name, doc in stacks.items())
    readme = (DOC.parents[1] / "README.md").read_text()
    assert money(total) in readme, f"README.md should quote the default deploy's {money(total)} a month"


@pytest.fixture(scope="session")
def delivery_variant(tmp_path_factory: pytest.TempPathFactory) -> dict[str, StackDoc]:
    """The two options no shared synth covers: direct S3 -> Lambda delivery (a permission and
    an async invoke config) and the stream workers as an Auto Scaling group."""
    env = {"RAI_EVENT_PROCESSING_DELIVERY": "direct", "RAI_STREAM_FLEET_KIND": "asg"}
    only = ["event-processing", "stream-analytics"]
    return load_stacks(shared_synth(tmp_path_factory, "cost-variant", env, only=only))


def test_every_resource_type_of_every_synth_is_priced_usage_only_or_free(
    stacks: dict[str, StackDoc],
    public_stacks: dict[str, StackDoc],
    fleet_variant: dict[str, StackDoc],
    delivery_variant: dict[str, StackDoc],
) -> None:
    """A new resource type cannot be silently free: it must be classified in tools/cost/kinds.py.
    Every stack of every variant is also counted, so each instance type and price it needs exists."""
    synths = {"default": stacks, "public": public_stacks, "fleet-variant": fleet_variant, "delivery": delivery_variant}
    docs = [StackDocument(f"{variant}/{name}", doc) for variant, by in synths.items() for name, doc in by.items()]
    assert unclassified(docs) == {}
    costs = {doc.name: stack_cost(doc, PRICES) for doc in docs}
    # The variants' own priced resources are counted: the WAF in public, the second region and
    # its health checks in fleet-variant, the workers' group in delivery.
    assert {ln.kind for ln in costs["public/model-serving"].lines} >= {"WAF web ACL", "WAF rule"}
    assert ("Route 53 health check", "route53_health_check_aws") in _quantities(costs["fleet-variant/ha-failover"])
    assert costs["fleet-variant/ha-failover"].elsewhere > 0, "the secondary region's resources are flagged"
    assert _quantities(costs["delivery/stream-analytics"])[(SPOT_EC2, "ec2:c7i.large")] == 3


def test_a_type_nobody_classified_stops_the_count_naming_it() -> None:
    with pytest.raises(UnclassifiedError, match="aws_shiny_new_thing"):
        _cost({"aws_shiny_new_thing": {"x": {}}, "aws_nat_gateway": {"n": {}}})


def test_every_usage_price_a_kind_names_is_in_the_table_and_each_price_has_its_page() -> None:
    named = {key for kind in KINDS.values() for key in kind.usage}
    assert named - set(PRICES.usage) == set()
    assert all(p.page.startswith("https://aws.amazon.com/") for p in [*PRICES.fixed.values(), *PRICES.usage.values()])
    assert all(kind.rule or kind.usage or kind.note for kind in KINDS.values()), "a free type says why"


def test_a_malformed_price_table_names_every_bad_entry(tmp_path: Path) -> None:
    bad = tmp_path / "prices.toml"
    bad.write_text(
        'region = "us-east-1"\nhours_per_month = 730\n'
        '[fixed.a]\nusd = 1\nper = "day"\nunit = "x"\npage = "https://aws.amazon.com/a/"\n'
        '[usage.b]\nusd = 1\nunit = "GB"\n'
    )
    with pytest.raises(ValueError) as err:
        load_prices(bad)
    assert "fixed.a" in str(err.value) and "usage.b" in str(err.value) and "date: missing" in str(err.value)


# --- counting rules ----------------------------------------------------------------------------


def test_each_nat_gateway_and_each_elastic_ip_is_counted_by_the_hour() -> None:
    cost = _cost({"aws_nat_gateway": {f"nat{i}": {} for i in range(3)}, "aws_eip": {f"e{i}": {} for i in range(3)}})
    assert _quantities(cost) == {("NAT gateway", "nat_gateway"): 3, ("public IPv4 address", "public_ipv4"): 3}
    assert cost.total == pytest.approx(3 * 0.045 * HOURS + 3 * 0.005 * HOURS)


def test_a_resources_count_multiplies_it_and_count_zero_costs_nothing() -> None:
    assert _cost({"aws_nat_gateway": {"off": {"count": 0}}}).total == 0
    assert _quantities(_cost({"aws_nat_gateway": {"n": {"count": 2}}})) == {("NAT gateway", "nat_gateway"): 2}
    with pytest.raises(ValueError, match="cannot count the copies"):
        _cost({"aws_nat_gateway": {"n": {"for_each": "${toset(var.azs)}"}}})


def test_an_internet_facing_load_balancer_holds_a_public_address_per_subnet() -> None:
    subnets = ["${aws_subnet.a.id}", "${aws_subnet.b.id}", "${aws_subnet.c.id}"]
    public = _quantities(_cost({"aws_lb": {"lb": {"internal": False, "subnets": subnets}}}))
    internal = _quantities(_cost({"aws_lb": {"lb": {"internal": True, "subnets": subnets}}}))
    assert public == {("load balancer", "alb"): 1, ("public IPv4 address", "public_ipv4"): 3}
    assert internal == {("load balancer", "alb"): 1}
    with pytest.raises(ValueError, match="cannot count the subnets"):  # not the length of the string
        _cost({"aws_lb": {"lb": {"internal": False, "subnets": "${data.aws_subnets.public.ids}"}}})


def test_an_interface_endpoint_is_counted_per_az_and_a_gateway_endpoint_is_free() -> None:
    cost = _cost(
        {
            "aws_vpc_endpoint": {
                "s3": {"vpc_endpoint_type": "Gateway"},
                "ecr": {"vpc_endpoint_type": "Interface", "subnet_ids": ["${aws_subnet.a.id}", "${aws_subnet.b.id}"]},
            }
        }
    )
    assert _quantities(cost) == {("interface endpoint (per AZ)", "interface_endpoint_az"): 2}


def test_capacity_providers_take_their_base_first_then_split_the_rest_by_weight() -> None:
    strategy = [
        {"capacity_provider": "FARGATE", "base": 2, "weight": 1},
        {"capacity_provider": "FARGATE_SPOT", "base": 0, "weight": 3},
    ]
    assert capacity_shares(10, strategy) == {"FARGATE": 4.0, "FARGATE_SPOT": 6.0}
    assert capacity_shares(1, strategy) == {"FARGATE": 1.0, "FARGATE_SPOT": 0.0}, "fewer tasks than the base"


TASK = {"cpu": "512", "memory": "1024", "ephemeral_storage": {"size_in_gib": 30}}


def test_a_fargate_service_costs_tasks_times_the_tasks_vcpu_and_gb_spot_share_flagged() -> None:
    """The default model-serving shape: 2 tasks, FARGATE base 1, then FARGATE_SPOT 3 to 1."""
    service = {
        "desired_count": 2,
        "task_definition": "${aws_ecs_task_definition.task.arn}",
        "capacity_provider_strategy": [
            {"capacity_provider": "FARGATE", "base": 1, "weight": 1},
            {"capacity_provider": "FARGATE_SPOT", "base": 0, "weight": 3},
        ],
    }
    cost = _cost({"aws_ecs_service": {"s": service}, "aws_ecs_task_definition": {"task": TASK}})
    q = _quantities(cost)
    assert q[("Fargate", "fargate_vcpu_x86")] == pytest.approx(1.25 * 0.5)
    assert q[("Fargate", "fargate_gb_x86")] == pytest.approx(1.25 * 1.0)
    assert q[(SPOT_FARGATE, "fargate_vcpu_x86")] == pytest.approx(0.75 * 0.5)
    assert q[("Fargate", "fargate_ephemeral_gb")] == pytest.approx(1.25 * 10), "only the GB above the free 20"
    per_task_hour = 0.5 * 0.04048 + 1.0 * 0.004445 + 10 * 0.000111
    assert cost.total == pytest.approx(2 * per_task_hour * HOURS)
    assert cost.spot == pytest.approx(0.75 * per_task_hour * HOURS)


def test_a_fargate_service_without_a_strategy_uses_its_clusters_default_and_arm_prices() -> None:
    arm = {**TASK, "runtime_platform": {"cpu_architecture": "ARM64"}}
    cost = _cost(
        {
            "aws_ecs_cluster": {"c": {"name": "c"}},
            "aws_ecs_cluster_capacity_providers": {
                "cp": {
                    "cluster_name": "${aws_ecs_cluster.c.name}",
                    "default_capacity_provider_strategy": [{"capacity_provider": "FARGATE_SPOT", "weight": 1}],
                }
            },
            "aws_ecs_service": {
                "s": {
                    "desired_count": 4,
                    "cluster": "${aws_ecs_cluster.c.arn}",
                    "task_definition": "${aws_ecs_task_definition.t.arn}",
                }
            },
            "aws_ecs_task_definition": {"t": arm},
        }
    )
    assert _quantities(cost)[(SPOT_FARGATE, "fargate_vcpu_arm")] == pytest.approx(4 * 0.5)


def test_an_ec2_launch_type_service_costs_nothing_itself() -> None:
    """Its instances are priced on their Auto Scaling group, not twice."""
    service = {"desired_count": 3, "launch_type": "EC2", "task_definition": "${aws_ecs_task_definition.t.arn}"}
    assert _cost({"aws_ecs_service": {"s": service}, "aws_ecs_task_definition": {"t": TASK}}).lines == ()


TEMPLATE = {
    "instance_type": "t3.large",
    "monitoring": {"enabled": True},
    "block_device_mappings": [{"device_name": "/dev/xvda", "ebs": {"volume_size": 20, "volume_type": "gp3"}}],
}
LT_SPEC = {"launch_template_id": "${aws_launch_template.lt.id}", "version": "${aws_launch_template.lt.latest_version}"}
OVERRIDES = [{"instance_type": "c6i.large"}, {"instance_type": "m7i.large"}]


def test_an_auto_scaling_group_counts_on_demand_at_the_first_type_and_spot_at_the_dearest() -> None:
    """desired 4, on-demand base 1 and 50 % above it: 2.5 on-demand (c6i.large, first), 1.5 spot
    at their ceiling (m7i.large, the dearest type they may land on); each with 20 GB and monitoring."""
    asg = {
        "min_size": 2,
        "desired_capacity": 4,
        "mixed_instances_policy": {
            "instances_distribution": {"on_demand_base_capacity": 1, "on_demand_percentage_above_base_capacity": 50},
            "launch_template": {"launch_template_specification": LT_SPEC, "override": OVERRIDES},
        },
    }
    cost = _cost({"aws_autoscaling_group": {"g": asg}, "aws_launch_template": {"lt": TEMPLATE}})
    assert _quantities(cost) == {
        ("EC2 on-demand", "ec2:c6i.large"): 2.5,
        (SPOT_EC2, "ec2:m7i.large"): 1.5,
        ("EBS volumes", "ebs_gp3_gb"): 80,
        ("EC2 detailed monitoring", "ec2_detailed_monitoring"): 4,
    }
    assert cost.spot == pytest.approx(1.5 * 0.1008 * HOURS)


def test_a_plain_auto_scaling_group_runs_min_size_on_demand_instances_of_its_templates_type() -> None:
    asg = {"min_size": 2, "max_size": 6, "launch_template": {"id": "${aws_launch_template.lt.id}"}}
    cost = _cost({"aws_autoscaling_group": {"g": asg}, "aws_launch_template": {"lt": TEMPLATE}})
    assert _quantities(cost)[("EC2 on-demand", "ec2:t3.large")] == 2
    assert cost.spot == 0


def test_a_spot_fleet_takes_the_cheapest_type_on_demand_and_the_rest_as_spot() -> None:
    fleet = {
        "target_capacity": 3,
        "on_demand_target_capacity": 1,
        "launch_template_config": [
            {"launch_template_specification": {"id": "${aws_launch_template.lt.id}"}, "overrides": OVERRIDES[::-1]}
        ],
    }
    q = _quantities(_cost({"aws_spot_fleet_request": {"f": fleet}, "aws_launch_template": {"lt": TEMPLATE}}))
    assert q[("EC2 on-demand", "ec2:c6i.large")] == 1 and q[(SPOT_EC2, "ec2:m7i.large")] == 2


def test_an_instance_type_without_a_price_is_an_error_naming_it_and_the_table() -> None:
    asg = {"min_size": 1, "launch_template": {"id": "${aws_launch_template.lt.id}"}}
    with pytest.raises(ValueError, match=rf"'x9.huge'.*{PRICES_FILE.name}"):
        _cost({"aws_autoscaling_group": {"g": asg}, "aws_launch_template": {"lt": {"instance_type": "x9.huge"}}})


def test_alarms_are_billed_per_metric_at_standard_or_high_resolution() -> None:
    """As AWS bills: a metric-math alarm per metric (not per expression), an anomaly band three
    per metric, any period under 60 s high resolution."""

    def metric(period: int) -> dict[str, Any]:
        return {"metric": {"namespace": "N", "metric_name": "M", "period": period, "stat": "Sum"}}

    alarms = {
        "plain": {"metric_name": "Errors", "period": 60},
        "math": {
            "metric_query": [
                {"id": "a", **metric(60)},
                {"id": "b", **metric(60)},
                {"id": "e", "expression": "a - b", "return_data": True},
            ]
        },
        "fast": {"metric_name": "Errors", "period": 10},
        "band": {
            "metric_query": [{"id": "m", **metric(300)}, {"id": "ad", "expression": "ANOMALY_DETECTION_BAND(m, 2)"}]
        },
    }
    q = _quantities(_cost({"aws_cloudwatch_metric_alarm": alarms}))
    assert q == {
        ("CloudWatch alarm metric", "alarm_metric_standard"): 1 + 2 + 3,
        ("CloudWatch alarm metric", "alarm_metric_high_resolution"): 1,
    }


def test_a_web_acl_pays_for_itself_and_each_rule() -> None:
    rules = [
        {"name": "rate"},
        {"name": "bot", "statement": {"managed_rule_group_statement": {"name": "AWSManagedRulesBotControlRuleSet"}}},
    ]
    q = _quantities(_cost({"aws_wafv2_web_acl": {"acl": {"rule": rules}}}))
    assert q == {
        ("WAF web ACL", "waf_web_acl"): 1,
        ("WAF rule", "waf_rule"): 2,
        ("WAF paid managed rule group", "waf_paid_managed_group"): 1,
    }


def test_a_kinesis_stream_by_stream_hour_on_demand_or_by_shard_provisioned() -> None:
    on_demand = {"stream_mode_details": {"stream_mode": "ON_DEMAND"}, "shard_level_metrics": ["IncomingBytes"]}
    provisioned = {"shard_count": 2, "retention_period": 48, "shard_level_metrics": ["IncomingBytes", "OutgoingBytes"]}
    assert _quantities(_cost({"aws_kinesis_stream": {"s": on_demand}})) == {
        ("Kinesis stream", "kinesis_on_demand_stream"): 1
    }, "an on-demand stream's shard metrics are usage: AWS sets its shard count"
    assert _quantities(_cost({"aws_kinesis_stream": {"s": provisioned}})) == {
        ("Kinesis stream", "kinesis_shard"): 2,
        ("Kinesis stream", "kinesis_extended_retention_shard"): 2,
        ("Kinesis shard-level metrics", "custom_metric"): 4,
    }


def test_a_health_check_pays_its_base_and_each_option_aws_or_not() -> None:
    checks = {
        "alarm": {"type": "CLOUDWATCH_METRIC", "cloudwatch_alarm_name": "x"},
        "alb": {"type": "HTTPS_STR_MATCH", "fqdn": "${aws_lb.lb.dns_name}", "request_interval": 10},
        "site": {"type": "HTTP", "fqdn": "example.com"},
    }
    q = _quantities(_cost({"aws_route53_health_check": checks, "aws_lb": {"lb": {"internal": True}}}))
    assert q[("Route 53 health check", "route53_health_check_aws")] == 2
    assert q[("Route 53 health check", "route53_health_check_feature_aws")] == 3, "HTTPS, string match, 10 s"
    assert q[("Route 53 health check", "route53_health_check_other")] == 1


def test_on_demand_dynamodb_and_a_standard_parameter_have_no_fixed_cost() -> None:
    cost = _cost(
        {
            "aws_dynamodb_table": {
                "t": {"billing_mode": "PAY_PER_REQUEST"},
                "p": {"read_capacity": 5, "write_capacity": 2},
            },
            "aws_ssm_parameter": {"std": {"type": "String"}, "adv": {"tier": "Advanced"}},
        }
    )
    assert _quantities(cost) == {
        ("DynamoDB provisioned capacity", "dynamodb_rcu"): 5,
        ("DynamoDB provisioned capacity", "dynamodb_wcu"): 2,
        ("SSM advanced parameter", "ssm_advanced_parameter"): 1,
    }
