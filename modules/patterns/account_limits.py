"""The plan-time checks of the account (:mod:`modules.blocks.account_checks`) from the settings:
which instance types in which zones, and every Lambda reservation the stacks make."""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

from constructs import Construct

from modules.blocks.account_checks import instance_types_offered, lambda_concurrency_left
from modules.config import Settings
from modules.config.settings import SECTION_OF

# The target-groups canary controller: one run at a time moves the weights.
CANARY_CONTROLLER_CONCURRENCY = 1


def lambda_reservations(settings: Settings) -> dict[str, int]:
    """Every reserved Lambda concurrency of the app (all its stacks share the account and
    region's pool), by the setting or function that reserves it."""
    # event-processing's own section, read by name: patterns never import an architecture.
    event_processing = getattr(settings, SECTION_OF["event-processing"])
    return {
        "event_processing.reserved_concurrency": cast(int, event_processing.reserved_concurrency),
        "the target-groups canary controller": CANARY_CONTROLLER_CONCURRENCY,
    }


def check_lambda_concurrency(scope: Construct, settings: Settings) -> None:
    """Fails the plan when the app's reservations leave Lambda's unreserved minimum short."""
    lambda_concurrency_left(scope, "lambda-concurrency", reserved=lambda_reservations(settings))


def check_instance_types(
    scope: Construct, settings: Settings, *, region: str, instance_types: Sequence[str], types_setting: str
) -> None:
    """Fails the plan when one of ``instance_types`` is not offered in every zone the stack uses in
    ``region`` (the settings' own, or ``ha_failover.secondary_region``)."""
    zones_setting = "zone_ids" if region == settings.region else "ha_failover.secondary_zone_ids"
    instance_types_offered(
        scope,
        "instance-types-offered",
        instance_types=instance_types,
        zone_ids=settings.zones_in(region),
        types_setting=types_setting,
        zones_setting=zones_setting,
    )
