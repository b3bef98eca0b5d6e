"""The front of a model-serving site, built once for every serving stack: the key, the network,
the ALB (with its WAF when public), the targets' HTTPS egress and the alarm topic.

Like aws-ecs-patterns' ``base/``: the front is the same whether Fargate tasks
(:mod:`modules.patterns.serving_fargate`, ``model-serving``) or EC2 fleets
(:mod:`modules.patterns.serving_site`, ``ha-failover`` and ``target-groups``) serve behind it;
each variant adds only its service.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from constructs import Construct

from modules.blocks.alarm_topic import TopicHandle
from modules.blocks.caller_identity import caller_identity
from modules.blocks.kms_key import KmsKey, KmsKeyProps, account_logs_arn, logs_use_statement, service_use_statement
from modules.blocks.load_balancer import LoadBalancer, LoadBalancerProps, TargetGroupProps
from modules.blocks.network import https_egress
from modules.blocks.web_acl import WebAcl
from modules.config import Settings
from modules.core.input_rules import LB_NAME_MAX
from modules.patterns.alarm_routing import stack_alarm_topic
from modules.patterns.exposure import Exposure, web_acl_if_public
from modules.patterns.network import stack_network
from modules.stack.base import store_teardown


def short_name(name: str) -> str:
    """``name`` if it fits AWS's 32-character limit, else a cut with a stable hash suffix."""
    if len(name) <= LB_NAME_MAX:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:6]
    return f"{name[: LB_NAME_MAX - 7].rstrip('-')}-{digest}"


@dataclass(frozen=True, kw_only=True)
class ServingFrontProps:
    """One site's front. ``prefix`` names the key alias, the network and the alarm topic;
    ``short`` the ALB and its target group (cut to 32 characters with :func:`short_name`)."""

    prefix: str
    short: str
    region: str
    stack: str  # the stack whose exposure and WAF settings apply
    exposure: Exposure
    encrypts: str  # what the key's description says it encrypts besides logs and alarm notifications
    egress_id: str  # construct id of the targets' HTTPS egress rule
    egress_description: str
    # The id of a topic created straight in the scope, where the stack deployed it before the
    # AlarmTopic construct existed: its Terraform address.
    flat_topic_id: str | None = None


class ServingFront:
    """Builds a site's front into ``scope``, in three steps a variant interleaves with its own
    resources: the key and the network (here), the load balancer (:meth:`add_load_balancer`),
    the alarm topic (:meth:`add_alarm_topic`). Not a construct of its own: the ids it creates
    under ``scope`` are the Terraform addresses the stacks were deployed with.

    Defaults that matter: one KMS key (logs, alarm topic, the variant's artifacts or images),
    kept in prod; the network over ``settings.az_count`` AZs (the stack's, the `network`
    stack's, or the user's); an ALB with access logs reachable from ``exposure.allowed_cidrs``
    only: internal in the private subnets unless ``exposure`` is public (then in the public
    subnets, HTTPS only, behind a WAF web ACL); targets reachable only from the ALB on their
    port, with HTTPS out and nothing else.
    """

    def __init__(self, scope: Construct, settings: Settings, props: ServingFrontProps) -> None:
        self.scope, self.settings, self.props = scope, settings, props
        self.account = caller_identity(scope)
        self.key = KmsKey(
            scope,
            "key",
            KmsKeyProps(
                alias=props.prefix,
                description=f"Encrypts {props.encrypts}, logs and alarm notifications of {props.prefix}",
                teardown=store_teardown(settings),
                extra_policy_statements=(
                    logs_use_statement(props.region, account_logs_arn(props.region, self.account.account_id)),
                    service_use_statement("CloudWatchAlarmsPublishToTopic", "cloudwatch.amazonaws.com"),
                ),
            ),
        )
        self.network = stack_network(
            scope,
            settings,
            name=props.prefix,
            logs_kms_key_arn=self.key.arn,
            region=props.region,
            public=props.exposure.public,
        )

    def add_load_balancer(self, target: TargetGroupProps) -> LoadBalancer:
        """The ALB (id ``alb``) forwarding to ``target``, its WAF (id ``waf``) when public, and
        the targets' HTTPS egress."""
        lb, props = self.settings.load_balancer, self.props
        self.load_balancer = LoadBalancer(
            self.scope,
            "alb",
            LoadBalancerProps(
                name=short_name(props.short),
                vpc_id=self.network.vpc_id,
                subnet_ids=props.exposure.subnet_ids(self.network),
                internal=not props.exposure.public,
                allowed_cidrs=props.exposure.cidrs(self.network),
                certificate_arn=props.exposure.certificate_arn,
                redirect_http=lb.http_redirect,
                idle_timeout_s=lb.idle_timeout_s,
                deletion_protection=self.settings.is_protected,
                log_bucket_teardown=store_teardown(self.settings, expendable=True),
                target=target,
            ),
        )
        self.waf: WebAcl | None = web_acl_if_public(
            self.scope,
            self.settings,
            props.stack,
            self.load_balancer,
            name=short_name(props.short),
            logs_kms_key_arn=self.key.arn,
        )
        https_egress(
            self.scope, props.egress_id, self.load_balancer.targets_security_group.id, props.egress_description
        )
        return self.load_balancer

    def add_alarm_topic(self) -> TopicHandle:
        """The topic the site's alarms notify (:func:`~modules.patterns.alarm_routing.stack_alarm_topic`):
        with no ``[alarms]`` destination its own (id ``alarms``), encrypted with its key."""
        props = self.props
        self.topic = stack_alarm_topic(
            self.scope,
            self.settings,
            name=f"{props.prefix}-alarms",
            kms_key_arn=self.key.arn,
            region=props.region,
            topic_id=props.flat_topic_id or "alarms",
            flat=props.flat_topic_id is not None,
        )
        return self.topic
