"""The account the stack deploys into, read once per scope from the provider's credentials."""

from __future__ import annotations

from cdktf import Postcondition, TerraformResourceLifecycle
from cdktf_cdktf_provider_aws.data_aws_caller_identity import DataAwsCallerIdentity
from constructs import Construct

# A Terraform address: every caller identity data source of the app has this id in its scope.
CALLER_IDENTITY_ID = "account"
# The id of the one that pins a stack to its account (:func:`account_pin`).
ACCOUNT_PIN_ID = "account_pin"


def caller_identity(scope: Construct) -> DataAwsCallerIdentity:
    """The ``aws_caller_identity`` data source under ``scope`` (id ``account``): its
    ``account_id`` for ARNs and for ``aws:SourceAccount`` conditions."""
    return DataAwsCallerIdentity(scope, CALLER_IDENTITY_ID)


def account_pin(scope: Construct, account_id: str, setting: str, environment: str) -> DataAwsCallerIdentity:
    """An ``aws_caller_identity`` whose postcondition fails the plan, before any change, when the
    credentials are of another account than ``account_id``; the message names ``setting`` and
    both accounts. (Terraform reads a data source with no unknown arguments while planning.)"""
    message = (
        f"The setting {setting} pins environment {environment} to AWS account {account_id}, but the "
        f"credentials are of account ${{self.account_id}}: use credentials of account {account_id}, or "
        f"change {setting}."
    )
    condition = f'${{self.account_id == "{account_id}"}}'
    return DataAwsCallerIdentity(
        scope,
        ACCOUNT_PIN_ID,
        lifecycle=TerraformResourceLifecycle(postcondition=[Postcondition(condition=condition, error_message=message)]),
    )
