"""Everything that exists only for a local AWS emulator, in one place.

Nothing here runs unless ``settings.emulator_endpoint`` is set, so a real-AWS synth
never changes because of it (``tests/test_emulator_adjustments.py`` compares the two
synths and allows differences only at the paths this module declares).

Two kinds of entries:

* *pointing*: the AWS provider and the S3 backend talk to the emulator's endpoint
  (path-style S3, no credential, account or region checks);
* *adjustments*: the few resource arguments changed because the emulator lacks a
  feature or the round trip (apply, plan, destroy) needs it. Each carries its reason;
  the README table is generated from :data:`ADJUSTMENTS`.

Nothing here lifts the protection of an unprotected environment's stores: they are built to go
with their data (:func:`modules.stack.base.store_teardown`), so its round trip destroys them as
AWS would. Only a protected environment's round trip has its ``prevent_destroy`` and deletion
protection lifted (``protected_only``), because a round trip ends with destroy.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cdktf import TerraformDataSource, TerraformResource, TerraformStack
from cdktf_cdktf_provider_aws.provider import AwsProviderEndpoints

# Every AWS service the stacks use; the provider sends each to the emulator.
SERVICES = (
    "acm",
    "applicationautoscaling",
    "autoscaling",
    "cloudwatch",
    "dynamodb",
    "ec2",
    "codedeploy",
    "ecr",
    "ecs",
    "elbv2",
    "events",
    "fis",
    "iam",
    "kinesis",
    "kms",
    "lambda_",
    "logs",
    "route53",
    "s3",
    "scheduler",
    "servicequotas",
    "sns",
    "sqs",
    "ssm",
    "sts",
    "wafv2",
)


def provider_config(endpoint: str) -> dict[str, Any]:
    """AWS provider arguments that send every call to the emulator."""
    return {
        # The struct, not a dict: only it maps the Python name ``lambda_`` to ``lambda``.
        "endpoints": [AwsProviderEndpoints(**{service: endpoint for service in SERVICES})],
        "s3_use_path_style": True,
        "skip_credentials_validation": True,
        "skip_requesting_account_id": True,
        "skip_region_validation": True,
        "skip_metadata_api_check": "true",
    }


def backend_config(endpoint: str) -> dict[str, Any]:
    """S3 backend arguments that keep state (and its lock file) in the emulator's S3."""
    return {
        "endpoints": {"s3": endpoint, "sts": endpoint, "iam": endpoint, "dynamodb": endpoint},
        "use_path_style": True,
        "skip_credentials_validation": True,
        "skip_requesting_account_id": True,
        "skip_region_validation": True,
        "skip_metadata_api_check": True,
    }


def local_state_path(stack_name: str) -> str:
    """Relative to the synthesized stack directory: never the project's real state file."""
    return f"terraform.{stack_name}.tfstate"


# JSON paths (dotted, under the stack document) that pointing may change.
POINTING_PATHS = (
    "provider.aws.*.endpoints",
    "provider.aws.*.s3_use_path_style",
    "provider.aws.*.skip_credentials_validation",
    "provider.aws.*.skip_requesting_account_id",
    "provider.aws.*.skip_region_validation",
    "provider.aws.*.skip_metadata_api_check",
    "terraform.backend.local.path",
    "terraform.backend.s3.endpoints",
    "terraform.backend.s3.use_path_style",
    "terraform.backend.s3.skip_credentials_validation",
    "terraform.backend.s3.skip_requesting_account_id",
    "terraform.backend.s3.skip_region_validation",
    "terraform.backend.s3.skip_metadata_api_check",
)


@dataclass(frozen=True)
class Adjustment:
    """One emulator-only change to a resource type (or the provider), with its reason."""

    target: str  # a Terraform resource type, "data.<type>" for a data source, or "provider" for the AWS provider
    overrides: tuple[tuple[str, Any], ...]
    reason: str
    stacks: tuple[str, ...] = ()  # only in these stacks; empty = every stack
    protected_only: bool = False  # only in a protected environment: lifts what protects its stores

    def applies(self, stack_name: str, protected: bool) -> bool:
        return (not self.stacks or stack_name in self.stacks) and (protected or not self.protected_only)

    def paths(self) -> list[str]:
        """JSON paths this adjustment may change (for the comparison test)."""
        if self.target == "provider":
            return [f"provider.aws.*.{key}" for key, _ in self.overrides]
        if self.target.startswith("data."):
            return [f"{self.target}.*.{key}" for key, _ in self.overrides]
        return [f"resource.{self.target}.*.{key}" for key, _ in self.overrides]


