"""Teardown as configured: an unprotected environment's stores go with their data on destroy, a
protected environment's are kept (prevent_destroy, deletion protection, no force_destroy).

One synth per mode, shared by the session: the defaults (dev, unprotected) and a protected
environment that is not called prod (protection is a setting, not a name); the fleet variant
(prod, a second region) adds the second region's stores.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from modules.blocks.teardown import Teardown
from modules.stack.base import store_teardown
from tests.conftest import PROD_ALARMS, StackDoc, resources, settings_from

STORE_TYPES = (
    "aws_s3_bucket",
    "aws_ecr_repository",
    "aws_kms_key",
    "aws_dynamodb_table",
    "aws_kinesis_stream",
    "aws_sqs_queue",
)

# Stores every synth must have, by construct path: the test cannot pass on a synth that lost them.
KNOWN_STORES = {
    "state/bucket/bucket",
    "state/key/key",
    "event-processing/data/bucket",
    "event-processing/access-logs/bucket",
    "event-processing/key/key",
    "stream-analytics/results/bucket",
    "stream-analytics/artifacts/bucket",
    "stream-analytics/leases",
    "stream-analytics/stream",
    "model-serving/repository",
    "model-serving/alb/logs/bucket",
    "network/primary/key/key",
    "target-groups/site/artifacts/bucket",
    "ha-failover/primary/alb/logs/bucket",
}


def stores(docs: dict[str, StackDoc]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(construct path, type, body) of every store of every stack."""
    for doc in docs.values():
        for rtype in STORE_TYPES:
            for body in resources(doc, rtype):
                yield body["//"]["metadata"]["path"], rtype, body


def expendable(body: dict[str, Any]) -> bool:
    """A store a protected environment lets a destroy remove once empty: waived, with its reason."""
    return "prod-stateful-protected" in body["//"].get("waivers", {})


def test_unprotected_stores_go_with_their_data(stacks: dict[str, StackDoc]) -> None:
    """Dev: every bucket force_destroy, the repository force_delete, keys deleted after 7 days,
    the lease table without deletion protection, and no prevent_destroy on any store."""
    seen = set()
    for path, rtype, body in stores(stacks):
        seen.add(path)
        assert "lifecycle" not in body or "prevent_destroy" not in body["lifecycle"], path
        if rtype == "aws_s3_bucket":
            assert body["force_destroy"] is True, path
        elif rtype == "aws_ecr_repository":
            assert body["force_delete"] is True, path
        elif rtype == "aws_kms_key":
            assert body["deletion_window_in_days"] == 7, path
        elif rtype == "aws_dynamodb_table":
            assert body["deletion_protection_enabled"] is False, path
    assert not KNOWN_STORES - seen, f"stores missing from the synth: {KNOWN_STORES - seen}"


def test_no_prevent_destroy_anywhere_in_an_unprotected_environment(stacks: dict[str, StackDoc]) -> None:
    """Not only on stores: a destroy of dev is never refused by a plan."""
    for name, doc in stacks.items():
        guarded = [r for by_name in doc["resource"].values() for r in by_name.values() if "lifecycle" in r]
        assert not [r["//"]["metadata"]["path"] for r in guarded if "prevent_destroy" in r["lifecycle"]], name
    for doc in stacks.values():
        assert {lb["enable_deletion_protection"] for lb in resources(doc, "aws_lb")} <= {False}


def test_protected_stores_are_kept(protected_stacks: dict[str, StackDoc], fleet_variant: dict[str, StackDoc]) -> None:
    """Protected (and prod, in the fleet variant's second region too): every store not waived as
    expendable carries prevent_destroy; no store has force_destroy or force_delete; keys keep the
    30-day window; the table and load balancers keep deletion protection."""
    seen = set()
    for docs in (protected_stacks, fleet_variant):
        for path, rtype, body in stores(docs):
            seen.add(path)
            kept = body.get("lifecycle", {}).get("prevent_destroy") is True
            assert kept != expendable(body), f"{path}: prevent_destroy unless waived as expendable"
            assert "force_destroy" not in body and "force_delete" not in body, path
            if rtype == "aws_kms_key":
                assert body["deletion_window_in_days"] == 30, path
            if rtype == "aws_dynamodb_table":
                assert body["deletion_protection_enabled"] is True, path
        for doc in docs.values():
            assert {lb["enable_deletion_protection"] for lb in resources(doc, "aws_lb")} <= {True}
    assert not KNOWN_STORES - seen, f"stores missing from the synth: {KNOWN_STORES - seen}"
    assert any(path.startswith("ha-failover/secondary/") for path in seen), "the second region's stores"


def test_each_stack_says_whether_its_environment_is_protected(
    stacks: dict[str, StackDoc], protected_stacks: dict[str, StackDoc]
) -> None:
    """The policy reads protection from the stack's JSON comment, not from the environment's name."""
    assert {doc["//"]["protected"] for doc in stacks.values()} == {False}
    assert {doc["//"]["protected"] for doc in protected_stacks.values()} == {True}


@pytest.mark.parametrize(
    ("environ", "expendable_store", "teardown"),
    [
        ({}, False, Teardown.WITH_DATA),
        ({}, True, Teardown.WITH_DATA),
        ({"RAI_ENVIRONMENT": "prod", **PROD_ALARMS}, False, Teardown.REFUSED),
        ({"RAI_ENVIRONMENT": "prod", **PROD_ALARMS}, True, Teardown.WHEN_EMPTY),
        # The explicit way out of a protected environment: protected = false, deploy, destroy.
        ({"RAI_ENVIRONMENT": "prod", "RAI_PROTECTED": "false"}, False, Teardown.WITH_DATA),
        ({"RAI_PROTECTED": "true", **PROD_ALARMS}, False, Teardown.REFUSED),
    ],
)
def test_one_function_decides_how_a_store_goes(
    environ: dict[str, str], expendable_store: bool, teardown: Teardown
) -> None:
    assert store_teardown(settings_from(environ), expendable=expendable_store) is teardown
