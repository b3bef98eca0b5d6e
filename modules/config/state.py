"""``[state]``: where every stack keeps its Terraform state (the `state` stack creates it)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from modules.config.checks import BucketName, Int, KeyPrefix, Section, between
from modules.core.input_rules import S3ExpiryDays

BootstrapBackend = Literal["local", "s3"]


class StateSettings(Section):
    """Where every stack keeps its Terraform state (the `state` stack creates it)."""

    bucket: BucketName = Field(
        default="",
        description="S3 bucket for Terraform state; globally unique. "
        "Default: `<project>-<environment>-tfstate-<region>`",
        json_schema_extra={"derived": True},
    )
    key_prefix: KeyPrefix = Field(
        default="resilient-ai", description="state object key is `<key_prefix>/<environment>/<stack>.tfstate`"
    )
    bootstrap_backend: BootstrapBackend = Field(
        default="local",
        description="where the `state` stack keeps its own state: `local` until the bucket "
        "exists, `s3` after migrating it into the bucket",
    )
    noncurrent_version_expiry_days: S3ExpiryDays = Field(
        default=90, description="noncurrent state versions expire after this many days"
    )
    noncurrent_versions_kept: Annotated[Int, between(0, 100)] = Field(
        default=10, description="this many newest noncurrent versions are kept regardless of age"
    )
