"""``[load_balancer]``: the application load balancers built with the load-balancer block,
and how the model-serving, ha-failover and target-groups stacks expose them."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from modules.config.checks import AcmArn, Exposure, HttpsUrl, OptionalCidrList, Section, Str
from modules.core.input_rules import (
    DeregistrationDelayS,
    IdleTimeoutS,
    LogRetentionDays,
    SlowStartS,
    WafRateLimit,
)


class LoadBalancerSettings(Section):
    """The application load balancers: exposure, TLS, WAF, authentication, target deregistration.
    Each stack's health checks are in its own section."""

    exposure: Exposure = Field(
        default="internal",
        description="`internal`: ALB in private subnets, reachable from the VPC only; `public`: internet-facing, "
        "and then a certificate, WAF and authentication are required (per-stack override: `exposure` in the "
        "section of each stack with a load balancer: [serving], [ha_failover], [target_groups])",
    )
    allowed_cidrs: OptionalCidrList = Field(
        default=(),
        description="IPv4 CIDRs allowed to reach the ALB; empty = the VPC CIDR when internal, anywhere when public",
    )
    certificate_arn: AcmArn = Field(
        default="",
        description="ACM certificate ARN: an HTTPS listener (TLS 1.2+); HTTP redirects (301) to it when "
        "internal, and a public ALB has no HTTP listener at all; required when public",
    )
    http_redirect: bool = Field(
        default=True,
        description="with a certificate, also listen on port 80 and answer 301 to HTTPS; `false`: no port 80 at all, "
        "so an `http://` client fails before it sends anything (a bearer token included) instead of being redirected",
    )
    auth: Literal["jwt", "none"] = Field(
        default="jwt",
        description="authentication of API clients when public: `jwt` (bearer tokens of jwt_issuer, verified by the "
        "model server) or `none` (a resilience-policy finding that needs a written waiver)",
    )
    auth_none_reason: Str = Field(
        default="",
        description="with auth = none and public: the written waiver (why no authentication is acceptable), "
        "20+ characters; required then",
    )
    jwt_issuer: HttpsUrl = Field(
        default="", description="OIDC issuer (`iss`) of the clients' JWTs; required when public with auth = jwt"
    )
    jwt_audience: Str = Field(
        default="", description="audience (`aud`) the JWTs must carry; required when public with auth = jwt"
    )
    jwks_url: HttpsUrl = Field(
        default="", description="URL of the issuer's signing keys (JWKS); empty = `<jwt_issuer>/.well-known/jwks.json`"
    )
    rate_limit_per_5min: WafRateLimit = Field(
        default=1000, description="WAF: requests one client IP may send in 5 minutes before it is blocked (public)"
    )
    waf_log_retention_days: LogRetentionDays = Field(
        default=365, description="WAF log retention (days) in the KMS-encrypted `aws-waf-logs-` log group (public)"
    )
    idle_timeout_s: IdleTimeoutS = Field(default=60, description="ALB idle connection timeout (seconds)")
    deregistration_delay_s: DeregistrationDelayS = Field(
        default=30, description="time in-flight requests get to finish on a deregistered target"
    )
    slow_start_s: SlowStartS = Field(
        default=30, description="a new target's traffic ramps up over this many seconds; 0 = off"
    )
