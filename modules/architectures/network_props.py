"""The settings -> network props mapping every multi-AZ architecture shares, in one place."""

from __future__ import annotations

from modules.blocks.network import NetworkProps
from modules.config import Settings


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
