"""The model server on EC2: the same code base as the model-serving container, run by a fleet.

The artifact is ``handlers/model_server/`` as it is (server, ``train.py``, requirements);
each instance installs the pinned serving requirements (onnxruntime, FastAPI, uvicorn) and
builds the default ONNX model with ``train.py`` exactly as the image's build stage does,
then runs ``python -m model_server`` under systemd. Used by the ``ha-failover`` and ``target-groups`` stacks.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from cdktf_cdktf_provider_aws.cloudwatch_log_group import CloudwatchLogGroup
from constructs import Construct

from modules.blocks.fleet import Fleet, FleetProps
from modules.blocks.iam import allow, s3_object_read
from modules.blocks.instance_template import InstanceTemplate, InstanceTemplateProps
from modules.core.input_rules import KmsKeyArn, LogRetentionDays, ModelUri, RootVolumeGib, ServerPort
from modules.core.paths import PROJECT_ROOT
from modules.core.props_check import field_problems

SERVER_DIR = PROJECT_ROOT / "handlers" / "model_server"
SERVICE = "model-server"
HOME = f"/opt/{SERVICE}"
SSM_MANAGED_CORE = "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore"
AGENT_NAMESPACE = "CWAgent"
# After `cd /opt/model-server`: vendor the serving requirements, build the model with the
# build requirements in a scratch folder that is removed afterwards (the Dockerfile's stages).
SETUP = " && ".join(
    (
        "python3.11 -m pip install --quiet --target vendor -r model_server/requirements.txt",
        "python3.11 -m pip install --quiet --target build -r model_server/requirements-build.txt",
        "PYTHONPATH=build python3.11 model_server/train.py model_server/model_server/wine.onnx",
        "rm -rf build",
    )
)
STOP_TIMEOUT_S = 30
DRAIN_TIMEOUT_S = 25  # the server exits before systemd's SIGKILL


@dataclass(frozen=True, kw_only=True)
class ModelServerFleetProps:
    name: str
    region: str
    artifact_bucket: str
    artifact_bucket_arn: str
    kms_key_arn: KmsKeyArn  # encrypts the artifact bucket and the log group
    security_group_ids: Sequence[str]
    fleet: FleetProps
    port: ServerPort = 8080
    root_volume_gib: RootVolumeGib = 20
    log_retention_days: LogRetentionDays = 365
    artifact_prefix: str = "artifacts"  # distinct per fleet sharing a bucket: each uploads its own object
    model_uri: ModelUri = ""  # an s3:// URI or a path on the instance; empty = the model built at boot
    model_sha256: str = ""  # the model's SHA-256: other bytes stop the server at start; empty = not checked
    environment: Mapping[str, str] = field(default_factory=dict)  # more server settings (body limit, JWT issuer)

    def __post_init__(self) -> None:
        problems = field_problems(self)
        if problems:
            raise ValueError("ModelServerFleetProps: " + "; ".join(problems))


def template_props(props: ModelServerFleetProps, log_group_name: str, log_group_arn: str) -> InstanceTemplateProps:
    return InstanceTemplateProps(
        name=props.name,
        service=SERVICE,
        artifact_dir=SERVER_DIR,
        artifact_bucket=props.artifact_bucket,
        artifact_bucket_arn=props.artifact_bucket_arn,
        artifact_prefix=props.artifact_prefix,
        packages=("python3.11", "python3.11-pip"),
        setup_command=SETUP,
        command="/usr/bin/python3.11 -m model_server",
        environment={
            "PORT": str(props.port),
            "DRAIN_TIMEOUT_S": str(DRAIN_TIMEOUT_S),
            "PYTHONPATH": f"{HOME}/{SERVER_DIR.name}:{HOME}/vendor",
            "PYTHONDONTWRITEBYTECODE": "1",
            "PYTHONUNBUFFERED": "1",
            **({"MODEL_URI": props.model_uri} if props.model_uri else {}),
            **({"MODEL_SHA256": props.model_sha256} if props.model_sha256 else {}),
            **props.environment,
        },
        security_group_ids=props.security_group_ids,
        policy_statements=[
            allow("DecryptTheArtifact", "kms:Decrypt", props.kms_key_arn),
            allow(
                "WriteServerLogs",
                ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
                f"{log_group_arn}:*",
            ),
            allow(
                "AgentMetricsOnly",
                "cloudwatch:PutMetricData",
                "*",  # PutMetricData has no resource; the condition pins the namespace
                condition={"StringEquals": {"cloudwatch:namespace": AGENT_NAMESPACE}},
            ),
            *filter(
                None,
                [
                    s3_object_read(props.model_uri, "ReadTheModel"),
                    # the server reads its golden set where GOLDEN_URI says (beside an s3:// model)
                    s3_object_read(props.environment.get("GOLDEN_URI", ""), "ReadTheGoldenSet"),
                ],
            ),
        ],
        managed_policy_arns=(SSM_MANAGED_CORE,),  # Session Manager instead of SSH: no port 22 anywhere
        log_group_name=log_group_name,
        root_volume_gib=props.root_volume_gib,
        stop_timeout_s=STOP_TIMEOUT_S,
    )


class ModelServerFleet(Construct):
    """Model servers on an Auto Scaling group (:class:`modules.blocks.fleet.Fleet`).

    Defaults that matter: the launch template of :class:`InstanceTemplate` (AL2023 from
    SSM, IMDSv2, encrypted gp3, detailed monitoring), the server under systemd with
    ``Restart=always`` and a 30 s stop timeout it drains within (25 s); a role that may read
    its artifact, write its KMS-encrypted log group and agent metrics, and use Session
    Manager, nothing else.
    """

    def __init__(self, scope: Construct, id: str, props: ModelServerFleetProps) -> None:
        super().__init__(scope, id)
        self.log_group = CloudwatchLogGroup(
            self,
            "logs",
            name=f"/ec2/{props.name}",
            retention_in_days=props.log_retention_days,
            kms_key_id=props.kms_key_arn,
        )
        self.template = InstanceTemplate(
            self,
            "template",
            template_props(props, self.log_group.name, self.log_group.arn),
            region=props.region,
        )
        self.fleet = Fleet(self, "fleet", props.fleet, launch_template=self.template.launch_template)