ADJUSTMENTS: tuple[Adjustment, ...] = (
    Adjustment(
        "provider",
        (("max_retries", 5),),
        "moto lacks a few APIs the provider calls (e.g. ListTagsForResource for "
        "application autoscaling); with the default 25 retries such a gap hangs for "
        "minutes instead of failing fast. Five attempts, not two: werkzeug closes every "
        "connection, and the SDK sometimes fails to read a response on one (seen: two "
        "GetKeyPolicy attempts in a row, 'use of closed network connection'); a retry is "
        "safe because the emulator replays a retried call's first response",
    ),
    Adjustment(
        "aws_s3_bucket",
        (("lifecycle.prevent_destroy", False), ("force_destroy", True)),
        "the round trip of a protected environment ends with destroy: its buckets that hold state "
        "or data (versioned, so never empty) must be deletable there, and never are on AWS",
        protected_only=True,
    ),
    Adjustment(
        "aws_s3_bucket_lifecycle_configuration",
        (("rule.0.noncurrent_version_expiration.0.newer_noncurrent_versions", None),),
        "moto does not store NewerNoncurrentVersions, so the provider waits 3 minutes "
        "for a read-back that never matches, then fails",
    ),
    Adjustment(
        "aws_sqs_queue",
        (("lifecycle.ignore_changes", ["redrive_policy"]),),
        "moto returns the redrive policy re-serialised with spaces, so every plan shows a "
        "whitespace-only change; the deployed policy is checked by the round trip instead",
    ),
    Adjustment(
        "aws_appautoscaling_target",
        (("count", 0),),
        "left out: moto lacks ListTagsForResource for application autoscaling, so the provider "
        "cannot read the target back; the policies' ids are literal strings, so they stay valid",
    ),
    Adjustment(
        "aws_appautoscaling_policy",
        (("count", 0),),
        "left out with their scalable target (above); matchers and `terraform validate` cover both",
    ),
    Adjustment(
        "terraform_data",
        (("count", 0),),
        "left out: the image build-and-push step runs docker and the AWS CLI, and moto runs "
        "no containers; the task definition still names the hash-tagged image (set "
        "`serving.image_uri` to deploy a given image instead). Likewise the Lambda canary's "
        "shift (`aws deploy create-deployment`): moto runs no deployments; the alias stays on "
        "the first version",
    ),
    *(
        Adjustment(
            rtype,
            (("count", 0),),
            "left out: moto 5.2.5 has no DeleteApplication / DeleteDeploymentGroup (500), so the round "
            "trip's destroy fails; they apply and read back cleanly. The alias, the published version and "
            "the triggers on the alias are deployed; matchers and `terraform validate` cover both",
        )
        for rtype in ("aws_codedeploy_app", "aws_codedeploy_deployment_group")
    ),
    Adjustment(
        "aws_lambda_event_source_mapping",
        (("lifecycle.ignore_changes", ["function_name"]),),
        "moto reads a mapping on the `live` alias back as the ARN of the version the alias is on, "
        "so every plan would move it back to the alias; the round trip checks the mapping's "
        "qualified target instead",
    ),
    Adjustment(
        "aws_spot_fleet_request",
        (("spot_price", "0.5"), ("lifecycle.ignore_changes", "all")),
        "with only `launch_template_config` moto returns no SpotPrice and the provider crashes "
        "reading the request back; a top-level price avoids that, but moto reads back none of "
        "the fleet's settings, so every plan would replace it. The fleet's properties are "
        "asserted by the synth matchers and `terraform validate`",
    ),
    Adjustment(
        "data.aws_servicequotas_service_quota",
        (("count", 0),),
        "left out: moto 5.2.5 knows only VPC quotas, so reading Lambda's concurrent executions quota "
        "fails the plan; its postcondition is evaluated on a recorded answer instead "
        "(tests/test_plan_time_checks.py, `terraform test`)",
    ),
    Adjustment(
        "aws_kinesis_stream",
        (("lifecycle.ignore_changes", ["tags", "tags_all"]),),
        "moto does not read back tags given at stream creation, so every plan would add them again",
    ),
    Adjustment(
        "aws_launch_template",
        (("lifecycle.ignore_changes", ["tag_specifications"]),),
        "moto reads back an extra `tag_specifications` block (resource type `launch-template`, "
        "the template's own tags), so every plan would remove it and bump the version",
    ),
    Adjustment(
        "aws_autoscaling_group",
        (("lifecycle.ignore_changes", ["default_instance_warmup", "instance_maintenance_policy"]),),
        "moto does not read back `default_instance_warmup` and `instance_maintenance_policy`",
    ),
    Adjustment(
        "aws_autoscaling_lifecycle_hook",
        (("lifecycle.ignore_changes", ["notification_target_arn", "role_arn"]),),
        "moto answers DescribeLifecycleHooks with a fixed SQS queue and role that were never "
        "set, so every plan would remove them",
    ),
    Adjustment(
        "aws_autoscaling_policy",
        (("lifecycle.ignore_changes", ["enabled", "predictive_scaling_configuration"]),),
        "moto does not read back `enabled` (it reports false) and adds an empty predictive "
        "scaling block to target tracking policies",
    ),
    Adjustment(
        "aws_ecs_service",
        (
            (
                "lifecycle.ignore_changes",
                [
                    "desired_count",  # as on AWS: autoscaling owns it
                    "capacity_provider_strategy",
                    "availability_zone_rebalancing",
                    "enable_ecs_managed_tags",
                    "health_check_grace_period_seconds",
                    "deployment_controller",
                    "alarms",  # moto keeps no deployment configuration
                    "tags",
                ],
            ),
        ),
        "moto does not read these service fields back, so every plan would show them as "
        "changed, and a changed `capacity_provider_strategy` replaces the service",
    ),
    Adjustment(
        "aws_vpc_security_group_ingress_rule",
        (("lifecycle.ignore_changes", ["referenced_security_group_id", "description"]),),
        "moto returns a referenced group as `<account>/<sg-id>` and drops the rule's "
        "description, so rules between security groups never converge",
    ),
    Adjustment(
        "aws_vpc_security_group_egress_rule",
        (("lifecycle.ignore_changes", ["referenced_security_group_id", "description"]),),
        "as for ingress rules: moto's read-back of group-to-group rules differs",
    ),
    Adjustment(
        "aws_kms_key",
        (("lifecycle.prevent_destroy", False), ("deletion_window_in_days", 7)),
        "the round trip of a protected environment ends with destroy; its keys are protected on AWS",
        protected_only=True,
    ),
    Adjustment(
        "aws_dynamodb_table",
        (("lifecycle.prevent_destroy", False), ("deletion_protection_enabled", False)),
        "the round trip of a protected environment ends with destroy; its tables are protected on AWS",
        protected_only=True,
    ),
    Adjustment(
        "aws_lb",
        (("enable_deletion_protection", False),),
        "the round trip of a protected environment ends with destroy; its load balancers are protected on AWS",
        protected_only=True,
    ),
    # The other stateful types the stacks use; a test checks that every resource of
    # modules.policy.rules.STATEFUL_TYPES in any stack has a prevent_destroy adjustment.
    *(
        Adjustment(
            rtype,
            (("lifecycle.prevent_destroy", False),),
            "the round trip of a protected environment ends with destroy; these hold data and are protected there",
            protected_only=True,
        )
        for rtype in ("aws_kinesis_stream", "aws_sqs_queue", "aws_ecr_repository")
    ),
)


