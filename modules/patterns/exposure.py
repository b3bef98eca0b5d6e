"""The settings -> exposure mapping of every stack with a load balancer, in one place.

``internal`` (the default): the ALB is internal, in the private subnets, and accepts only
the VPC CIDR (or ``allowed_cidrs``). ``public``: internet-facing in the public subnets,
HTTPS only (HTTP answers 301, or nothing listens on port 80 with ``http_redirect = false``),
a WAF web ACL in front, and the model server verifies the clients' JWTs (the settings
refuse ``public`` without a certificate and an issuer).
"""

from __future__ import annotations

from dataclasses import dataclass

from constructs import Construct

from modules.blocks.load_balancer import LoadBalancer
from modules.blocks.network import NetworkHandles
from modules.blocks.web_acl import WebAcl, WebAclProps
from modules.config import Settings
from modules.policy.check import waive

ANYWHERE = "0.0.0.0/0"


@dataclass(frozen=True, kw_only=True)
class Exposure:
    """How one stack's load balancer is reached."""

    public: bool
    allowed_cidrs: tuple[str, ...]  # empty: the VPC's own range (internal)
    certificate_arn: str | None

    def subnet_ids(self, network: NetworkHandles) -> list[str]:
        return network.public_subnet_ids if self.public else network.private_subnet_ids

    def cidrs(self, network: NetworkHandles) -> tuple[str, ...]:
        """Who may reach the load balancer in ``network`` (whose range is known at plan time
        only when the VPC is the user's)."""
        return self.allowed_cidrs or (network.cidr,)


def exposure(
    settings: Settings, stack: str, *, allowed_cidrs: tuple[str, ...] = (), secondary_region: bool = False
) -> Exposure:
    """``stack``'s exposure; ``allowed_cidrs`` (a stack's own setting) before ``load_balancer.allowed_cidrs``.
    ACM certificates are regional: a site in the secondary region uses ``ha_failover.secondary_certificate_arn``."""
    public = settings.exposure_of(stack) == "public"
    cidrs = allowed_cidrs or settings.load_balancer.allowed_cidrs or ((ANYWHERE,) if public else ())
    return Exposure(
        public=public,
        allowed_cidrs=cidrs,
        certificate_arn=(
            settings.ha_failover.secondary_certificate_arn
            if secondary_region
            else settings.load_balancer.certificate_arn
        )
        or None,
    )


def server_auth_environment(settings: Settings, stack: str) -> dict[str, str]:
    """The model server's JWT settings (``JWT_ISSUER``, ``JWT_AUDIENCE``, ``JWKS_URL``) when
    ``stack`` is public with ``auth = jwt``; empty otherwise (an internal server trusts the VPC)."""
    lb = settings.load_balancer
    if settings.exposure_of(stack) != "public" or lb.auth != "jwt":
        return {}
    jwks = lb.jwks_url or f"{lb.jwt_issuer.rstrip('/')}/.well-known/jwks.json"
    return {"JWT_ISSUER": lb.jwt_issuer, "JWT_AUDIENCE": lb.jwt_audience, "JWKS_URL": jwks}


def web_acl_if_public(
    scope: Construct, settings: Settings, stack: str, lb: LoadBalancer, *, name: str, logs_kms_key_arn: str
) -> WebAcl | None:
    """A WAF web ACL (id ``waf``) on a public ``lb``; None for an internal one."""
    if settings.exposure_of(stack) != "public":
        return None
    if settings.load_balancer.auth == "none":
        waive(lb.listener, "public-endpoint-protected", settings.load_balancer.auth_none_reason)
    return WebAcl(
        scope,
        "waf",
        WebAclProps(
            name=name,
            resource_arn=lb.lb.arn,
            logs_kms_key_arn=logs_kms_key_arn,
            rate_limit_per_5min=settings.load_balancer.rate_limit_per_5min,
            max_body_bytes=settings.model_server.max_body_bytes,
            require_bearer_token=settings.load_balancer.auth == "jwt",
            log_retention_days=settings.load_balancer.waf_log_retention_days,
        ),
    )
