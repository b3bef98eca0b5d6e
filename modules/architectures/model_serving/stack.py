"""The ``model-serving`` stack: the model server on ECS Fargate behind an ALB.

Composed from the serving front and its Fargate variant (:mod:`modules.patterns`); the image is
built from ``handlers/model_server/`` by the deploy (or ``serving.image_uri`` is deployed as is).
"""

from __future__ import annotations

from cdktf import TerraformOutput
from constructs import Construct

from modules.architectures.model_serving.autoscaling import autoscaling
from modules.architectures.model_serving.chaos import experiments
from modules.architectures.model_serving.image_repository import image_repository
from modules.architectures.model_serving.observability import observe
from modules.blocks.container_image import ContainerImage, ContainerImageProps
from modules.blocks.load_balancer import TargetGroupProps
from modules.config import Settings
from modules.core.paths import PROJECT_ROOT
from modules.patterns.chaos_experiments import add_chaos
from modules.patterns.exposure import exposure
from modules.patterns.network import network_stacks
from modules.patterns.server_environment import server_environment
from modules.patterns.serving_fargate import CONTAINER, FargateService, FargateServiceProps
from modules.patterns.serving_front import ServingFront, ServingFrontProps
from modules.stack.base import BaseStack
from modules.stack.contract import depend_on

SERVER_DIR = PROJECT_ROOT / "handlers" / "model_server"


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
        self.front = front = ServingFront(
            self,
            settings,
            ServingFrontProps(
                prefix=prefix,
                short=f"{settings.name_prefix}-ms",  # ALB and target group names: 32 characters at most
                region=settings.region,
                stack=name,
                exposure=exposure(settings, name),
                encrypts="images",
                egress_id="tasks-https-out",
                egress_description="HTTPS out: ECR, CloudWatch Logs, S3 (model) through NAT or endpoints",
                flat_topic_id="alarms",
            ),
        )
        self.key, self.exposure, self.network = front.key, front.props.exposure, front.network
        self.uses_stacks |= network_stacks(settings)
        self.load_balancer = front.add_load_balancer(
            TargetGroupProps(
                name=front.props.short,
                port=serving.container_port,
                target_type="ip",
                health_check_path="/v2/health/ready",  # a draining task leaves rotation before it stops
                health_check_interval_s=serving.health_check_interval_s,
                healthy_threshold=serving.healthy_threshold,
                unhealthy_threshold=serving.unhealthy_threshold,
                deregistration_delay_s=lb_settings.deregistration_delay_s,
                slow_start_s=lb_settings.slow_start_s,
            )
        )
        self.waf = front.waf

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
        self.fargate = FargateService(
            self,
            settings,
            FargateServiceProps(
                prefix=prefix,
                image_uri=image_uri,
                image_build=self.image.build if self.image else None,
                repository_arn=self.repository.arn,
                kms_key_arn=self.key.arn,
                subnet_ids=self.network.private_subnet_ids,
                environment=server_environment(settings, name, prefix),
            ),
            self.load_balancer,
        )
        self.cluster, self.service = self.fargate.cluster, self.fargate.service
        self.task_definition = self.fargate.task_definition
        self.scaling_target = autoscaling(
            self,
            settings,
            prefix,
            self.fargate.resource_id,
            service=self.service,
            load_balancer=self.load_balancer,
        )
        self.topic = self.alarm_topic = front.add_alarm_topic()
        self.observability = watch = observe(
            self,
            settings,
            prefix,
            topic_arn=self.topic.arn,
            lb=self.load_balancer.lb,
            tg=self.load_balancer.target_group,
            cluster=self.cluster,
            service_name=CONTAINER,
            log_group_name=self.fargate.log_group.name,
        )
        # Beside the breaker (tasks that never get healthy): a new revision that is healthy
        # but answers 5xx, slowly, or keeps crashing is rolled back when a rollout guard fires.
        # By name (AWS takes names); the service is created after the alarms it names, which
        # read its name written out, not as a reference (that would be a cycle).
        self.service.put_alarms(alarm_names=watch.guard_names(prefix), enable=True, rollback=True)
        depend_on(self.service, watch.alarms_named(watch.guard_names(prefix)))
        account_id = front.account.account_id
        self.chaos = add_chaos(
            self,
            settings,
            prefix=prefix,
            account_id=account_id,
            alarms=watch.alarms[prefix],
            experiments=experiments(
                settings,
                cluster=self.cluster.name,
                service=self.service.name,
                network=self.network,
                account_id=account_id,
            ),
            kms_key_arn=self.key.arn,
            log_retention_days=serving.log_retention_days,
            vpc_id=self.network.vpc_id,
        )
        self._outputs()

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
