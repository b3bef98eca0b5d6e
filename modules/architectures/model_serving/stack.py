"""The ``model-serving`` stack: the model server on ECS Fargate behind an ALB.

Composed from the network and load-balancer blocks; the image is built from
``handlers/model_server/`` by the deploy (or ``serving.image_uri`` is deployed as is).
"""

from __future__ import annotations

import json
import re

from cdktf import TerraformOutput, TerraformResourceLifecycle
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

from modules.architectures.model_serving.autoscaling import autoscaling
from modules.architectures.model_serving.chaos import experiments
from modules.architectures.model_serving.image_repository import image_repository
from modules.architectures.model_serving.observability import observe
from modules.blocks.alarm_topic import AlarmTopicProps, alarm_topic
from modules.blocks.caller_identity import caller_identity
from modules.blocks.container_image import ContainerImage, ContainerImageProps
from modules.blocks.iam import allow, assume_role_policy, policy_document, s3_object_read
from modules.blocks.kms_key import KmsKey, KmsKeyProps, account_logs_arn, logs_use_statement, service_use_statement
from modules.blocks.load_balancer import LoadBalancer, LoadBalancerProps, TargetGroupProps
from modules.blocks.network import https_egress
from modules.config import Settings
from modules.core.paths import PROJECT_ROOT
from modules.patterns.chaos_experiments import add_chaos
from modules.patterns.exposure import exposure, web_acl_if_public
from modules.patterns.network import stack_network
from modules.patterns.server_environment import server_environment
from modules.stack.base import BaseStack

SERVER_DIR = PROJECT_ROOT / "handlers" / "model_server"
CONTAINER = "model-server"
SERVER_USER = "10001"  # the image's non-root UID (handlers/model_server/Dockerfile)
HEALTH_PROBE = (
    "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('PORT', '8080')"
    " + '/v2/health/live', timeout=2)"
)
_ECR_URI = re.compile(r"^(\d{12})\.dkr\.ecr\.([a-z0-9-]+)\.amazonaws\.com(?:\.cn)?/([^:@]+)")


