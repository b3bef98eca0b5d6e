"""A Lambda function's ``live`` alias, moved to each new version by a CodeDeploy canary.

The function publishes a version per code or configuration change; everything that
invokes it (an event source mapping, an S3 notification) targets the alias. The deploy
(``terraform apply``) starts one CodeDeploy deployment per new version: CodeDeploy sends a
share of the alias's invocations to the new version, waits, then shifts the rest, and
moves the alias back to the old version when the deployment fails or an alarm fires.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from cdktf import DataResource, LocalExecProvisioner, TerraformResourceLifecycle
from cdktf_cdktf_provider_aws.codedeploy_app import CodedeployApp
from cdktf_cdktf_provider_aws.codedeploy_deployment_group import (
    CodedeployDeploymentGroup,
    CodedeployDeploymentGroupAlarmConfiguration,
    CodedeployDeploymentGroupAutoRollbackConfiguration,
    CodedeployDeploymentGroupDeploymentStyle,
)
from cdktf_cdktf_provider_aws.iam_role import IamRole
from cdktf_cdktf_provider_aws.iam_role_policy import IamRolePolicy
from cdktf_cdktf_provider_aws.lambda_alias import LambdaAlias
from cdktf_cdktf_provider_aws.lambda_function import LambdaFunction
from constructs import Construct

from modules.blocks.iam import allow, assume_role_policy, policy_document

# CodeDeploy's predefined Lambda configurations: (traffic first shifted %, minutes until the rest).
LAMBDA_DEPLOYMENT_CONFIGS = {
    "CodeDeployDefault.LambdaCanary10Percent5Minutes": (10, 5),
    "CodeDeployDefault.LambdaCanary10Percent10Minutes": (10, 10),
    "CodeDeployDefault.LambdaCanary10Percent15Minutes": (10, 15),
    "CodeDeployDefault.LambdaCanary10Percent30Minutes": (10, 30),
    "CodeDeployDefault.LambdaLinear10PercentEvery1Minute": (10, 9),
    "CodeDeployDefault.LambdaLinear10PercentEvery2Minutes": (10, 18),
    "CodeDeployDefault.LambdaLinear10PercentEvery3Minutes": (10, 27),
    "CodeDeployDefault.LambdaLinear10PercentEvery10Minutes": (10, 90),
    "CodeDeployDefault.LambdaAllAtOnce": (100, 0),
}

# Runs in the synthesized stack directory at apply time, after the new version exists.
# CURRENT is the version the alias serves (read from AWS: the alias ignores version changes),
# TARGET the one just published. The apply waits for the shift and fails when it rolls back.
SHIFT_SCRIPT = """set -euo pipefail
if [ "$CURRENT" = "$TARGET" ]; then
  echo "alias $ALIAS of $FUNCTION already serves version $TARGET"
  exit 0
fi
REVISION=$(python3 - <<'PY'
import json, os
names = {"Name": "FUNCTION", "Alias": "ALIAS", "CurrentVersion": "CURRENT", "TargetVersion": "TARGET"}
props = {key: os.environ[var] for key, var in names.items()}
spec = {"version": 0.0, "Resources": [{"function": {"Type": "AWS::Lambda::Function", "Properties": props}}]}
print(json.dumps({"revisionType": "AppSpecContent", "appSpecContent": {"content": json.dumps(spec)}}))
PY
)
ID=$(aws deploy create-deployment --region "$REGION" --application-name "$APPLICATION" \
  --deployment-group-name "$GROUP" --revision "$REVISION" --query deploymentId --output text)
