"""The account the stack deploys into, read once per scope from the provider's credentials."""

from __future__ import annotations

from cdktf_cdktf_provider_aws.data_aws_caller_identity import DataAwsCallerIdentity
from constructs import Construct

# A Terraform address: every caller identity data source of the app has this id in its scope.
CALLER_IDENTITY_ID = "account"


def caller_identity(scope: Construct) -> DataAwsCallerIdentity:
    """The ``aws_caller_identity`` data source under ``scope`` (id ``account``): its
    ``account_id`` for ARNs and for ``aws:SourceAccount`` conditions."""
    return DataAwsCallerIdentity(scope, CALLER_IDENTITY_ID)
