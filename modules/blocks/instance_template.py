"""A launch template that runs an artifact from S3 as a systemd service on Amazon Linux 2023.

The block packages a folder (a :class:`cdktf.TerraformAsset`), uploads it to a bucket the
caller owns, and writes user data that downloads it, runs an optional setup command and
starts the caller's command as a service that systemd restarts whenever it exits. Fleets
(Spot Fleet, Auto Scaling groups) reference :attr:`InstanceTemplate.launch_template`.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from cdktf import AssetType, Fn, TerraformAsset
from cdktf_cdktf_provider_aws.data_aws_ssm_parameter import DataAwsSsmParameter
from cdktf_cdktf_provider_aws.iam_instance_profile import IamInstanceProfile
from cdktf_cdktf_provider_aws.iam_role import IamRole
from cdktf_cdktf_provider_aws.iam_role_policy import IamRolePolicy
from cdktf_cdktf_provider_aws.iam_role_policy_attachment import IamRolePolicyAttachment
from cdktf_cdktf_provider_aws.launch_template import (
    LaunchTemplate,
    LaunchTemplateBlockDeviceMappings,
    LaunchTemplateBlockDeviceMappingsEbs,
    LaunchTemplateIamInstanceProfile,
    LaunchTemplateMetadataOptions,
    LaunchTemplateMonitoring,
    LaunchTemplateTagSpecifications,
)
from cdktf_cdktf_provider_aws.s3_object import S3Object
from constructs import Construct

from modules.blocks.iam import allow, assume_role_policy, policy_document
from modules.core.input_rules import InstanceType, RootVolumeGib
from modules.core.props_check import field_problems
from modules.core.source_archive import source_archive

AL2023_X86_64 = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64"
_SERVICE_RE = re.compile(r"^[a-z][a-z0-9-]{0,30}$")
_ENV_RE = re.compile(r"^[A-Z_][A-Z0-9_]*$")


@dataclass(frozen=True, kw_only=True)
class InstanceTemplateProps:
    name: str  # launch template, role and Name tag prefix
    service: str  # systemd unit and directory name: /opt/<service>
    artifact_dir: Path  # folder uploaded and unpacked as /opt/<service>/<folder name>
    artifact_bucket: str  # bucket name the artifact is uploaded to
    artifact_bucket_arn: str
    command: str  # ExecStart, run in /opt/<service> as the unprivileged user <service>
    security_group_ids: Sequence[str]
    policy_statements: Sequence[dict[str, Any]]  # everything the service may do: least privilege is the caller's
    setup_command: str = ""  # run once as root in /opt/<service> before the service starts
    environment: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    packages: Sequence[str] = ()  # dnf packages installed first
    artifact_prefix: str = "artifacts"
    ami_parameter: str = AL2023_X86_64  # public SSM parameter: always the current patched AMI
    instance_type: InstanceType | None = None  # None: the fleet's overrides choose
    root_volume_gib: RootVolumeGib = 20
    stop_timeout_s: int = 90  # SIGTERM to SIGKILL; a spot notice gives 120 s in all
    restart_delay_s: int = 5
    log_group_name: str = ""  # ship the service's log there with the CloudWatch agent; "" = journal only
    managed_policy_arns: Sequence[str] = ()  # AWS managed policies for the role, e.g. SSM managed core

    def __post_init__(self) -> None:
        problems = field_problems(self)
        if not _SERVICE_RE.match(self.service):
            problems.append(f"service={self.service!r}: 1-31 lowercase letters, digits and '-', starting with a letter")
        if not self.artifact_dir.is_dir():
            problems.append(f"artifact_dir={str(self.artifact_dir)!r}: must be an existing folder")
        if not self.command.strip():
            problems.append("command: must not be empty")
        if not self.security_group_ids:
            problems.append("security_group_ids: at least one (instances get no default security group)")
        if not self.policy_statements:
            problems.append("policy_statements: at least one (what the service needs; nothing else is granted)")
        bad_env = [k for k in self.environment if not _ENV_RE.match(k)]
        if bad_env:
            problems.append(f"environment: names must be UPPER_SNAKE_CASE, not {bad_env}")
        bad_values = [k for k, v in self.environment.items() if any(c in v for c in "'\"\n")]
        if bad_values:
            problems.append(f"environment: values may not hold quotes or newlines ({bad_values})")
        if not 5 <= self.stop_timeout_s <= 600:
            problems.append(f"stop_timeout_s={self.stop_timeout_s}: must be 5-600")
        if not 1 <= self.restart_delay_s <= 300:
            problems.append(f"restart_delay_s={self.restart_delay_s}: must be 1-300")
        if problems:
            raise ValueError("InstanceTemplateProps: " + "; ".join(problems))


def user_data(props: InstanceTemplateProps, artifact_uri: str, region: str, root: str = "") -> str:
    """The boot script: packages, artifact, environment file, systemd unit, start.

    ``root`` prefixes every path the script writes to or runs from (never the paths the
    unit and the environment file name): tests run the script under a temporary root.
    With ``root=""`` (the launch template's) the script is the same text minus ``root``.
    """
    home = f"/opt/{props.service}"
    agent_home = "/opt/aws/amazon-cloudwatch-agent"
    # Single quotes only: cdktf refuses a double quote inside a Terraform function argument
    # (Fn.base64encode), and systemd's EnvironmentFile reads single-quoted values.
    env_lines = "\n".join(f"{k}='{v}'" for k, v in sorted(props.environment.items()))
    packages = ["python3", *props.packages] + (["amazon-cloudwatch-agent"] if props.log_group_name else [])
    log_file = f"/var/log/{props.service}/{props.service}.log"
    lines = [
        "#!/bin/bash",
        "set -euo pipefail",
        f"dnf install -y {' '.join(shlex.quote(p) for p in dict.fromkeys(packages))}",
        f"id {props.service} >/dev/null 2>&1 || "
        f"useradd --system --no-create-home --shell /sbin/nologin {props.service}",
        f"mkdir -p {root}{home} {root}/var/log/{props.service}",
        f"aws s3 cp --region {region} {artifact_uri} {root}/tmp/{props.service}.zip",
        # python3 (always on AL2023) unpacks: no dependency on unzip being installed.
        f"python3 -m zipfile -e {root}/tmp/{props.service}.zip {root}{home}/{props.artifact_dir.name}",
        f"cd {root}{home}",
    ]
    if props.setup_command:
        lines.append(props.setup_command)
    lines += [
        f"chown -R root:root {root}{home} && chmod -R go-w {root}{home}",
        f"chown {props.service} {root}/var/log/{props.service}",
        f"cat > {root}/etc/{props.service}.env <<'ENV'\n{env_lines}\nENV",
        f"cat > {root}/etc/systemd/system/{props.service}.service <<'UNIT'",
        "[Unit]",
        f"Description={props.service}",
        "After=network-online.target",
        "Wants=network-online.target",
        # No start limit: a crash loop keeps retrying (and alarms on missing heartbeats).
        "StartLimitIntervalSec=0",
        "[Service]",
        f"User={props.service}",
        f"WorkingDirectory={home}",
        f"EnvironmentFile=/etc/{props.service}.env",
        f"ExecStart={props.command}",
        "Restart=always",
        f"RestartSec={props.restart_delay_s}",
        "KillSignal=SIGTERM",
        f"TimeoutStopSec={props.stop_timeout_s}",
        f"StandardOutput=append:{log_file}",
        f"StandardError=append:{log_file}",
        "NoNewPrivileges=true",
        "ProtectSystem=strict",
        f"ReadWritePaths=/var/log/{props.service}",
        "PrivateTmp=true",
        "[Install]",
        "WantedBy=multi-user.target",
        "UNIT",
    ]
    if props.log_group_name:
        agent = {
            "logs": {
                "logs_collected": {
                    "files": {
                        "collect_list": [
                            {
                                "file_path": log_file,
                                "log_group_name": props.log_group_name,
                                "log_stream_name": "{instance_id}",
                            }
                        ]
                    }
                }
            }
        }
        agent_json = json.dumps(agent).replace('"', "'")  # and back on the instance (see env_lines)
        lines += [
            "python3 -c 'import sys; sys.stdout.write(sys.stdin.read().replace(chr(39), chr(34)))' "
            f"> {root}{agent_home}/etc/{props.service}.json <<'AGENT'\n"
            f"{agent_json}\nAGENT",
            f"{root}{agent_home}/bin/amazon-cloudwatch-agent-ctl -a fetch-config -m ec2 -s "
            f"-c file:{agent_home}/etc/{props.service}.json",
        ]
    lines += ["systemctl daemon-reload", f"systemctl enable --now {props.service}"]
    return "\n".join(lines) + "\n"


class InstanceTemplate(Construct):
    """A launch template for a service fleet.

    Defaults that matter: the AMI from the public SSM parameter for Amazon Linux 2023
    (patched, never a hard-coded id); IMDSv2 required with hop limit 1 (no token theft from
    containers or forwarded requests); an instance profile whose role may read the artifact
    and do what ``policy_statements`` allow, nothing else; an encrypted gp3 root volume
    deleted with the instance; detailed (1-minute) monitoring; tags on instances, volumes
    and network interfaces; the service under systemd with ``Restart=always``, no start
    limit, SIGTERM and ``stop_timeout_s`` to drain on stop or instance shutdown.
    """

    def __init__(self, scope: Construct, id: str, props: InstanceTemplateProps, *, region: str) -> None:
        super().__init__(scope, id)
        asset = TerraformAsset(self, "asset", path=str(source_archive(props.artifact_dir)), type=AssetType.FILE)
        self.artifact = S3Object(
            self,
            "artifact",
            bucket=props.artifact_bucket,
            # The content hash in the key: a new artifact is a new launch template version.
            key=f"{props.artifact_prefix}/{props.service}/{asset.asset_hash}.zip",
            source=asset.path,
            source_hash=Fn.filemd5(asset.path),
        )
        artifact_uri = f"s3://{props.artifact_bucket}/{self.artifact.key}"
        self.role = IamRole(
            self,
            "role",
            name_prefix=f"{props.service}-"[:38],
            assume_role_policy=assume_role_policy("ec2.amazonaws.com"),
        )
        artifact_read = allow(
            "ReadArtifact", "s3:GetObject", f"{props.artifact_bucket_arn}/{props.artifact_prefix}/{props.service}/*"
        )
        self.policy = IamRolePolicy(
            self,
            "policy",
            role=self.role.id,
            policy=policy_document(artifact_read, *props.policy_statements),
        )
        for i, arn in enumerate(props.managed_policy_arns):
            IamRolePolicyAttachment(self, f"managed-{i}", role=self.role.name, policy_arn=arn)
        self.instance_profile = IamInstanceProfile(
            self, "profile", name_prefix=f"{props.service}-"[:38], role=self.role.name
        )
        ami = DataAwsSsmParameter(self, "ami", name=props.ami_parameter)
        tags = {"Name": props.name, "service": props.service}
        self.launch_template = LaunchTemplate(
            self,
            "template",
            name_prefix=f"{props.name}-",
            description=f"{props.service} from {props.artifact_dir.name}",
            image_id=ami.insecure_value,
            instance_type=props.instance_type,
            iam_instance_profile=LaunchTemplateIamInstanceProfile(arn=self.instance_profile.arn),
            vpc_security_group_ids=list(props.security_group_ids),
            metadata_options=LaunchTemplateMetadataOptions(
                http_endpoint="enabled", http_tokens="required", http_put_response_hop_limit=1
            ),
            block_device_mappings=[
                LaunchTemplateBlockDeviceMappings(
                    device_name="/dev/xvda",
                    ebs=LaunchTemplateBlockDeviceMappingsEbs(
                        volume_size=props.root_volume_gib,
                        volume_type="gp3",
                        encrypted="true",
                        delete_on_termination="true",
                    ),
                )
            ],
            monitoring=LaunchTemplateMonitoring(enabled=True),
            ebs_optimized="true",
            tag_specifications=[
                LaunchTemplateTagSpecifications(resource_type=kind, tags=tags)
                for kind in ("instance", "volume", "network-interface")
            ],
            user_data=Fn.base64encode(user_data(props, artifact_uri, region)),
            update_default_version=True,
            tags=tags,
        )
