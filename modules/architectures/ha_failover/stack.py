"""The ``ha-failover`` stack: model servers on an Auto Scaling group behind an ALB, over N AZs.

With ``ha_failover.secondary_region`` the same site runs in a second region; with a hosted
zone too, Route 53 health checks and PRIMARY/SECONDARY failover records send clients to
the secondary site when the primary fails its checks.
"""

from __future__ import annotations

from cdktf import TerraformDataSource, TerraformOutput, TerraformProvider, TerraformResource
from cdktf_cdktf_provider_aws.route53_health_check import Route53HealthCheck
from cdktf_cdktf_provider_aws.route53_record import (
    Route53Record,
    Route53RecordAlias,
    Route53RecordFailoverRoutingPolicy,
)
from constructs import Construct

from modules.architectures.ha_failover.chaos import experiments
from modules.architectures.ha_failover.observability import observe, site_alarms
from modules.blocks.alarms import AlarmSpec
from modules.blocks.fleet import detection_s
from modules.blocks.fleet_metrics import TargetMetrics, target_metrics
from modules.blocks.model_server_fleet import ModelServerFleet
from modules.config import Settings
from modules.patterns.chaos_experiments import add_chaos
from modules.patterns.exposure import exposure
from modules.patterns.network import network_stacks
from modules.patterns.serving_site import (
    ModelServerRegion,
    after_rollback_alarms,
    replacement_time_s,
    server_target_group,
)
from modules.stack.base import BaseStack


def use_provider(scope: Construct, provider: TerraformProvider) -> None:
    """Every resource and data source under ``scope`` is managed by ``provider`` (its region)."""
    for node in scope.node.find_all():
        if isinstance(node, TerraformResource | TerraformDataSource):
            node.provider = provider


def detection_and_replacement_s(settings: Settings) -> tuple[int, int]:
    """(s until the ALB takes a failed target out, s until a replacement can serve)."""
    ha = settings.ha_failover
    return detection_s(ha.health_check_interval_s, ha.unhealthy_threshold), replacement_time_s(settings)


