"""The production rules: in a protected environment (``protected``, by default prod) nothing that
holds data is destroyed by a plan or with its data, and load balancers keep deletion protection.

Protection is read from the stack's JSON (:attr:`StackDocument.protected`), never from the
environment's name: ``store_teardown`` in ``modules/stack/base.py`` writes what these check.
"""

from __future__ import annotations

from modules.policy.document import Resource, StackDocument
from modules.policy.rule import Rule, is_true

# Resources whose loss loses data: the protected-environment rule and the plan review protect them.
STATEFUL_TYPES = (
    "aws_s3_bucket",
    "aws_dynamodb_table",
    "aws_kinesis_stream",
    "aws_sqs_queue",
    "aws_kms_key",
    "aws_db_instance",
    "aws_rds_cluster",
    "aws_efs_file_system",
    "aws_ecr_repository",
)


class ProdLoadBalancerDeletionProtection(Rule):
    """In a protected environment (prod by default), a load balancer cannot be deleted by a
    stray plan or console click."""

    id = "prod-lb-deletion-protection"
    summary = "in a protected environment, load balancers have deletion protection on"
    types = ("aws_lb",)

    def check(self, doc: StackDocument, res: Resource) -> list[str]:
        if not doc.protected or is_true(res.body.get("enable_deletion_protection")):
            return []
        return ["enable_deletion_protection is off in a protected environment"]


class ProdStatefulProtected(Rule):
    """In a protected environment, a resource that holds data cannot be destroyed by a plan:
    ``prevent_destroy`` (or, for a table, deletion protection)."""

    id = "prod-stateful-protected"
    summary = "in a protected environment, stateful resources carry prevent_destroy (or deletion protection)"
    types = STATEFUL_TYPES

    def check(self, doc: StackDocument, res: Resource) -> list[str]:
        if not doc.protected or destroy_protected(res):
            return []
        return ["a stateful resource without lifecycle.prevent_destroy in a protected environment"]


class ProdNoForceDestroy(Rule):
    """In a protected environment, no store is deleted with what it holds: a bucket without
    ``force_destroy``, a repository without ``force_delete``. Even a store a plan may destroy
    (an expendable one, waived above) is then refused by AWS while it holds anything."""

    id = "prod-no-force-destroy"
    summary = "in a protected environment, no bucket has force_destroy and no repository force_delete"
    types = ("aws_s3_bucket", "aws_ecr_repository")

    def check(self, doc: StackDocument, res: Resource) -> list[str]:
        argument = "force_destroy" if res.type == "aws_s3_bucket" else "force_delete"
        if not doc.protected or not is_true(res.body.get(argument)):
            return []
        return [f"{argument} in a protected environment: a destroy would delete what it holds"]


def destroy_protected(res: Resource) -> bool:
    return is_true(res.get("lifecycle.prevent_destroy")) or is_true(
        res.body.get("deletion_protection_enabled", res.body.get("deletion_protection"))
    )
