"""An S3 bucket that is encrypted, versioned, private and TLS-only by default."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from cdktf_cdktf_provider_aws.s3_bucket import S3Bucket
from cdktf_cdktf_provider_aws.s3_bucket_lifecycle_configuration import (
    S3BucketLifecycleConfiguration,
    S3BucketLifecycleConfigurationRule,
    S3BucketLifecycleConfigurationRuleAbortIncompleteMultipartUpload,
    S3BucketLifecycleConfigurationRuleExpiration,
    S3BucketLifecycleConfigurationRuleFilter,
    S3BucketLifecycleConfigurationRuleNoncurrentVersionExpiration,
)
from cdktf_cdktf_provider_aws.s3_bucket_logging import S3BucketLoggingA
from cdktf_cdktf_provider_aws.s3_bucket_ownership_controls import (
    S3BucketOwnershipControls,
    S3BucketOwnershipControlsRule,
)
from cdktf_cdktf_provider_aws.s3_bucket_policy import S3BucketPolicy
from cdktf_cdktf_provider_aws.s3_bucket_public_access_block import S3BucketPublicAccessBlock
from cdktf_cdktf_provider_aws.s3_bucket_server_side_encryption_configuration import (
    S3BucketServerSideEncryptionConfigurationA,
    S3BucketServerSideEncryptionConfigurationRuleA,
    S3BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultA,
)
from cdktf_cdktf_provider_aws.s3_bucket_versioning import (
    S3BucketVersioningA,
    S3BucketVersioningVersioningConfiguration,
)
from constructs import Construct

from modules.blocks.teardown import Teardown, apply_teardown
from modules.core.input_rules import BucketName, KmsKeyArn, S3ExpiryDays
from modules.core.props_check import field_problems, problem


@dataclass(frozen=True, kw_only=True)
class SecureBucketProps:
    bucket_name: str
    # None = SSE-S3, only for writers that cannot use a customer key (S3 server access logs, ALB access logs).
    kms_key_arn: KmsKeyArn | None
    noncurrent_version_expiry_days: S3ExpiryDays = 90
    noncurrent_versions_kept: int = 10  # newest noncurrent versions kept regardless of age
    abort_incomplete_multipart_days: int = 7
    # Data buckets are never destroyed by a plan unless the stack says how (modules/blocks/teardown.py).
    teardown: Teardown = Teardown.REFUSED
    access_log_bucket: str | None = None  # target bucket name for server access logs
    access_log_prefix: str = ""
    expiry_days: S3ExpiryDays | None = None  # current objects expire (logs); None = kept
    extra_policy_statements: Sequence[dict[str, Any]] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        problems = field_problems(self)
        # A name known only at apply (a token) is checked by AWS then.
        name_problem = problem(BucketName, self.bucket_name) if "${" not in self.bucket_name else None
        if name_problem:
            problems.append(f"bucket_name={self.bucket_name!r}: must be {name_problem}")
        if not 0 <= self.noncurrent_versions_kept <= 100:
            problems.append(f"noncurrent_versions_kept={self.noncurrent_versions_kept}: must be 0-100")
        if not 1 <= self.abort_incomplete_multipart_days <= 365:
            problems.append(f"abort_incomplete_multipart_days={self.abort_incomplete_multipart_days}: must be 1-365")
        if self.access_log_bucket == self.bucket_name:
            # Each log object written would itself be logged: the bucket would grow without bound.
            problems.append(f"access_log_bucket={self.access_log_bucket!r}: must be another bucket than bucket_name")
        if problems:
            raise ValueError("SecureBucketProps: " + "; ".join(problems))


def tls_only_statements(bucket_arn: str) -> list[dict[str, Any]]:
    """Deny every request that is not over TLS 1.2 or later."""
    resources = [bucket_arn, f"{bucket_arn}/*"]
    return [
        {
            "Sid": "DenyInsecureTransport",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": resources,
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        },
        {
            "Sid": "DenyOutdatedTls",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": resources,
            "Condition": {"NumericLessThan": {"s3:TlsVersion": "1.2"}},
        },
    ]


class SecureBucket(Construct):
    """A general-purpose S3 bucket for state or data.

    Defaults that matter: versioning on (an overwrite or delete is recoverable);
    SSE-KMS with the given customer key and S3 bucket keys (SSE-S3 only when no key is
    given, for access-log targets); all four public access
    blocks; BucketOwnerEnforced (ACLs off); a policy that denies non-TLS and TLS < 1.2
    requests; noncurrent versions expire after 90 days keeping the newest 10; incomplete
    multipart uploads aborted after 7 days; ``prevent_destroy`` on unless ``teardown`` says otherwise
    (``WITH_DATA``: ``force_destroy``, the bucket goes with its objects and their versions).
    """

    def __init__(self, scope: Construct, id: str, props: SecureBucketProps) -> None:
        super().__init__(scope, id)
        self.bucket = S3Bucket(self, "bucket", bucket=props.bucket_name)
        apply_teardown(props.teardown, self.bucket)
        bucket_id = self.bucket.id
        self.versioning = S3BucketVersioningA(
            self,
            "versioning",
            bucket=bucket_id,
            versioning_configuration=S3BucketVersioningVersioningConfiguration(status="Enabled"),
        )
        self.encryption = S3BucketServerSideEncryptionConfigurationA(
            self,
            "encryption",
            bucket=bucket_id,
            rule=[
                S3BucketServerSideEncryptionConfigurationRuleA(
                    apply_server_side_encryption_by_default=(
                        S3BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultA(
                            sse_algorithm="aws:kms", kms_master_key_id=props.kms_key_arn
                        )
                        if props.kms_key_arn is not None
                        else S3BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultA(
                            sse_algorithm="AES256"
                        )
                    ),
                    bucket_key_enabled=True if props.kms_key_arn is not None else None,  # far fewer KMS calls
                )
            ],
        )
        self.public_access_block = S3BucketPublicAccessBlock(
            self,
            "public-access-block",
            bucket=bucket_id,
            block_public_acls=True,
            block_public_policy=True,
            ignore_public_acls=True,
            restrict_public_buckets=True,
        )
        self.ownership = S3BucketOwnershipControls(
            self,
            "ownership",
            bucket=bucket_id,
            rule=S3BucketOwnershipControlsRule(object_ownership="BucketOwnerEnforced"),
        )
        self.policy = S3BucketPolicy(
            self,
            "policy",
            bucket=bucket_id,
            policy=json.dumps(
                {
                    "Version": "2012-10-17",
                    # Grants first: moto 5.2.5 crashes (HTTP 500) on PutBucketLogging when a
                    # statement with a string Principal ("*") precedes the log-delivery grant.
                    # The order means nothing to AWS.
                    "Statement": [*props.extra_policy_statements, *tls_only_statements(self.bucket.arn)],
                }
            ),
            # S3 rejects a bucket policy while the public access block is being set.
            depends_on=[self.public_access_block],
        )
        self.lifecycle = S3BucketLifecycleConfiguration(
            self,
            "lifecycle",
            bucket=bucket_id,
            rule=[
                S3BucketLifecycleConfigurationRule(
                    id="expire-noncurrent-versions",
                    status="Enabled",
                    # An empty filter: the rule covers every object.
                    filter=[S3BucketLifecycleConfigurationRuleFilter()],
                    noncurrent_version_expiration=[
                        S3BucketLifecycleConfigurationRuleNoncurrentVersionExpiration(
                            noncurrent_days=props.noncurrent_version_expiry_days,
                            # 0 = keep none by count: the provider rejects 0, so omit it.
                            newer_noncurrent_versions=(
                                props.noncurrent_versions_kept if props.noncurrent_versions_kept > 0 else None
                            ),
                        )
                    ],
                    abort_incomplete_multipart_upload=[
                        S3BucketLifecycleConfigurationRuleAbortIncompleteMultipartUpload(
                            days_after_initiation=props.abort_incomplete_multipart_days
                        )
                    ],
                    expiration=(
                        [S3BucketLifecycleConfigurationRuleExpiration(days=props.expiry_days)]
                        if props.expiry_days is not None
                        else None
                    ),
                )
            ],
            # Lifecycle rules on versions need versioning to exist first.
            depends_on=[self.versioning],
        )
        if props.access_log_bucket is not None:
            S3BucketLoggingA(
                self,
                "access-logs",
                bucket=bucket_id,
                target_bucket=props.access_log_bucket,
                target_prefix=props.access_log_prefix,
            )
