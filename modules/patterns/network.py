"""The settings -> network mapping every multi-AZ architecture shares, in one place: how a
stack gets its network (:func:`stack_network`), whatever ``network.mode`` says, and which
stacks it then reads (:func:`network_stacks`, for the stack to declare)."""

from __future__ import annotations

from constructs import Construct

from modules.blocks.network import Network, NetworkHandles, NetworkProps
from modules.blocks.network_lookup import NetworkLookup, NetworkLookupProps
from modules.config import Settings

NETWORK_STACK = "network"  # the stack that builds the shared VPC (network.mode = "shared")


def network_props(settings: Settings, name: str, logs_kms_key_arn: str, region: str = "") -> NetworkProps:
    """The network block's props from the settings every multi-AZ stack shares, in ``region``
    (the settings' own region when empty)."""
    return NetworkProps(
        name=name,
        logs_kms_key_arn=logs_kms_key_arn,
        zone_ids=settings.zones_in(region or settings.region),
        cidr=settings.vpc_cidr,
        nat=settings.network.nat,
        flow_log_retention_days=settings.network.flow_log_retention_days,
        interface_endpoints=settings.network.interface_endpoints,
    )


def shared_network_name(settings: Settings, region: str) -> str:
    """The Name tag of the `network` stack's VPC in ``region`` (its subnets: ``<name>-private-<i>``)."""
    suffix = "" if region == settings.region else "-2"
    return f"{settings.name_prefix}-network{suffix}"


def network_stacks(settings: Settings) -> frozenset[str]:
    """The stacks a stack that calls :func:`stack_network` reads at plan time, to be deployed
    before it: the `network` stack when ``network.mode`` is ``shared``, else none. The stack
    declares them (``uses_stacks``); nothing here writes into it."""
    return frozenset({NETWORK_STACK}) if settings.network.mode == "shared" else frozenset()


def stack_network(
    scope: Construct, settings: Settings, *, name: str, logs_kms_key_arn: str, region: str = "", public: bool = False
) -> NetworkHandles:
    """The network of a stack (construct id ``network`` under ``scope``), in ``region`` (the
    settings' own when empty); ``public``: the stack puts a load balancer in public subnets.

    ``per_stack``: the stack builds its own VPC (``name`` prefixes it; ``logs_kms_key_arn``
    encrypts its flow logs). ``shared``: the `network` stack's VPC, read by its Name tags (the
    stack declares :func:`network_stacks`). ``existing``: the user's VPC, read by the ids in the
    settings.
    """
    region = region or settings.region
    net = settings.network
    if net.mode == "per_stack":
        return Network(scope, "network", network_props(settings, name, logs_kms_key_arn, region)).handles
    secondary = region != settings.region
    if net.mode == "existing":
        existing = net.existing(secondary=secondary)
        props = NetworkLookupProps(
            az_count=settings.az_count,
            vpc_id=existing.vpc_id,
            private_subnet_ids=existing.private_subnet_ids,
            public_subnet_ids=existing.public_subnet_ids,
            public=public,
            setting_prefix=existing.setting_prefix,
        )
    else:
        props = NetworkLookupProps(
            az_count=settings.az_count,
            name=shared_network_name(settings, region),
            public=public,
            cidr=settings.vpc_cidr,
            setting_prefix="network.secondary_" if secondary else "network.",
        )
    return NetworkLookup(scope, "network", props).handles
