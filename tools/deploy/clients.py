"""boto3 clients for the account the settings name: the emulator when ``emulator_endpoint`` is
set (its endpoint and the test credentials it accepts), else AWS with the caller's own
credentials. Every tool that talks to a deployed stack builds its clients here."""

from __future__ import annotations

from typing import Any

import boto3
from botocore.config import Config as BotoConfig

from modules.config import Settings
from tools.harness.emulator_credentials import CREDENTIALS


def aws_client(service: str, settings: Settings, config: BotoConfig | None = None) -> Any:
    if not settings.emulated:
        return boto3.client(service, region_name=settings.region, config=config)
    return boto3.client(
        service,
        endpoint_url=settings.emulator_endpoint,
        region_name=settings.region,
        aws_access_key_id=CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        config=config,
    )
