"""The ``target-groups`` stack: stable and canary target groups behind one ALB, weighted.

Each target group (e.g. model v1 and v2) has its own self-healing Auto Scaling group of
model servers; the listener forwards by the weights in ``target_groups.weights``.
"""

from __future__ import annotations

from typing import Any

from cdktf import TerraformOutput
from constructs import Construct

from modules.architectures.fleet_site import FleetSite, replacement_time_s, server_target_group
from modules.blocks.alarms import threshold_alarms
from modules.blocks.fleet import detection_s
from modules.blocks.load_balancer import TargetGroupProps
from modules.blocks.model_server_fleet import ModelServerFleet
from modules.config import Settings
from modules.core.stack import BaseStack

# The seed's thresholds: 2 passes in, 2 failures out (3 s timeout), any 2xx is healthy.
HEALTHY_THRESHOLD = 2
UNHEALTHY_THRESHOLD = 2
MATCHER = "200-299"
GROUPS = ("stable", "canary")


def target_group_props(settings: Settings, name: str) -> TargetGroupProps:
    tg = settings.target_groups
    return server_target_group(
        settings,
        name,
        interval_s=tg.health_check_interval_s,
        healthy_threshold=HEALTHY_THRESHOLD,
        unhealthy_threshold=UNHEALTHY_THRESHOLD,
        matcher=MATCHER,
        stickiness_s=tg.stickiness_s,
    )


def detection_and_replacement_s(settings: Settings) -> tuple[int, int]:
    """(s until the ALB takes a failed target out, s until a replacement can serve)."""
    detection = detection_s(settings.target_groups.health_check_interval_s, UNHEALTHY_THRESHOLD)
    return detection, replacement_time_s(settings)


class TargetGroupsStack(BaseStack):
    """Stable and canary model servers behind one ALB, split by weight.

    Fault tolerance: each target group is checked on ``/health`` every 5 s (2/2
    thresholds, 3 s timeout, 200-299): a failed target is out in 10 s; each has its own
    Auto Scaling group (ELB health checks, on-demand base + spot, capacity rebalance,
    instance refresh, drain hook, target tracking) over every AZ; a bad canary hurts only
    its weight's share and is rolled back by setting its weight to 0. Alarms on unhealthy
    hosts and 5xx per group. Security: the ALB accepts only the configured CIDRs (never
    none: the setting may not be empty), instances only the ALB.
    """

    def __init__(self, scope: Construct, name: str, settings: Settings) -> None:
        super().__init__(scope, name, settings=settings)
        tg = settings.target_groups
        prefix = f"{settings.name_prefix}-tg"
        self.site = FleetSite(
            self,
            "site",
            settings,
            prefix=prefix,
            short=prefix,
            region=settings.region,
            allowed_cidrs=tg.allowed_cidrs,
            target=target_group_props(settings, f"{prefix}-stable"),
            certificate_arn=settings.load_balancer.certificate_arn or None,
        )
        lb = self.site.load_balancer
        # The block's default target group is the stable one; the canary is added beside it.
        groups = {"stable": lb.target_group, "canary": lb.add_target_group(
            "canary", target_group_props(settings, f"{prefix}-canary"))}  # fmt: skip
        weights = tg.weights
        lb.forward({"default": weights["stable"], "canary": weights["canary"]}, stickiness_s=tg.stickiness_s)
        self.target_groups = groups
        models = {"stable": settings.serving.model_uri, "canary": tg.canary_model_uri or settings.serving.model_uri}
        self.fleets: dict[str, ModelServerFleet] = {
            key: self.site.add_fleet(
                key,
                group,
                name=f"{prefix}-{key}",
                min_size=tg.min_size,
                max_size=tg.max_size,
                model_uri=models[key],
                # A refresh of this group undoes itself when its own targets go bad.
                rollback_alarm_keys=(f"{key}-unhealthy-hosts", f"{key}-target-5xx"),
            )
            for key, group in groups.items()
        }
        self._alarms()
        outputs = {
            "alb_url": (lb.url, "URL of the load balancer"),
            "stable_target_group_arn": (
                groups["stable"].arn,
                f"stable target group ({weights['stable']} of the weight)",
            ),
            "canary_target_group_arn": (
                groups["canary"].arn,
                f"canary target group ({weights['canary']} of the weight)",
            ),
            "stable_asg_name": (self.fleets["stable"].fleet.name, "Auto Scaling group of the stable servers"),
            "canary_asg_name": (self.fleets["canary"].fleet.name, "Auto Scaling group of the canary servers"),
            "alarm_topic_arn": (self.site.topic.arn, "SNS topic of the alarms"),
        }
        for key, (value, description) in outputs.items():
            TerraformOutput(self, key, value=value, description=description)

    def _alarms(self) -> None:
        lb = self.site.load_balancer
        alarms: dict[str, dict[str, Any]] = {}
        for key, group in self.target_groups.items():
            dims = {"LoadBalancer": lb.lb.arn_suffix, "TargetGroup": group.arn_suffix}
            alarms[f"{key}-unhealthy-hosts"] = {
                "namespace": "AWS/ApplicationELB", "metric_name": "UnHealthyHostCount", "dimensions": dims,
                "statistic": "Maximum", "threshold": 0, "periods": 1, "datapoints": 1,
                "desc": f"a {key} target fails its health checks (its group replaces it)",
            }  # fmt: skip
            alarms[f"{key}-target-5xx"] = {
                "namespace": "AWS/ApplicationELB", "metric_name": "HTTPCode_Target_5XX_Count", "dimensions": dims,
                "statistic": "Sum", "threshold": 0,
                "desc": f"{key} model servers answer 5xx" + (": consider its weight 0" if key == "canary" else ""),
            }  # fmt: skip
        threshold_alarms(self.site, self.site.prefix, alarms, [self.site.topic.arn], periods=3, datapoints=2)
