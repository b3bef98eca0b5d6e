"""What a stack's destroy does to a store of data: refuse, remove it when empty, or remove it
with its data.

A store (bucket, repository, key, table, stream, queue) is built once and told how it goes
with :func:`apply_teardown`; which of the three an environment gets is decided in one place,
by the stack layer (``modules.stack.base.store_teardown``), from whether the environment is
protected.
"""

from __future__ import annotations

from enum import Enum
from typing import Any

from cdktf import TerraformResource

# AWS's shortest KMS deletion window: a destroyed key of an unprotected environment is gone in a week.
SHORTEST_KEY_DELETION_WINDOW_DAYS = 7


class Teardown(Enum):
    """How a destroy treats a store."""

    REFUSED = "refused"
    """``prevent_destroy``, and deletion protection where the resource has it: no plan destroys it."""

    WHEN_EMPTY = "when_empty"
    """Nothing written: an expendable store (logs, a re-uploaded artifact) of a protected
    environment. Destroy removes it, but AWS refuses to delete a bucket or repository that holds
    anything."""

    WITH_DATA = "with_data"
    """Destroy removes it and what it holds: ``force_destroy`` (buckets), ``force_delete``
    (repositories), deletion protection off, keys scheduled for deletion after the shortest window."""


# Argument -> value written on a resource type when it goes with its data.
_WITH_DATA: dict[str, tuple[str, Any]] = {
    "aws_s3_bucket": ("force_destroy", True),
    "aws_ecr_repository": ("force_delete", True),
    "aws_kms_key": ("deletion_window_in_days", SHORTEST_KEY_DELETION_WINDOW_DAYS),
    "aws_dynamodb_table": ("deletion_protection_enabled", False),
}

# The deletion protection of a resource type, switched on where a destroy is refused.
_DELETION_PROTECTION = {"aws_dynamodb_table": "deletion_protection_enabled"}


def apply_teardown(teardown: Teardown, *resources: TerraformResource) -> None:
    """Write ``teardown`` on each of ``resources``.

    Typed setters, not overrides, for the arguments: the resource's own accessors then tell the
    truth. ``prevent_destroy`` is written only when on, so an unprotected synth never carries a
    ``prevent_destroy = false`` a reviewer has to read past.
    """
    for resource in resources:
        rtype = resource.terraform_resource_type
        if teardown is Teardown.REFUSED:
            resource.add_override("lifecycle.prevent_destroy", True)
            if rtype in _DELETION_PROTECTION:
                setattr(resource, _DELETION_PROTECTION[rtype], True)
        elif teardown is Teardown.WITH_DATA and rtype in _WITH_DATA:
            argument, value = _WITH_DATA[rtype]
            setattr(resource, argument, value)
