"""The ``state`` stack: the bootstrap that creates the bucket every other stack keeps
its Terraform state in.

Deploy it first, with local state (``terraform.state.tfstate`` in the project root,
``terraform.<environment>.state.tfstate`` for an environment other than ``dev``);
then every other stack. ``state.bootstrap_backend = "s3"`` moves its own state into
the bucket it created (see the README).
"""

from __future__ import annotations

from cdktf import TerraformOutput
from constructs import Construct

from modules.blocks.kms_key import KmsKey, KmsKeyProps
from modules.blocks.secure_bucket import SecureBucket, SecureBucketProps
from modules.config import Settings
from modules.stack.base import BaseStack, store_teardown


class StateStack(BaseStack):
    """State bucket: versioned, SSE-KMS with its own rotating key, public access
    blocked, BucketOwnerEnforced, TLS-only, noncurrent versions expiring; bucket and
    key kept by ``prevent_destroy`` in a protected environment; elsewhere they go, with every
    stack's state in the bucket, when ``state`` itself is destroyed (``force_destroy``; destroy it
    last, and only on purpose)."""

    def __init__(self, scope: Construct, name: str, settings: Settings) -> None:
        super().__init__(scope, name, settings=settings, backend=settings.state.bootstrap_backend)
        state = settings.state
        self.key = KmsKey(
            self,
            "key",
            KmsKeyProps(
                alias=f"{settings.name_prefix}-tfstate",
                description=f"Encrypts Terraform state of {settings.name_prefix}",
                teardown=store_teardown(settings),
            ),
        )
        self.state_bucket = SecureBucket(
            self,
            "bucket",
            SecureBucketProps(
                bucket_name=state.bucket,
                kms_key_arn=self.key.arn,
                noncurrent_version_expiry_days=state.noncurrent_version_expiry_days,
                noncurrent_versions_kept=state.noncurrent_versions_kept,
                teardown=store_teardown(settings),
            ),
        )
        TerraformOutput(
            self,
            "state_bucket_name",
            value=self.state_bucket.bucket.bucket,
            description="S3 bucket holding every stack's Terraform state",
        )
        TerraformOutput(
            self, "state_bucket_arn", value=self.state_bucket.bucket.arn, description="ARN of the state bucket"
        )
        TerraformOutput(
            self, "state_kms_key_arn", value=self.key.arn, description="KMS key encrypting the state bucket"
        )
