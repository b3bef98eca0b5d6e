"""The settings -> network props mapping every multi-AZ architecture shares, in one place."""

from __future__ import annotations

from modules.blocks.network import NetworkProps
from modules.config import Settings


def network_props(settings: Settings, name: str, logs_kms_key_arn: str) -> NetworkProps:
    """The network block's props from the settings every multi-AZ stack shares."""
    return NetworkProps(
        name=name,
        logs_kms_key_arn=logs_kms_key_arn,
        cidr=settings.vpc_cidr,
        az_count=settings.az_count,
        nat=settings.network.nat,
        flow_log_retention_days=settings.network.flow_log_retention_days,
        interface_endpoints=settings.network.interface_endpoints,
    )
