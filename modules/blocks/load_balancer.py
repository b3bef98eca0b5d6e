"""An application load balancer with logged access, TLS when it has a certificate, and
target groups that detect a failed target fast."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from cdktf_cdktf_provider_aws.data_aws_elb_service_account import DataAwsElbServiceAccount
from cdktf_cdktf_provider_aws.lb import Lb, LbAccessLogs
from cdktf_cdktf_provider_aws.lb_listener import (
    LbListener,
    LbListenerDefaultAction,
    LbListenerDefaultActionForward,
    LbListenerDefaultActionForwardStickiness,
    LbListenerDefaultActionForwardTargetGroup,
    LbListenerDefaultActionRedirect,
)
from cdktf_cdktf_provider_aws.lb_target_group import LbTargetGroup, LbTargetGroupHealthCheck, LbTargetGroupStickiness
from cdktf_cdktf_provider_aws.s3_bucket_policy import S3BucketPolicy
from cdktf_cdktf_provider_aws.security_group import SecurityGroup
from cdktf_cdktf_provider_aws.vpc_security_group_egress_rule import VpcSecurityGroupEgressRule
from cdktf_cdktf_provider_aws.vpc_security_group_ingress_rule import VpcSecurityGroupIngressRule
from constructs import Construct

from modules.blocks.caller_identity import caller_identity
from modules.blocks.secure_bucket import SecureBucket, SecureBucketProps
from modules.blocks.teardown import Teardown
from modules.core.input_rules import (
    CidrsOrReferences,
    DeregistrationDelayS,
    HealthCheckIntervalS,
    HealthThreshold,
    IdleTimeoutS,
    LoadBalancerName,
    S3ExpiryDays,
    SlowStartS,
    StickinessS,
)
from modules.core.props_check import field_problems, problem
from modules.policy.check import waive

# TLS 1.3 and 1.2 only, forward-secret ciphers (AWS's recommended policy).
DEFAULT_SSL_POLICY = "ELBSecurityPolicy-TLS13-1-2-2021-06"


@dataclass(frozen=True, kw_only=True)
class TargetGroupProps:
    """One target group. Defaults detect a dead target in ~20 s and drain in 30 s."""

    name: LoadBalancerName
    port: int
    target_type: Literal["ip", "instance"] = "ip"  # ip for Fargate/awsvpc, instance for EC2 ASGs
    health_check_path: str = "/health"
    health_check_interval_s: HealthCheckIntervalS = 10
    health_check_timeout_s: int = 5
    healthy_threshold: HealthThreshold = 2
    unhealthy_threshold: HealthThreshold = 2
    health_check_matcher: str = "200"
    deregistration_delay_s: DeregistrationDelayS = 30  # in-flight requests finish; AWS's 300 s default slows deploys
    slow_start_s: SlowStartS = 30  # a new target (cold caches, model just loaded) ramps up
    stickiness_s: StickinessS = 0  # lb_cookie stickiness for this long; 0 = off (spread every request)

    def __post_init__(self) -> None:
        problems = field_problems(self)
        if not 1 <= self.port <= 65535:
            problems.append(f"port={self.port}: must be 1-65535")
        if not self.health_check_path.startswith("/"):
            problems.append(f"health_check_path={self.health_check_path!r}: must start with '/'")
        if not 2 <= self.health_check_timeout_s < self.health_check_interval_s:
            problems.append(f"health_check_timeout_s={self.health_check_timeout_s}: must be >= 2 and < the interval")
        if problems:
            raise ValueError("TargetGroupProps: " + "; ".join(problems))


@dataclass(frozen=True, kw_only=True)
class LoadBalancerProps:
    name: LoadBalancerName  # also prefixes the security groups
    vpc_id: str
    subnet_ids: Sequence[str]  # public subnets when internet-facing, private when internal; >= 2 AZs
    target: TargetGroupProps  # the default target group (``"default"`` in ``target_groups``)
    allowed_cidrs: CidrsOrReferences = field(default_factory=tuple)  # nobody by default: say who
    internal: bool = False
    certificate_arn: str | None = None  # HTTPS listener when set (+ the HTTP redirect below)
    # With a certificate, also listen on 80 and answer 301 to HTTPS. Off: nothing on port 80,
    # so a client with an http:// URL fails instead of sending its request (a bearer token
    # included) in cleartext and then being redirected.
    redirect_http: bool = True
    ssl_policy: str = DEFAULT_SSL_POLICY
    idle_timeout_s: IdleTimeoutS = 60
    deletion_protection: bool = True
    access_logs_bucket: str | None = None  # None = the block creates a log bucket (SSE-S3: ALB's only option)
    access_log_retention_days: S3ExpiryDays = 90  # the log bucket's objects expire after this
    # Logs are expendable (they expire): a destroy may remove the bucket once it is empty.
    log_bucket_teardown: Teardown = Teardown.WHEN_EMPTY

    def __post_init__(self) -> None:
        problems = field_problems(self)
        if len(self.subnet_ids) < 2:
            problems.append(f"subnet_ids: {len(self.subnet_ids)} given, an ALB needs subnets in >= 2 AZs")
        if self.certificate_arn is not None and not self.certificate_arn.startswith("arn:"):
            problems.append(f"certificate_arn={self.certificate_arn!r}: must be an ACM certificate ARN")
        if not self.ssl_policy.startswith("ELBSecurityPolicy-TLS13-1-2") and "TLS-1-2" not in self.ssl_policy:
            problems.append(f"ssl_policy={self.ssl_policy!r}: must allow TLS 1.2 and later only")
        if problems:
            raise ValueError("LoadBalancerProps: " + "; ".join(problems))


class LoadBalancer(Construct):
    """An application load balancer and its default target group.

    Defaults that matter: invalid HTTP headers dropped (request smuggling); deletion
    protection on; access logs to a private, TLS-only, expiring log bucket; cross-zone
    balancing; an HTTP listener that forwards, or, with a certificate, an HTTPS listener
    with TLS 1.2+ and an HTTP one that redirects (301) to it (unless ``redirect_http`` is
    off); a target group checking ``/health`` every 10 s with 2/2 thresholds, 30 s
    deregistration delay and 30 s slow start. Security groups: the ALB accepts its
    listeners' ports only from ``allowed_cidrs`` (none by default) and reaches targets
    only on the target port; targets accept only the ALB on that port.

    More target groups: :meth:`add_target_group`; weighted forwarding (canary):
    :meth:`forward`.
    """

    def __init__(self, scope: Construct, id: str, props: LoadBalancerProps) -> None:
        super().__init__(scope, id)
        self.props = props
        self.security_group = SecurityGroup(
            self,
            "sg",
            name=f"{props.name}-alb",
            description=f"ALB {props.name}: HTTP(S) from allowed CIDRs, to targets on their port",
            vpc_id=props.vpc_id,
            tags={"Name": f"{props.name}-alb"},
        )
        self.targets_security_group = SecurityGroup(
            self,
            "targets-sg",
            name=f"{props.name}-targets",
            description=f"Targets of ALB {props.name}: only the ALB, only on the target port",
            vpc_id=props.vpc_id,
            tags={"Name": f"{props.name}-targets"},
        )
        ports = ([80, 443] if props.redirect_http else [443]) if props.certificate_arn else [80]
        for cidr_index, cidr in enumerate(props.allowed_cidrs):
            for port in ports:
                VpcSecurityGroupIngressRule(
                    self,
                    f"in-{port}-{cidr_index}",
                    security_group_id=self.security_group.id,
                    description=f"port {port} from an allowed CIDR",
                    ip_protocol="tcp",
                    from_port=port,
                    to_port=port,
                    cidr_ipv4=cidr,
                )
        self._target_ports: set[int] = set()
        self._log_bucket_policy: S3BucketPolicy | None = None
        self.access_logs_bucket_name = props.access_logs_bucket or self._log_bucket(props)
        self.lb = Lb(
            self,
            "alb",
            name=props.name,
            load_balancer_type="application",
            internal=props.internal,
            subnets=list(props.subnet_ids),
            security_groups=[self.security_group.id],
            drop_invalid_header_fields=True,
            enable_deletion_protection=props.deletion_protection,
            enable_cross_zone_load_balancing=True,
            idle_timeout=props.idle_timeout_s,
            access_logs=LbAccessLogs(bucket=self.access_logs_bucket_name, enabled=True, prefix=props.name),
            depends_on=[self._log_bucket_policy] if self._log_bucket_policy is not None else None,
        )
        self.target_groups: dict[str, LbTargetGroup] = {}
        self.target_group = self.add_target_group("default", props.target)
        forward = self._forward_action({"default": 1})
        redirect = LbListenerDefaultAction(
            type="redirect",
            redirect=LbListenerDefaultActionRedirect(port="443", protocol="HTTPS", status_code="HTTP_301"),
        )
        # With a certificate, HTTPS serves and HTTP (if any) only redirects; without, HTTP serves.
        self.http_listener: LbListener | None
        self.listener: LbListener  # the one that serves: forward() sets its targets
        if not props.certificate_arn:
            self.http_listener = self.listener = self._http_listener(forward)
        else:
            self.http_listener = self._http_listener(redirect) if props.redirect_http else None
            self.listener = LbListener(
                self,
                "https",
                load_balancer_arn=self.lb.arn,
                port=443,
                protocol="HTTPS",
                ssl_policy=props.ssl_policy,
                certificate_arn=props.certificate_arn,
                default_action=[forward],
            )

    def _http_listener(self, action: LbListenerDefaultAction) -> LbListener:
        return LbListener(
            self, "http", load_balancer_arn=self.lb.arn, port=80, protocol="HTTP", default_action=[action]
        )

    @property
    def url(self) -> str:
        scheme = "https" if self.props.certificate_arn else "http"
        return f"{scheme}://{self.lb.dns_name}"

    def add_target_group(self, key: str, props: TargetGroupProps) -> LbTargetGroup:
        """A target group (id ``tg-<key>``, or ``tg`` for the default) with its SG path open.

        It receives traffic once :meth:`forward` gives it a weight.
        """
        if key in self.target_groups:
            raise ValueError(f"target group {key!r} already exists")
        group = LbTargetGroup(
            self,
            "tg" if key == "default" else f"tg-{key}",
            name=props.name,
            port=props.port,
            protocol="HTTP",
            target_type=props.target_type,
            vpc_id=self.props.vpc_id,
            deregistration_delay=str(props.deregistration_delay_s),
            slow_start=props.slow_start_s,
            health_check=LbTargetGroupHealthCheck(
                enabled=True,
                path=props.health_check_path,
                protocol="HTTP",
                port="traffic-port",
                interval=props.health_check_interval_s,
                timeout=props.health_check_timeout_s,
                healthy_threshold=props.healthy_threshold,
                unhealthy_threshold=props.unhealthy_threshold,
                matcher=props.health_check_matcher,
            ),
            stickiness=(
                LbTargetGroupStickiness(type="lb_cookie", enabled=True, cookie_duration=props.stickiness_s)
                if props.stickiness_s
                else None
            ),
        )
        self.target_groups[key] = group
        if props.port not in self._target_ports:
            self._target_ports.add(props.port)
            self._open_target_port(props.port)
        return group

    def forward(self, weights: Mapping[str, int], *, stickiness_s: int = 0) -> None:
        """Send the serving listener's traffic to target groups by weight, e.g.
        ``{"default": 90, "canary": 10}``; ``stickiness_s`` keeps a client on the group it
        was sent to (a canary user sees one model version)."""
        unknown = sorted(set(weights) - set(self.target_groups))
        if unknown or not weights or any(not 0 <= w <= 999 for w in weights.values()):
            raise ValueError(f"forward({dict(weights)}): known target groups {sorted(self.target_groups)}, 0-999")
        if allowed := problem(StickinessS, stickiness_s):
            raise ValueError(f"forward(stickiness_s={stickiness_s}): must be {allowed}")
        self.listener.put_default_action([self._forward_action(weights, stickiness_s)])

    def _forward_action(self, weights: Mapping[str, int], stickiness_s: int = 0) -> LbListenerDefaultAction:
        if len(weights) == 1:
            (key,) = weights
            return LbListenerDefaultAction(type="forward", target_group_arn=self.target_groups[key].arn)
        return LbListenerDefaultAction(
            type="forward",
            forward=LbListenerDefaultActionForward(
                target_group=[
                    LbListenerDefaultActionForwardTargetGroup(arn=self.target_groups[k].arn, weight=w)
                    for k, w in weights.items()
                ],
                stickiness=(
                    LbListenerDefaultActionForwardStickiness(enabled=True, duration=stickiness_s)
                    if stickiness_s
                    else None
                ),
            ),
        )

    def _open_target_port(self, port: int) -> None:
        VpcSecurityGroupEgressRule(
            self,
            f"to-targets-{port}",
            security_group_id=self.security_group.id,
            description=f"to targets on {port}",
            ip_protocol="tcp",
            from_port=port,
            to_port=port,
            referenced_security_group_id=self.targets_security_group.id,
        )
        VpcSecurityGroupIngressRule(
            self,
            f"targets-from-alb-{port}",
            security_group_id=self.targets_security_group.id,
            description=f"from the ALB on {port}",
            ip_protocol="tcp",
            from_port=port,
            to_port=port,
            referenced_security_group_id=self.security_group.id,
        )

    def _log_bucket(self, props: LoadBalancerProps) -> str:
        account = caller_identity(self)
        elb_account = DataAwsElbServiceAccount(self, "elb-account")
        bucket_name = f"{props.name}-alb-logs-{account.account_id}"
        bucket_arn = f"arn:aws:s3:::{bucket_name}"
        log_objects = f"{bucket_arn}/{props.name}/AWSLogs/{account.account_id}/*"
        writers = [
            # Regions opened before 2022-08 deliver as the regional ELB account, newer ones
            # as the log-delivery service: allow both so the block works in every region.
            {"Sid": "ElbAccountWritesLogs", "Principal": {"AWS": elb_account.arn}},
            {
                "Sid": "LogDeliveryWritesLogs",
                "Principal": {"Service": "logdelivery.elasticloadbalancing.amazonaws.com"},
            },
        ]
        self.log_bucket = SecureBucket(
            self,
            "logs",
            SecureBucketProps(
                bucket_name=bucket_name,
                kms_key_arn=None,  # ALB access logs support SSE-S3 only
                expiry_days=props.access_log_retention_days,
                noncurrent_version_expiry_days=7,
                noncurrent_versions_kept=0,
                teardown=props.log_bucket_teardown,
                # Not allow(): Principal before Effect, as deployed; allow()'s key order
                # would change the synthesized policy string.
                extra_policy_statements=tuple(
                    {**w, "Effect": "Allow", "Action": "s3:PutObject", "Resource": log_objects} for w in writers
                ),
            ),
        )
        if props.log_bucket_teardown is not Teardown.REFUSED:
            waive(
                self.log_bucket.bucket,
                "prod-stateful-protected",
                "access logs are expendable (they expire anyway), and AWS refuses to delete a non-empty bucket",
            )
        self._log_bucket_policy = self.log_bucket.policy
        return self.log_bucket.bucket.bucket
