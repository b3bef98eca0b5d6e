"""Emulator-only adjustments live in one place and never change a real-AWS synth."""

from __future__ import annotations

import fnmatch
from collections.abc import Iterator
from typing import Any

import pytest

from modules.policy.rules import STATEFUL_TYPES
from modules.stack import emulator
from tests.conftest import EMULATOR_ENV, PROD_ALARMS, PROJECT_ROOT, PUBLIC_ENV, StackDoc, load_stacks, settings_from

# Settings that bring in resources the default synth lacks (e.g. the ASG fleet instead of
# the Spot Fleet): each is synthesized for real AWS and for the emulator too.
# (stack, settings): synthesized for real and for the emulator, beside the defaults. The
# prod ones carry the protections (prevent_destroy, deletion protection) the emulator lifts.
VARIANTS = (
    ("stream-analytics", {"RAI_STREAM_FLEET_KIND": "asg"}),
    ("stream-analytics", {"RAI_ENVIRONMENT": "prod", **PROD_ALARMS}),
    ("model-serving", {"RAI_ENVIRONMENT": "prod", **PROD_ALARMS}),
    ("model-serving", PUBLIC_ENV),  # the WAF, the HTTPS listener (tests/test_public_round_trip.py)
)


@pytest.fixture(scope="module")
def variant_pairs(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[StackDoc, StackDoc]]:
    """(real, emulated) synths of each stack in :data:`VARIANTS`."""
    from modules.app import synth

    pairs = []
    for stack, env in VARIANTS:
        docs = []
        for extra in ({}, EMULATOR_ENV):
            outdir = tmp_path_factory.mktemp("variant") / "cdktf.out"
            synth(settings_from({**env, **extra}), outdir, only=[stack])
            docs.append(load_stacks(outdir)[stack])
        pairs.append((docs[0], docs[1]))
    return pairs


def leaf_paths(value: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    if isinstance(value, dict):
        for k, v in value.items():
            yield from leaf_paths(v, f"{prefix}.{k}" if prefix else k)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from leaf_paths(v, f"{prefix}.{i}")
    else:
        yield prefix, value


def differing_paths(real: StackDoc, emulated: StackDoc) -> set[str]:
    a, b = dict(leaf_paths(real)), dict(leaf_paths(emulated))
    return {p for p in a.keys() | b.keys() if a.get(p, KeyError) != b.get(p, KeyError)}


def allowed(path: str, protected: bool) -> bool:
    """``path`` is at or under a declared pointing path or adjustment of a stack of a
    (un)``protected`` environment."""
    if "//" in path.split("."):
        return True  # cdktf's own metadata comments (e.g. which overrides exist): not deployed
    for pattern in emulator.adjustment_paths(protected):
        if fnmatch.fnmatch(path, pattern) or fnmatch.fnmatch(path, pattern + ".*"):
            return True
    return False


def test_emulator_synth_differs_from_real_only_where_declared(
    stacks: dict[str, StackDoc],
    emulator_stacks: dict[str, StackDoc],
    variant_pairs: list[tuple[StackDoc, StackDoc]],
) -> None:
    assert stacks.keys() == emulator_stacks.keys()
    pairs = [(stacks[name], emulator_stacks[name]) for name in stacks] + variant_pairs
    for real, emulated in pairs:
        protected = real["//"]["protected"]
        undeclared = sorted(p for p in differing_paths(real, emulated) if not allowed(p, protected))
        assert not undeclared, f"emulator synth changes undeclared paths {undeclared}"


def test_every_declared_adjustment_is_applied_somewhere(
    stacks: dict[str, StackDoc],
    emulator_stacks: dict[str, StackDoc],
    variant_pairs: list[tuple[StackDoc, StackDoc]],
) -> None:
    """A declared adjustment that changes nothing is stale and should go."""
    changed = set().union(*(differing_paths(stacks[n], emulator_stacks[n]) for n in stacks))
    changed |= set().union(*(differing_paths(real, emulated) for real, emulated in variant_pairs))
    for adj in emulator.ADJUSTMENTS:
        for pattern in adj.paths():
            assert any(fnmatch.fnmatch(p, pattern) or fnmatch.fnmatch(p, pattern + ".*") for p in changed), pattern


def test_real_synth_has_none_of_the_adjusted_values(stacks: dict[str, StackDoc]) -> None:
    for name, doc in stacks.items():
        for path, value in leaf_paths(doc):
            if path.endswith("lifecycle.prevent_destroy"):
                assert value is True, f"{name}: {path} is off on real AWS"


# The arguments that decide how a destroy treats a store (modules/blocks/teardown.py).
TEARDOWN_ARGUMENTS = (
    "lifecycle.prevent_destroy",
    "force_destroy",
    "force_delete",
    "deletion_window_in_days",
    "deletion_protection_enabled",
    "enable_deletion_protection",
)


def test_an_unprotected_environment_is_destroyed_on_the_emulator_as_configured(
    stacks: dict[str, StackDoc],
    emulator_stacks: dict[str, StackDoc],
    variant_pairs: list[tuple[StackDoc, StackDoc]],
) -> None:
    """Nothing that decides a teardown is lifted for an unprotected environment: its round trip
    destroys what AWS would get."""
    pairs = [(stacks[name], emulator_stacks[name]) for name in stacks]
    pairs += [(real, emulated) for real, emulated in variant_pairs if not real["//"]["protected"]]
    assert len(pairs) > len(stacks), "the unprotected variants are compared too"
    for real, emulated in pairs:
        lifted = sorted(p for p in differing_paths(real, emulated) if p.endswith(TEARDOWN_ARGUMENTS))
        assert not lifted, f"the emulator lifts {lifted} in an unprotected environment"


def test_every_stateful_resource_of_a_protected_environment_can_be_destroyed_on_the_emulator(
    variant_pairs: list[tuple[StackDoc, StackDoc]],
) -> None:
    """A round trip ends with destroy: in a protected environment nothing the policy protects may
    stay protected on the emulator."""
    docs = [emulated for real, emulated in variant_pairs if real["//"]["protected"]]
    seen = set()
    for doc in docs:
        for rtype in STATEFUL_TYPES:
            for name, body in doc.get("resource", {}).get(rtype, {}).items():
                seen.add(rtype)
                assert body.get("lifecycle", {}).get("prevent_destroy") is False, f"{rtype}.{name}"
                assert not body.get("deletion_protection_enabled"), f"{rtype}.{name}"
        for name, body in doc.get("resource", {}).get("aws_lb", {}).items():
            assert body.get("enable_deletion_protection") is False, f"aws_lb.{name}"
    assert {"aws_s3_bucket", "aws_kms_key", "aws_dynamodb_table", "aws_sqs_queue", "aws_kinesis_stream"} <= seen


def test_testing_page_lists_every_adjustment() -> None:
    page = (PROJECT_ROOT / "docs" / "testing.md").read_text()
    assert emulator.adjustments_table() in page, "docs/testing.md emulator table is stale: run `make docs`"
