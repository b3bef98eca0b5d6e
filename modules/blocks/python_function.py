"""A Python Lambda function packaged from ``handlers/<name>/``, with its own role and logs."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cdktf import AssetType, Fn, TerraformAsset
from cdktf_cdktf_provider_aws.cloudwatch_log_group import CloudwatchLogGroup
from cdktf_cdktf_provider_aws.iam_role import IamRole
from cdktf_cdktf_provider_aws.iam_role_policy import IamRolePolicy
from cdktf_cdktf_provider_aws.lambda_function import (
    LambdaFunction,
    LambdaFunctionEnvironment,
    LambdaFunctionEphemeralStorage,
    LambdaFunctionTracingConfig,
)
from constructs import Construct

from modules.blocks.iam import allow, assume_role_policy, policy_document
from modules.core.input_rules import (
    KmsKeyArn,
    LambdaEnvironment,
    LambdaEphemeralStorageMib,
    LambdaMemoryMib,
    LogRetentionDays,
)
from modules.core.props_check import field_problems
from modules.core.source_archive import source_archive

# Runtimes provider 5.100.0 accepts that AWS still supports (python3.8 is deprecated).
RUNTIMES = ("python3.12", "python3.13")


@dataclass(frozen=True, kw_only=True)
class PythonFunctionProps:
    name: str
    code_dir: Path  # packaged as-is: the handler and everything it imports besides boto3
    kms_key_arn: KmsKeyArn  # encrypts the environment and the log group
    account_id: str
    partition: str = "aws"
    region: str
    handler: str = "handler.handler"
    runtime: str = "python3.12"
    memory_mib: LambdaMemoryMib = 1024
    timeout_s: int = 60
    ephemeral_storage_mib: LambdaEphemeralStorageMib = 512
    reserved_concurrency: int = 10  # caps cost and protects downstreams; never starves other functions
    publish: bool = False  # a numbered version per change (for an alias that a canary moves)
    log_retention_days: LogRetentionDays = 365
    environment: LambdaEnvironment = field(default_factory=dict)
    # Least privilege: everything the code may do, besides writing its own logs and traces.
    policy_statements: Sequence[dict[str, Any]] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        problems = field_problems(self)
        if not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", self.name):
            problems.append(f"name={self.name!r}: must be 1-64 letters, digits, '-' or '_'")
        if not (self.code_dir / f"{self.handler.rpartition('.')[0]}.py").is_file():
            problems.append(f"code_dir={self.code_dir}: has no module for handler {self.handler!r}")
        if self.runtime not in RUNTIMES:
            problems.append(f"runtime={self.runtime!r}: must be one of {', '.join(RUNTIMES)}")
        if not 1 <= self.timeout_s <= 900:
            problems.append(f"timeout_s={self.timeout_s}: must be 1-900")
        if self.reserved_concurrency < 1:
            problems.append(f"reserved_concurrency={self.reserved_concurrency}: must be >= 1")
        if problems:
            raise ValueError("PythonFunctionProps: " + "; ".join(problems))

    @property
    def log_group_name(self) -> str:
        return f"/aws/lambda/{self.name}"


class PythonFunction(Construct):
    """A Lambda function from a folder of Python code.

    Defaults that matter: the code is a deterministic zip (modules/core/source_archive.py) and
    ``source_code_hash`` is its base64 SHA-256, so an unchanged folder never shows a
    diff; its log group is created first (with retention and KMS), so the function
    never creates an unbounded, unencrypted one itself; X-Ray tracing active; reserved
    concurrency set; environment encrypted with the customer key; a role of its own
    that may write only its log group and traces plus ``policy_statements``.
    """

    def __init__(self, scope: Construct, id: str, props: PythonFunctionProps) -> None:
        super().__init__(scope, id)
        asset = TerraformAsset(self, "code", path=str(source_archive(props.code_dir)), type=AssetType.FILE)
        log_group_arn = f"arn:{props.partition}:logs:{props.region}:{props.account_id}:log-group:{props.log_group_name}"
        self.log_group = CloudwatchLogGroup(
            self,
            "logs",
            name=props.log_group_name,
            retention_in_days=props.log_retention_days,
            kms_key_id=props.kms_key_arn,
        )
        self.role = IamRole(
            self,
            "role",
            name=props.name,
            assume_role_policy=assume_role_policy(
                "lambda.amazonaws.com", {"StringEquals": {"aws:SourceAccount": props.account_id}}
            ),
        )
        own: list[dict[str, Any]] = [
            allow("WriteOwnLogs", ["logs:CreateLogStream", "logs:PutLogEvents"], f"{log_group_arn}:*"),
            # X-Ray has no resource-level permissions for these two actions.
            allow("WriteTraces", ["xray:PutTraceSegments", "xray:PutTelemetryRecords"], "*"),
            allow("DecryptOwnEnvironment", "kms:Decrypt", props.kms_key_arn),
        ]
        self.policy = IamRolePolicy(
            self,
            "policy",
            role=self.role.id,
            name="least-privilege",
            policy=policy_document(*own, *props.policy_statements),
        )
        self.function = LambdaFunction(
            self,
            "function",
            function_name=props.name,
            role=self.role.arn,
            handler=props.handler,
            runtime=props.runtime,
            architectures=["arm64"],
            filename=asset.path,
            source_code_hash=Fn.filebase64sha256(asset.path),
            memory_size=props.memory_mib,
            timeout=props.timeout_s,
            ephemeral_storage=LambdaFunctionEphemeralStorage(size=props.ephemeral_storage_mib),
            reserved_concurrent_executions=props.reserved_concurrency,
            publish=props.publish or None,
            tracing_config=LambdaFunctionTracingConfig(mode="Active"),
            kms_key_arn=props.kms_key_arn,
            environment=LambdaFunctionEnvironment(variables=dict(props.environment)),
            # The log group first (else Lambda creates one: no retention, no KMS); the
            # policy first, or the first invocations fail on missing permissions.
            depends_on=[self.log_group, self.policy],
        )

    @property
    def arn(self) -> str:
        return self.function.arn
