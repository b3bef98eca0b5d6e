"""boto3 clients for the account the settings name: the emulator when ``emulator_endpoint`` is
set (its endpoint and the test credentials it accepts), else AWS with the caller's own
credentials. Every tool that talks to a deployed stack builds its clients here."""

from __future__ import annotations

import os
from typing import Any

import boto3
from botocore.config import Config as BotoConfig

from modules.config import Settings


def aws_client(service: str, settings: Settings, config: BotoConfig | None = None) -> Any:
    if not settings.emulated:
        return boto3.client(service, region_name=settings.region, config=config)
    # Imported here: the module imports cdktf (jsii starts Node, ~2 s), which AWS runs never need.
    os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
    from modules.core.emulator import CREDENTIALS

    return boto3.client(
        service,
        endpoint_url=settings.emulator_endpoint,
        region_name=settings.region,
        aws_access_key_id=CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        config=config,
    )