def adjustment_paths(protected: bool = True) -> list[str]:
    """The JSON paths the emulator may change in a stack of a (un)protected environment."""
    return [*POINTING_PATHS, *(p for a in ADJUSTMENTS if protected or not a.protected_only for p in a.paths())]


def apply_adjustments(stack: TerraformStack, protected: bool) -> None:
    """Apply :data:`ADJUSTMENTS` to every matching resource of ``stack`` (``protected``: whether
    its environment is).

    Called by the stack base only when the emulator endpoint is set.
    """
    by_type: dict[str, list[Adjustment]] = {}
    for adj in ADJUSTMENTS:
        if adj.applies(stack.node.id, protected):
            by_type.setdefault(adj.target, []).append(adj)
    for node in stack.node.find_all():
        if isinstance(node, TerraformResource):
            key = node.terraform_resource_type
        elif isinstance(node, TerraformDataSource):
            key = f"data.{node.terraform_resource_type}"
        else:
            continue
        for adj in by_type.get(key, ()):
            for path, value in adj.overrides:
                node.add_override(path, value)


def provider_adjustments() -> dict[str, Any]:
    """Provider arguments from :data:`ADJUSTMENTS` (target ``"provider"``)."""
    return {k: v for a in ADJUSTMENTS if a.target == "provider" for k, v in a.overrides}


def adjustments_table() -> str:
    """The README table of emulator-only adjustments."""
    rows = ["| applies to | change (emulator only) | why |", "|---|---|---|"]
    rows.append(
        "| AWS provider, S3 backend | endpoints -> emulator, path-style S3, skip "
        "credential/account/region/metadata checks | pointing: the emulator is not AWS |"
    )
    rows.append(
        "| local backend (`state` stack) | state file inside the synthesized stack "
        "directory instead of the project root | an emulator run never touches the real "
        "bootstrap state |"
    )
    for adj in ADJUSTMENTS:
        change = ", ".join(f"`{k} = {_hcl(v)}`" for k, v in adj.overrides)
        target = "AWS provider" if adj.target == "provider" else f"`{adj.target}`"
        if adj.stacks:
            target += " in " + ", ".join(f"`{name}`" for name in adj.stacks)
        if adj.protected_only:
            target += ", protected environments only"
        rows.append(f"| {target} | {change} | {adj.reason} |")
    return "\n".join(rows)


def _hcl(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)