echo "CodeDeploy $ID shifts $FUNCTION:$ALIAS from version $CURRENT to $TARGET"
aws deploy wait deployment-successful --region "$REGION" --deployment-id "$ID"
"""


@dataclass(frozen=True, kw_only=True)
class LambdaCanaryProps:
    name: str  # the CodeDeploy application and deployment group
    region: str
    alias: str = "live"
    deployment_config_name: str = "CodeDeployDefault.LambdaCanary10Percent5Minutes"
    alarm_names: Sequence[str] = ()  # one firing stops the shift and moves the alias back

    def __post_init__(self) -> None:
        problems = []
        if not re.fullmatch(r"[A-Za-z0-9_.+@=,-]{1,100}", self.name):
            problems.append(f"name={self.name!r}: 1-100 letters, digits and _.+@=,-")
        if not re.fullmatch(r"(?!^[0-9]+$)[A-Za-z0-9_-]{1,128}", self.alias):
            problems.append(f"alias={self.alias!r}: 1-128 letters, digits, '-' or '_', not only digits")
        if self.deployment_config_name not in LAMBDA_DEPLOYMENT_CONFIGS:
            problems.append(
                f"deployment_config_name={self.deployment_config_name!r}: one of {', '.join(LAMBDA_DEPLOYMENT_CONFIGS)}"
            )
        if not self.alarm_names:
            problems.append("alarm_names: at least one alarm, or a bad version is never rolled back")
        if problems:
            raise ValueError("LambdaCanaryProps: " + "; ".join(problems))


class LambdaCanary(Construct):
    """The ``live`` alias of a published function and the CodeDeploy canary that moves it.

    Defaults that matter: the alias is created on the first version and then moved only by
    CodeDeploy (Terraform ignores its version, so an apply never jumps it); 10 % of the
    invocations for 5 minutes, then all; automatic rollback on a failed deployment and on
    an alarm (``alarm_names``); the CodeDeploy role may read and move this alias and read
    alarms, nothing else. The function must be created with ``publish = True``.
    """

    def __init__(self, scope: Construct, id: str, props: LambdaCanaryProps, *, function: LambdaFunction) -> None:
        # Unset or false (not an expression known only at apply): the function has no versions
        # and the alias would serve $LATEST, where every change reaches all traffic at once.
        if function.publish_input in (None, False):
            raise ValueError(
                f"LambdaCanary {id!r}: function {function.node.path}: publish={function.publish_input}: must be True "
                "(a version per change, for the canary to shift to)"
            )
        super().__init__(scope, id)
        self.props = props
        self.alias = LambdaAlias(
            self,
            "alias",
            name=props.alias,
            function_name=function.function_name,
            function_version=function.version,
            description="what every trigger invokes; CodeDeploy moves it to a new version",
            lifecycle=TerraformResourceLifecycle(ignore_changes=["function_version", "routing_config"]),
        )
        self.application = CodedeployApp(self, "application", name=props.name, compute_platform="Lambda")
        self.role = IamRole(
            self,
            "role",
            name_prefix="lambda-canary-",
            assume_role_policy=assume_role_policy("codedeploy.amazonaws.com"),
        )
        IamRolePolicy(
            self,
            "policy",
            role=self.role.id,
            policy=policy_document(
                allow("ShiftTheAlias", ["lambda:GetAlias", "lambda:UpdateAlias"], self.alias.arn),
                allow("ReadProvisionedConcurrency", "lambda:GetProvisionedConcurrencyConfig", f"{function.arn}:*"),
                # DescribeAlarms has no resource-level permissions.
                allow("WatchAlarms", "cloudwatch:DescribeAlarms", "*"),
            ),
        )
        self.group = CodedeployDeploymentGroup(
            self,
            "group",
            # Literal names, not the application's attributes: the emulator leaves both out
            # (modules/stack/emulator.py) and what refers to them must stay valid Terraform.
            app_name=props.name,
            deployment_group_name=props.name,
            service_role_arn=self.role.arn,
            deployment_config_name=props.deployment_config_name,
            deployment_style=CodedeployDeploymentGroupDeploymentStyle(
                deployment_option="WITH_TRAFFIC_CONTROL", deployment_type="BLUE_GREEN"
            ),
            auto_rollback_configuration=CodedeployDeploymentGroupAutoRollbackConfiguration(
                enabled=True, events=["DEPLOYMENT_FAILURE", "DEPLOYMENT_STOP_ON_ALARM"]
            ),
            alarm_configuration=CodedeployDeploymentGroupAlarmConfiguration(
                enabled=True, alarms=list(props.alarm_names)
            ),
            depends_on=[self.application],
        )
        self.shift = DataResource(
            self,
            "shift",
            # A new version replaces this resource, and its replacement runs the shift.
            triggers_replace={"version": function.version},
            depends_on=[self.group],
            provisioners=[
                LocalExecProvisioner(
                    type="local-exec",
                    command=SHIFT_SCRIPT,
                    interpreter=["bash", "-c"],
                    environment={
                        "REGION": props.region,
                        "APPLICATION": props.name,
                        "GROUP": props.name,
                        "FUNCTION": function.function_name,
                        "ALIAS": self.alias.name,
                        "CURRENT": self.alias.function_version,
                        "TARGET": function.version,
                    },
                )
            ],
        )

    @property
    def arn(self) -> str:
        """The alias ARN: what triggers invoke."""
        return self.alias.arn


def shift_minutes(deployment_config_name: str) -> tuple[int, int]:
    """(% of invocations the new version gets first, minutes until it gets all)."""
    return LAMBDA_DEPLOYMENT_CONFIGS[deployment_config_name]