class ModelServingStack(BaseStack):
    """ECS Fargate model server behind an ALB, over >= 2 AZs.

    Fault tolerance: >= 2 tasks in private subnets of every AZ, AZ rebalancing; on-demand
    base plus spot by weight; deployment circuit breaker with rollback, deployment alarms
    (target 5xx, p99 latency, running < desired, the servers' own latency, 5xx and rejection
    rates) with rollback, 100 %/200 % (capacity never drops during a deploy); container and
    ALB health checks; a drain on SIGTERM within the stop timeout; target tracking on CPU,
    requests per target and in-flight calls per task; alarms (ALB/target 5xx, unhealthy
    hosts, p99 latency, running < desired, CPU, the servers' own metrics) to SNS; FIS experiments
    (stop tasks, one AZ cut off) stopped by the alarms that say callers are hurt.
    Security: no public IPs, tasks reachable only from the ALB, read-only root filesystem,
    non-root user, KMS for ECR, logs and alarms, scan on push, immutable tags.
    """

    def __init__(self, scope: Construct, name: str, settings: Settings) -> None:
        super().__init__(scope, name, settings=settings)
        serving, lb_settings = settings.serving, settings.load_balancer
        prefix = f"{settings.name_prefix}-serving"
        short = f"{settings.name_prefix}-ms"  # ALB and target group names: 32 characters at most
        account = caller_identity(self)
        logs_arn = account_logs_arn(settings.region, account.account_id)
        self.key = KmsKey(
            self,
            "key",
            KmsKeyProps(
                alias=prefix,
                description=f"Encrypts images, logs and alarm notifications of {prefix}",
                extra_policy_statements=(
                    logs_use_statement(settings.region, logs_arn),
                    service_use_statement("CloudWatchAlarmsPublishToTopic", "cloudwatch.amazonaws.com"),
                ),
            ),
        )
        self.exposure = exposure(settings, "model-serving")
        self.network = stack_network(
            self, settings, name=prefix, logs_kms_key_arn=self.key.arn, public=self.exposure.public
        )
        self.load_balancer = LoadBalancer(
            self,
            "alb",
            LoadBalancerProps(
                name=short,
                vpc_id=self.network.vpc_id,
                subnet_ids=self.exposure.subnet_ids(self.network),
                internal=not self.exposure.public,
                allowed_cidrs=self.exposure.cidrs(self.network),
                certificate_arn=self.exposure.certificate_arn,
                redirect_http=lb_settings.http_redirect,
                idle_timeout_s=lb_settings.idle_timeout_s,
                deletion_protection=settings.environment == "prod",
                target=TargetGroupProps(
                    name=short,
                    port=serving.container_port,
                    target_type="ip",
                    health_check_path="/v2/health/ready",  # a draining task leaves rotation before it stops
                    health_check_interval_s=lb_settings.health_check_interval_s,
                    healthy_threshold=lb_settings.healthy_threshold,
                    unhealthy_threshold=lb_settings.unhealthy_threshold,
                    deregistration_delay_s=lb_settings.deregistration_delay_s,
                    slow_start_s=lb_settings.slow_start_s,
                ),
            ),
        )
        self.waf = web_acl_if_public(
            self, settings, "model-serving", self.load_balancer, name=short, logs_kms_key_arn=self.key.arn
        )
        tasks_sg = self.load_balancer.targets_security_group
        self.protect_in_prod(self.key.key)
        https_egress(
            self, "tasks-https-out", tasks_sg.id, "HTTPS out: ECR, CloudWatch Logs, S3 (model) through NAT or endpoints"
        )

        self.repository = image_repository(self, settings, self.key.arn)
        self.image: ContainerImage | None = None
        if serving.image_uri:
            image_uri = serving.image_uri
        else:
            self.image = ContainerImage(
                self,
                "image",
                ContainerImageProps(
                    source_dir=SERVER_DIR,
                    repository_name=self.repository.name,
                    repository_url=self.repository.repository_url,
                    region=settings.region,
                ),
            )
            image_uri = self.image.uri
        self.image_uri = image_uri

        self.log_group = CloudwatchLogGroup(
            self,
            "logs",
            name=f"/ecs/{prefix}",
            retention_in_days=serving.log_retention_days,
            kms_key_id=self.key.arn,
        )
        self._roles(settings, image_uri)
        self.cluster = EcsCluster(
            self,
            "cluster",
            name=prefix,
            setting=[EcsClusterSetting(name="containerInsights", value="enabled")],
            configuration=EcsClusterConfiguration(
                execute_command_configuration=EcsClusterConfigurationExecuteCommandConfiguration(
                    kms_key_id=self.key.arn,
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
            self,
            "capacity-providers",
            cluster_name=self.cluster.name,
            capacity_providers=["FARGATE", "FARGATE_SPOT"],
            default_capacity_provider_strategy=[
                EcsClusterCapacityProvidersDefaultCapacityProviderStrategy(capacity_provider=p, base=b, weight=w)
                for p, b, w in strategy
            ],
        )
        self.task_definition = self._task_definition(settings, prefix, image_uri)
        self.service = EcsService(
            self,
            "service",
            name=CONTAINER,
            cluster=self.cluster.arn,
            task_definition=self.task_definition.arn,
            desired_count=serving.min_tasks,
            capacity_provider_strategy=[
                EcsServiceCapacityProviderStrategy(capacity_provider=p, base=b, weight=w) for p, b, w in strategy
            ],
            network_configuration=EcsServiceNetworkConfiguration(
                subnets=self.network.private_subnet_ids, security_groups=[tasks_sg.id], assign_public_ip=False
            ),
            load_balancer=[
                EcsServiceLoadBalancer(
                    target_group_arn=self.load_balancer.target_group.arn,
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
            depends_on=[self.load_balancer.listener],
        )
        self.scaling_target = autoscaling(
            self,
            settings,
            prefix,
            f"service/{prefix}/{CONTAINER}",
            service=self.service,
            load_balancer=self.load_balancer,
        )
        self.topic = alarm_topic(
            self,
            AlarmTopicProps(name=f"{prefix}-alarms", kms_key_arn=self.key.arn, email=settings.alarm_email),
            topic_id="alarms",
            email_id="alarm-email",
        )
        watch = observe(
            self,
            settings,
            prefix,
            topic_arn=self.topic.arn,
            lb=self.load_balancer.lb,
            tg=self.load_balancer.target_group,
            cluster=self.cluster,
            service=self.service,
        )
        self.dashboard = watch.dashboard
        self.alarm_specs = {prefix: watch.specs}  # by the prefix that names them
        # Beside the breaker (tasks that never get healthy): a new revision that is healthy
        # but answers 5xx, slowly, or keeps crashing is rolled back when a rollout guard fires.
        # Set after the alarms exist: they read the service's name.
        self.service.put_alarms(alarm_names=watch.rollout_guards(prefix), enable=True, rollback=True)
        self.chaos = add_chaos(
            self,
            settings,
            prefix=prefix,
            account_id=account.account_id,
            alarms=watch.alarms,
            experiments=experiments(
                settings,
                cluster=self.cluster.name,
                service=self.service.name,
                network=self.network,
                account_id=account.account_id,
            ),
            kms_key_arn=self.key.arn,
            log_retention_days=serving.log_retention_days,
            vpc_id=self.network.vpc_id,
        )
        self._outputs()

    def _roles(self, settings: Settings, image_uri: str) -> None:
        pull = ["ecr:BatchCheckLayerAvailability", "ecr:GetDownloadUrlForLayer", "ecr:BatchGetImage"]
        repositories = [self.repository.arn]
        match = _ECR_URI.match(image_uri)
        if match:  # an existing image in (another) ECR repository
            account, region, repo = match.groups()
            repositories.append(f"arn:aws:ecr:{region}:{account}:repository/{repo}")
        self.execution_role = IamRole(
            self,
            "execution-role",
            name_prefix="model-serving-exec-",
            assume_role_policy=assume_role_policy("ecs-tasks.amazonaws.com"),
        )
        IamRolePolicy(
            self,
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
            self,
            "task-role",
            name_prefix="model-serving-task-",
            assume_role_policy=assume_role_policy("ecs-tasks.amazonaws.com"),
        )
        model_read = s3_object_read(settings.serving.model_uri)
        if model_read is not None:
            IamRolePolicy(self, "task-policy", role=self.task_role.id, policy=policy_document(model_read))

    def _task_definition(self, settings: Settings, prefix: str, image_uri: str) -> EcsTaskDefinition:
        serving = settings.serving
        environment = {
            "PORT": str(serving.container_port),
            **server_environment(settings, "model-serving", prefix),
            # ECS deregisters the task before SIGTERM; the server then finishes what it has
            # and exits before the stop timeout turns into SIGKILL.
            "DRAIN_DELAY_S": "2",
            "DRAIN_TIMEOUT_S": str(max(1, serving.stop_timeout_s - 5)),
            "AWS_REGION": settings.region,
        }
        if serving.model_uri:
            environment["MODEL_URI"] = serving.model_uri
        if serving.model_sha256:
            environment["MODEL_SHA256"] = serving.model_sha256
        container = {
            "name": CONTAINER,
            "image": image_uri,
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
            self,
            "task",
            family=prefix,
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
            depends_on=[self.image.build] if self.image else None,
        )

    def _outputs(self) -> None:
        outputs = {
            "service_url": (self.load_balancer.url, "URL of the model server (the ALB)"),
            "cluster_name": (self.cluster.name, "ECS cluster running the model server"),
            "service_name": (self.service.name, "ECS service of the model server"),
            "repository_url": (self.repository.repository_url, "ECR repository the deploy pushes images to"),
            "image_uri": (self.image_uri, "image the task definition runs"),
            "alarm_topic_arn": (self.topic.arn, "SNS topic receiving the alarms"),
        }
        for key, (value, description) in outputs.items():
            TerraformOutput(self, key, value=value, description=description)
