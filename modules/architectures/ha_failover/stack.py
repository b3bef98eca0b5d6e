"""The ``ha-failover`` stack: model servers on an Auto Scaling group behind an ALB, over N AZs.

With ``ha_failover.secondary_region`` the same site runs in a second region; with a hosted
zone too, Route 53 health checks and PRIMARY/SECONDARY failover records send clients to
the secondary site when the primary fails its checks.
"""

from __future__ import annotations

import json
from typing import Any

from cdktf import TerraformDataSource, TerraformOutput, TerraformProvider, TerraformResource
from cdktf_cdktf_provider_aws.cloudwatch_dashboard import CloudwatchDashboard
from cdktf_cdktf_provider_aws.cloudwatch_metric_alarm import CloudwatchMetricAlarm
from cdktf_cdktf_provider_aws.route53_health_check import Route53HealthCheck
from cdktf_cdktf_provider_aws.route53_record import (
    Route53Record,
    Route53RecordAlias,
    Route53RecordFailoverRoutingPolicy,
)
from constructs import Construct

from modules.architectures.exposure import exposure
from modules.architectures.fleet_site import FleetSite, replacement_time_s, server_target_group
from modules.blocks.alarms import threshold_alarms
from modules.blocks.fleet import detection_s
from modules.blocks.model_server_fleet import ModelServerFleet
from modules.config import Settings
from modules.core.stack import BaseStack

