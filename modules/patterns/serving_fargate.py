"""The Fargate variant of a serving site: the model server as an ECS service behind the front's
ALB (:mod:`modules.patterns.serving_front`), with its cluster, capacity providers, task
definition, roles and log group. The EC2 variant is :mod:`modules.patterns.serving_site`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from cdktf import ITerraformDependable, TerraformResourceLifecycle
from cdktf_cdktf_provider_aws.cloudwatch_log_group import CloudwatchLogGroup
from cdktf_cdktf_provider_aws.ecs_cluster import (
    EcsCluster,
    EcsClusterConfiguration,
    EcsClusterConfigurationExecuteCommandConfiguration,
    EcsClusterConfigurationExecuteCommandConfigurationLogConfiguration,
    EcsClusterSetting,
)
from cdktf_cdktf_provider_aws.ecs_cluster_capacity_providers import (
    EcsClusterCapacityProviders,
    EcsClusterCapacityProvidersDefaultCapacityProviderStrategy,
)
from cdktf_cdktf_provider_aws.ecs_service import (
    EcsService,
    EcsServiceCapacityProviderStrategy,
    EcsServiceDeploymentCircuitBreaker,
    EcsServiceLoadBalancer,
    EcsServiceNetworkConfiguration,
)
from cdktf_cdktf_provider_aws.ecs_task_definition import (
    EcsTaskDefinition,
    EcsTaskDefinitionRuntimePlatform,
    EcsTaskDefinitionVolume,
)
from cdktf_cdktf_provider_aws.iam_role import IamRole
from cdktf_cdktf_provider_aws.iam_role_policy import IamRolePolicy
from constructs import Construct

from modules.blocks.iam import allow, assume_role_policy, policy_document, s3_object_read
from modules.blocks.load_balancer import LoadBalancer
from modules.config import Settings

CONTAINER = "model-server"
SERVER_USER = "10001"  # the image's non-root UID (handlers/model_server/Dockerfile)
HEALTH_PROBE = (
    "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('PORT', '8080')"
    " + '/v2/health/live', timeout=2)"
)
_ECR_URI = re.compile(r"^(\d{12})\.dkr\.ecr\.([a-z0-9-]+)\.amazonaws\.com(?:\.cn)?/([^:@]+)")


@dataclass(frozen=True, kw_only=True)
class FargateServiceProps:
    """The service of one site: ``prefix`` names the cluster, task family and log group."""

    prefix: str
    image_uri: str
    image_build: ITerraformDependable | None  # the deploy's image build, when the stack builds it
    repository_arn: str  # the stack's ECR repository (pull rights; an ECR image_uri elsewhere is added)
    kms_key_arn: str
    subnet_ids: Sequence[str]
    environment: Mapping[str, str]  # the server's, besides what the task itself sets


class FargateService:
    """Builds the ECS service into ``scope`` behind ``load_balancer``'s target group. Not a
    construct of its own: its ids under ``scope`` are the Terraform addresses the stack was
    deployed with.

    Defaults that matter: the ``[serving]`` minimum of tasks over every private subnet, AZ
    rebalancing; FARGATE for the on-demand base, FARGATE_SPOT by weight; the deployment circuit
    breaker with rollback, 100 %/200 % (capacity never drops during a deploy); a container
    health check on ``/v2/health/live``; a read-only root filesystem and a non-root user; the
    stop timeout the server drains within; logs, exec sessions and Container Insights on.
    """

    def __init__(
        self, scope: Construct, settings: Settings, props: FargateServiceProps, load_balancer: LoadBalancer
    ) -> None:
        self.scope, self.settings, self.props = scope, settings, props
        serving = settings.serving
        self.log_group = CloudwatchLogGroup(
            scope,
            "logs",
            name=f"/ecs/{props.prefix}",
            retention_in_days=serving.log_retention_days,
            kms_key_id=props.kms_key_arn,
        )
        self._roles()
        self.cluster = EcsCluster(
            scope,
            "cluster",
            name=props.prefix,
            setting=[EcsClusterSetting(name="containerInsights", value="enabled")],
            configuration=EcsClusterConfiguration(
                execute_command_configuration=EcsClusterConfigurationExecuteCommandConfiguration(
                    kms_key_id=props.kms_key_arn,
                    logging="OVERRIDE",
                    log_configuration=EcsClusterConfigurationExecuteCommandConfigurationLogConfiguration(
                        cloud_watch_encryption_enabled=True, cloud_watch_log_group_name=self.log_group.name
                    ),
                )
            ),
        )
        strategy = [
            ("FARGATE", serving.on_demand_base, serving.on_demand_weight),
            ("FARGATE_SPOT", 0, serving.spot_weight),
        ]
        EcsClusterCapacityProviders(
            scope,
            "capacity-providers",
            cluster_name=self.cluster.name,
            capacity_providers=["FARGATE", "FARGATE_SPOT"],
            default_capacity_provider_strategy=[
                EcsClusterCapacityProvidersDefaultCapacityProviderStrategy(capacity_provider=p, base=b, weight=w)
                for p, b, w in strategy
            ],
        )
        self.task_definition = self._task_definition()
        self.service = EcsService(
            scope,
            "service",
            name=CONTAINER,
            cluster=self.cluster.arn,
            task_definition=self.task_definition.arn,
            desired_count=serving.min_tasks,
            capacity_provider_strategy=[
                EcsServiceCapacityProviderStrategy(capacity_provider=p, base=b, weight=w) for p, b, w in strategy
            ],
            network_configuration=EcsServiceNetworkConfiguration(
                subnets=props.subnet_ids,
                security_groups=[load_balancer.targets_security_group.id],
                assign_public_ip=False,
            ),
            load_balancer=[
                EcsServiceLoadBalancer(
                    target_group_arn=load_balancer.target_group.arn,
                    container_name=CONTAINER,
                    container_port=serving.container_port,
                )
            ],
            deployment_circuit_breaker=EcsServiceDeploymentCircuitBreaker(enable=True, rollback=True),
            deployment_minimum_healthy_percent=100,
            deployment_maximum_percent=200,
            health_check_grace_period_seconds=serving.health_check_grace_s,
            availability_zone_rebalancing="ENABLED",
            enable_ecs_managed_tags=True,
            propagate_tags="SERVICE",
            # Autoscaling owns the running count after creation; a plan must not reset it.
            lifecycle=TerraformResourceLifecycle(ignore_changes=["desired_count"]),
            # The target group must be attached to the ALB (by its listener) first.
            depends_on=[load_balancer.listener],
        )

    @property
    def resource_id(self) -> str:
        """The service's Application Auto Scaling resource id, written out (not an attribute)."""
        return f"service/{self.props.prefix}/{CONTAINER}"

    def _roles(self) -> None:
        scope, props = self.scope, self.props
        pull = ["ecr:BatchCheckLayerAvailability", "ecr:GetDownloadUrlForLayer", "ecr:BatchGetImage"]
        repositories = [props.repository_arn]
        match = _ECR_URI.match(props.image_uri)
        if match:  # an existing image in (another) ECR repository
            account, region, repo = match.groups()
            repositories.append(f"arn:aws:ecr:{region}:{account}:repository/{repo}")
        self.execution_role = IamRole(
            scope,
            "execution-role",
            name_prefix="model-serving-exec-",
            assume_role_policy=assume_role_policy("ecs-tasks.amazonaws.com"),
        )
        IamRolePolicy(
            scope,
            "execution-policy",
            role=self.execution_role.id,
            policy=policy_document(
                # GetAuthorizationToken has no resource-level permissions.
                allow(None, "ecr:GetAuthorizationToken", "*"),
                allow(None, pull, repositories),
                allow(None, ["logs:CreateLogStream", "logs:PutLogEvents"], f"{self.log_group.arn}:*"),
            ),
        )
        self.task_role = IamRole(
            scope,
            "task-role",
            name_prefix="model-serving-task-",
            assume_role_policy=assume_role_policy("ecs-tasks.amazonaws.com"),
        )
        reads = [
            s3_object_read(self.settings.model_server.model_uri),
            s3_object_read(self.props.environment.get("GOLDEN_URI", "")),  # the model's golden set
        ]
        if any(reads):
            IamRolePolicy(scope, "task-policy", role=self.task_role.id, policy=policy_document(*filter(None, reads)))

    def _task_definition(self) -> EcsTaskDefinition:
        settings, props = self.settings, self.props
        serving, server = settings.serving, settings.model_server
        environment = {
            "PORT": str(serving.container_port),
            **props.environment,
            # ECS deregisters the task before SIGTERM; the server then finishes what it has
            # and exits before the stop timeout turns into SIGKILL.
            "DRAIN_DELAY_S": "2",
            "DRAIN_TIMEOUT_S": str(max(1, serving.stop_timeout_s - 5)),
            "AWS_REGION": settings.region,
        }
        if server.model_uri:
            environment["MODEL_URI"] = server.model_uri
        if server.model_sha256:
            environment["MODEL_SHA256"] = server.model_sha256
        container = {
            "name": CONTAINER,
            "image": props.image_uri,
            "essential": True,
            "portMappings": [{"containerPort": serving.container_port, "protocol": "tcp"}],
            "environment": [{"name": k, "value": v} for k, v in sorted(environment.items())],
            "user": SERVER_USER,
            "readonlyRootFilesystem": True,
            "mountPoints": [{"sourceVolume": "tmp", "containerPath": "/tmp", "readOnly": False}],
            "healthCheck": {
                "command": ["CMD", "python", "-c", HEALTH_PROBE],
                "interval": 10,
                "timeout": 3,
                "retries": 3,
                "startPeriod": 15,
            },
            "stopTimeout": serving.stop_timeout_s,
            "logConfiguration": {
                "logDriver": "awslogs",
                "options": {
                    "awslogs-group": self.log_group.name,
                    "awslogs-region": settings.region,
                    "awslogs-stream-prefix": CONTAINER,
                    "mode": "non-blocking",  # a slow log pipe never stalls requests
                    "max-buffer-size": "4m",
                },
            },
            "ulimits": [{"name": "nofile", "softLimit": 65536, "hardLimit": 65536}],
        }
        return EcsTaskDefinition(
            self.scope,
            "task",
            family=props.prefix,
            cpu=str(serving.cpu),
            memory=str(serving.memory_mib),
            network_mode="awsvpc",
            requires_compatibilities=["FARGATE"],
            runtime_platform=EcsTaskDefinitionRuntimePlatform(
                operating_system_family="LINUX", cpu_architecture="X86_64"
            ),
            execution_role_arn=self.execution_role.arn,
            task_role_arn=self.task_role.arn,
            volume=[EcsTaskDefinitionVolume(name="tmp")],
            container_definitions=json.dumps([container]),
            depends_on=[props.image_build] if props.image_build else None,
        )
