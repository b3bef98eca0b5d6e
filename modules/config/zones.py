"""The rule on zone ids across sections: the right region's, at least ``az_count`` of them,
in the primary region and in ``ha_failover.secondary_region``."""

from __future__ import annotations

from modules.config.checks import DEFAULT_ZONE_IDS
from modules.config.ha_failover import HaFailoverSettings
from modules.core import aws_catalogue

LISTING = "aws ec2 describe-availability-zones --region {} --query 'AvailabilityZones[].ZoneId'"


def _other_region_problem(setting: str, ids: tuple[str, ...], region_setting: str, region: str) -> list[str]:
    """The zone ids of ``setting`` when they are another region's than ``region`` (by the dated
    table of zone id prefixes; a region it lacks is checked at plan time only)."""
    own = aws_catalogue.zone_id_prefix(region)
    given = ids[0].split("-")[0] if ids else None
    if own is None or given is None or given == own:
        return []
    theirs = aws_catalogue.region_of_zone_prefix(given)
    of = f"zone ids of {theirs}" if theirs else f"no zone ids of {region}"
    return [
        f"{setting} = {','.join(ids)}: {of}, not of {region_setting} = {region!r}, whose zone ids are "
        f"{own}-az1, {own}-az2, ... ({LISTING.format(region)})"
    ]


def zone_problems(region: str, zone_ids: tuple[str, ...], az_count: int, ha: HaFailoverSettings) -> list[str]:
    """Each problem with the zone ids, naming the setting and how to list the right ones."""
    out: list[str] = []
    if region != "us-east-1" and zone_ids == DEFAULT_ZONE_IDS:
        out.append(
            f"zone_ids: the default is us-east-1's; region = {region!r} needs at least az_count = "
            f"{az_count} zone ids of {region} ({LISTING.format(region)})"
        )
    else:
        out += _other_region_problem("zone_ids", zone_ids, "region", region)
        if len(zone_ids) < az_count:
            out.append(f"zone_ids: {len(zone_ids)} given, az_count = {az_count} needs as many")
    if ha.secondary_region and len(ha.secondary_zone_ids) < az_count:
        out.append(
            f"ha_failover.secondary_zone_ids: secondary_region = {ha.secondary_region!r} needs at least "
            f"az_count = {az_count} zone ids of it ({LISTING.format(ha.secondary_region)})"
        )
    elif ha.secondary_zone_ids and ha.secondary_zone_ids[0].split("-")[0] == zone_ids[0].split("-")[0]:
        out.append("ha_failover.secondary_zone_ids: zone ids of secondary_region, not of region (zone_ids)")
    elif ha.secondary_region:
        out += _other_region_problem(
            "ha_failover.secondary_zone_ids", ha.secondary_zone_ids, "ha_failover.secondary_region", ha.secondary_region
        )
    return out