# A refresh whose new instances fail their checks or answer 5xx undoes itself.
REFRESH_ROLLBACK_ALARMS = ("unhealthy-hosts", "target-5xx")


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
    CPU and requests per target; alarms on unhealthy hosts, ALB and target 5xx and
    in-service instances below the minimum; optional second region with DNS failover.
    Security: instances in private subnets reachable only from the ALB, IMDSv2, Session
    Manager instead of SSH, KMS for artifacts, logs and alarms.
    """

    def __init__(self, scope: Construct, name: str, settings: Settings) -> None:
        super().__init__(scope, name, settings=settings)
        ha = settings.ha_failover
        prefix = f"{settings.name_prefix}-ha"
        self.sites: dict[str, FleetSite] = {}
        self.fleets: dict[str, ModelServerFleet] = {}
        self.site_alarms: dict[str, dict[str, CloudwatchMetricAlarm]] = {}
        regions = {"primary": settings.region}
        if ha.secondary_region:
            regions["secondary"] = ha.secondary_region
        for role, region in regions.items():
            site_prefix = prefix if role == "primary" else f"{prefix}-2"
            site = FleetSite(
                self,
                role,
                settings,
                prefix=site_prefix,
                short=site_prefix,
                region=region,
                stack="ha-failover",
                exposure=exposure(settings, "ha-failover", secondary_region=role == "secondary"),
                target=server_target_group(
                    settings,
                    site_prefix,
                    interval_s=ha.health_check_interval_s,
                    healthy_threshold=settings.load_balancer.healthy_threshold,
                    unhealthy_threshold=ha.unhealthy_threshold,
                ),
            )
            self.sites[role] = site
            self.fleets[role] = site.add_fleet(
                "servers",
                site.load_balancer.target_group,
                name=f"{site_prefix}-servers",
                min_size=ha.min_size,
                max_size=ha.max_size,
                desired=ha.desired_capacity,
                rollback_alarm_keys=REFRESH_ROLLBACK_ALARMS,
            )
            self.site_alarms[role] = self._alarms(site, self.fleets[role])
            if role == "secondary":
                use_provider(site, self.region_provider("secondary", region))
        self.health_checks: dict[str, Route53HealthCheck] = {}
        if ha.hosted_zone_id:
            self._dns_failover(settings)
        self.dashboard = CloudwatchDashboard(
            self, "dashboard", dashboard_name=prefix, dashboard_body=self._dashboard(regions)
        )
        self._outputs()

    def _alarms(self, site: FleetSite, fleet: ModelServerFleet) -> dict[str, CloudwatchMetricAlarm]:
        lb = site.load_balancer
        alb = {"LoadBalancer": lb.lb.arn_suffix}
        group = {**alb, "TargetGroup": lb.target_group.arn_suffix}
        alarms: dict[str, dict[str, Any]] = {
            "unhealthy-hosts": {
                "namespace": "AWS/ApplicationELB",
                "metric_name": "UnHealthyHostCount",
                "dimensions": group,
                "statistic": "Maximum",
                "threshold": 0,
                "periods": 1,
                "datapoints": 1,
                "desc": "a target fails its health checks (the group replaces it after the grace period)",
            },
            "no-healthy-hosts": {
                "namespace": "AWS/ApplicationELB",
                "metric_name": "HealthyHostCount",
                "dimensions": group,
                "statistic": "Minimum",
                "threshold": 1,
                "comparison": "LessThanThreshold",
                "periods": 2,
                "datapoints": 2,
                # The ALB reports the count every minute while it lives: silence is an outage.
                "missing": "breaching",
                "desc": "the site serves nothing: no target passes its health checks (DNS failover keys on this)",
            },
            "alb-5xx": {
                "namespace": "AWS/ApplicationELB",
                "metric_name": "HTTPCode_ELB_5XX_Count",
                "dimensions": alb,
                "statistic": "Sum",
                "threshold": 0,
                "desc": "the ALB answers 5xx itself: no healthy target, or targets time out",
            },
            "target-5xx": {
                "namespace": "AWS/ApplicationELB",
                "metric_name": "HTTPCode_Target_5XX_Count",
                "dimensions": group,
                "statistic": "Sum",
                "threshold": 0,
                "desc": "model servers answer 5xx",
            },
            "in-service-below-min": {
                "namespace": "AWS/AutoScaling",
                "metric_name": "GroupInServiceInstances",
                "dimensions": {"AutoScalingGroupName": fleet.fleet.name},
                "statistic": "Minimum",
                "threshold": self.settings.ha_failover.min_size,
                "comparison": "LessThanThreshold",
                # The group always reports its metrics: silence means something is wrong.
                "missing": "breaching",
                "desc": "fewer instances in service than the minimum (no capacity, or a crash loop)",
            },
        }
        return threshold_alarms(site, site.prefix, alarms, [site.topic.arn], periods=3, datapoints=2)

    def _dns_failover(self, settings: Settings) -> None:
        ha = settings.ha_failover
        for role, site in self.sites.items():
            lb = site.load_balancer
            # Route 53's checkers are on the internet: they cannot reach an internal ALB, and a
            # public one answers them 403 (WAF: no bearer token). The check follows the site's
            # own "no healthy hosts" alarm instead, in the site's region.
            alarm = self.site_alarms[role]["no-healthy-hosts"]
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

    def _dashboard(self, regions: dict[str, str]) -> str:
        widgets = []
        for role, region in regions.items():
            site, fleet = self.sites[role], self.fleets[role]
            lb = site.load_balancer
            alb = ["LoadBalancer", lb.lb.arn_suffix]
            group = [*alb, "TargetGroup", lb.target_group.arn_suffix]
            asg = ["AutoScalingGroupName", fleet.fleet.name]
            elb = "AWS/ApplicationELB"

            def widget(
                title: str, metrics: list[list[Any]], stat: str = "Sum", region: str = region, role: str = role
            ) -> dict[str, Any]:
                props = {"title": f"{role}: {title}", "region": region, "stat": stat, "period": 60, "metrics": metrics}
                return {"type": "metric", "width": 12, "height": 6, "properties": props}

            widgets += [
                widget("healthy / unhealthy targets",
                       [[elb, "HealthyHostCount", *group], [elb, "UnHealthyHostCount", *group]], "Maximum"),
                widget("requests / 5xx", [[elb, "RequestCount", *alb], [elb, "HTTPCode_ELB_5XX_Count", *alb],
                                          [elb, "HTTPCode_Target_5XX_Count", *group]]),
                widget("in service / desired", [["AWS/AutoScaling", "GroupInServiceInstances", *asg],
                                                ["AWS/AutoScaling", "GroupDesiredCapacity", *asg]], "Minimum"),
                widget("CPU (%)", [["AWS/EC2", "CPUUtilization", *asg]], "Average"),
                widget("p99 response time (s)", [[elb, "TargetResponseTime", *group]], "p99"),
            ]  # fmt: skip
        return json.dumps({"widgets": widgets})

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
        for key, (value, description) in outputs.items():
            TerraformOutput(self, key, value=value, description=description)