class HaFailoverStack(BaseStack):
    """ALB + self-healing Auto Scaling group of model servers, optionally in two regions.

    Fault tolerance: subnets, NAT and instances in every AZ (3 by default); the ALB checks
    ``/v2/health/ready`` every 10 s and takes a target out after 2 failures (20 s); the group
    replaces instances the ALB finds unhealthy (ELB health checks), refreshes instances
    rolling at 100 % healthy, rebalances spot capacity, drains on termination and tracks
    CPU, requests per target and in-flight calls per instance; alarms on unhealthy hosts, ALB
    and target 5xx, in-service instances below the minimum and the servers' own p99 latency,
    5xx and rejection rates; optional second region with DNS failover; FIS experiments (terminate
    instances, one AZ cut off) stopped by the alarms that say callers are hurt.
    Security: instances in private subnets reachable only from the ALB, IMDSv2, Session
    Manager instead of SSH, KMS for artifacts, logs and alarms.
    """

    def __init__(self, scope: Construct, name: str, settings: Settings) -> None:
        super().__init__(scope, name, settings=settings)
        ha = settings.ha_failover
        prefix = f"{settings.name_prefix}-ha"
        self.uses_stacks |= network_stacks(settings)  # each site's network
        self.sites: dict[str, ModelServerRegion] = {}
        self.fleets: dict[str, ModelServerFleet] = {}
        targets: dict[str, TargetMetrics] = {}
        target_specs: dict[str, list[AlarmSpec]] = {}
        regions = {"primary": settings.region}
        if ha.secondary_region:
            regions["secondary"] = ha.secondary_region
        for role, region in regions.items():
            site_prefix = prefix if role == "primary" else f"{prefix}-2"
            site = ModelServerRegion(
                self,
                role,
                settings,
                prefix=site_prefix,
                short=site_prefix,
                region=region,
                stack=name,
                exposure=exposure(settings, name, secondary_region=role == "secondary"),
                target=server_target_group(
                    settings,
                    site_prefix,
                    interval_s=ha.health_check_interval_s,
                    healthy_threshold=ha.healthy_threshold,
                    unhealthy_threshold=ha.unhealthy_threshold,
                ),
            )
            self.sites[role] = site
            targets[role] = target_metrics(site.load_balancer, site.load_balancer.target_group)
            servers = f"{site_prefix}-servers"  # the group's name prefix, and its servers' metrics' Service
            target_specs[role] = site_alarms(settings, targets[role], servers)
            self.fleets[role] = site.add_fleet(
                "servers",
                site.load_balancer.target_group,
                name=servers,
                min_size=ha.min_size,
                max_size=ha.max_size,
                desired=ha.desired_capacity,
                rollback_alarms=target_specs[role],
            )
        self.observability = observe(
            self, settings, prefix, sites=self.sites, fleets=self.fleets, targets=targets, target_specs=target_specs
        )
        after_rollback_alarms(self.fleets.values(), self.observability)
        primary = self.sites["primary"]
        self.alarm_topic = primary.topic
        self.chaos = add_chaos(
            self,
            settings,
            prefix=prefix,
            account_id=primary.account.account_id,
            alarms=self.observability.alarms[primary.prefix],
            experiments=experiments(
                settings,
                group_name=self.fleets["primary"].fleet.name,
                network=primary.network,
                account_id=primary.account.account_id,
                back_within_s=sum(detection_and_replacement_s(settings)),
            ),
            kms_key_arn=primary.key.arn,
            log_retention_days=settings.fleet.log_retention_days,
            vpc_id=primary.network.vpc_id,
        )
        # Last: everything in the secondary site, its alarms too, is managed in its region.
        if "secondary" in self.sites:
            use_provider(self.sites["secondary"], self.region_provider("secondary", regions["secondary"]))
        self.health_checks: dict[str, Route53HealthCheck] = {}
        if ha.hosted_zone_id:
            self._dns_failover(settings)
        self._outputs()

    def _dns_failover(self, settings: Settings) -> None:
        ha = settings.ha_failover
        for role, site in self.sites.items():
            lb = site.load_balancer
            # Route 53's checkers are on the internet: they cannot reach an internal ALB, and a
            # public one answers them 403 (WAF: no bearer token). The check follows the site's
            # own "no healthy hosts" alarm instead, in the site's region.
            alarm = self.observability.alarms[site.prefix]["no-healthy-hosts"]
            check = Route53HealthCheck(
                self,
                f"health-{role}",
                type="CLOUDWATCH_METRIC",
                cloudwatch_alarm_name=alarm.alarm_name,
                cloudwatch_alarm_region=site.region,
                # No data (the region's CloudWatch is unreachable): fail over.
                insufficient_data_health_status="Unhealthy",
                tags={"Name": f"{site.prefix}-alb"},
            )
            self.health_checks[role] = check
            Route53Record(
                self,
                f"record-{role}",
                zone_id=ha.hosted_zone_id,
                name=ha.record_name,
                type="A",
                set_identifier=role,
                failover_routing_policy=Route53RecordFailoverRoutingPolicy(type=role.upper()),
                health_check_id=check.id,
                alias=Route53RecordAlias(name=lb.lb.dns_name, zone_id=lb.lb.zone_id, evaluate_target_health=True),
            )

    def _outputs(self) -> None:
        primary, fleet = self.sites["primary"], self.fleets["primary"]
        outputs = {
            "alb_url": (primary.load_balancer.url, "URL of the primary site's load balancer"),
            "asg_name": (fleet.fleet.name, "Auto Scaling group of the primary site's model servers"),
            "target_group_arn": (
                primary.load_balancer.target_group.arn,
                "target group the ALB checks on /v2/health/ready",
            ),
            "alarm_topic_arn": (primary.topic.arn, "SNS topic of the primary site's alarms"),
        }
        if "secondary" in self.sites:
            outputs["secondary_alb_url"] = (self.sites["secondary"].load_balancer.url, "URL of the secondary site")
            outputs["secondary_asg_name"] = (self.fleets["secondary"].fleet.name, "group of the secondary site")
            outputs["secondary_alarm_topic_arn"] = (
                self.sites["secondary"].topic.arn,
                "topic of the secondary's alarms",
            )
        for key, (value, description) in outputs.items():
            TerraformOutput(self, key, value=value, description=description)
