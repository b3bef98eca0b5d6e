"""Plan-time checks of what only the account knows: data sources whose postconditions fail
``terraform plan`` before anything is created, each message naming the setting to change.

A synth cannot see these (the catalogue checks of ``modules/config`` know AWS, not the
account): whether the zones chosen are zones of the region, whether an instance type is
offered in them, and how much Lambda concurrency the account has. An ACM certificate's state is not checked here:
the provider's ``aws_acm_certificate`` data source (5.100) looks a certificate up by domain or
tags, never by ARN; ``make preflight`` reads it (``tools/preflight``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from cdktf import Postcondition, TerraformResourceLifecycle
from cdktf_cdktf_provider_aws.data_aws_availability_zones import (
    DataAwsAvailabilityZones,
    DataAwsAvailabilityZonesFilter,
)
from cdktf_cdktf_provider_aws.data_aws_ec2_instance_type_offerings import (
    DataAwsEc2InstanceTypeOfferings,
    DataAwsEc2InstanceTypeOfferingsFilter,
)
from cdktf_cdktf_provider_aws.data_aws_servicequotas_service_quota import DataAwsServicequotasServiceQuota
from constructs import Construct

# Service Quotas' code of Lambda's "Concurrent executions" (per account and region).
LAMBDA_CONCURRENCY_QUOTA = "L-B99A9384"
# Lambda refuses a reservation that leaves fewer unreserved executions than this.
LAMBDA_UNRESERVED_MINIMUM = 10


def zones_exist(scope: Construct, id: str, *, zone_ids: Sequence[str]) -> DataAwsAvailabilityZones:
    """The zones ``zone_ids``, with a postcondition: all are regular zones of the provider's region.

    An id that is not (a typo, another region's, a Local or Wavelength Zone) fails the plan
    before anything is created. No state filter: an impaired zone must not block every plan.
    """
    return DataAwsAvailabilityZones(
        scope,
        id,
        filter=[
            DataAwsAvailabilityZonesFilter(name="zone-id", values=list(zone_ids)),
            DataAwsAvailabilityZonesFilter(name="opt-in-status", values=["opt-in-not-required"]),
        ],
        lifecycle=TerraformResourceLifecycle(
            postcondition=[
                Postcondition(
                    condition=f"${{length(self.zone_ids) == {len(zone_ids)}}}",
                    error_message=f"Not all of {', '.join(zone_ids)} are regular availability zones "
                    "of this region: set zone_ids (or ha_failover.secondary_zone_ids) to zone ids that are.",
                )
            ]
        ),
    )


def instance_types_offered(
    scope: Construct,
    id: str,
    *,
    instance_types: Sequence[str],
    zone_ids: Sequence[str],
    types_setting: str,
    zones_setting: str,
) -> DataAwsEc2InstanceTypeOfferings:
    """The offerings of ``instance_types`` in ``zone_ids``, with one postcondition per type: it is
    offered in every one of the zones (a group that may launch it anywhere must find it there).
    The messages name ``types_setting`` and ``zones_setting``."""
    zones = ", ".join(zone_ids)
    conditions = []
    for itype in instance_types:
        offered_in = f'[for i, t in self.instance_types : self.locations[i] if t == "{itype}"]'
        conditions.append(
            Postcondition(
                condition=f"${{length(distinct({offered_in})) == {len(zone_ids)}}}",
                error_message=f"{types_setting}: {itype} is not offered in every zone of {zones_setting} "
                f'({zones}) in this account; it is in [${{join(", ", sort(distinct({offered_in})))}}]. '
                f"Remove it from {types_setting}, or choose zones that offer it",
            )
        )
    return DataAwsEc2InstanceTypeOfferings(
        scope,
        id,
        location_type="availability-zone-id",
        filter=[
            DataAwsEc2InstanceTypeOfferingsFilter(name="instance-type", values=list(instance_types)),
            DataAwsEc2InstanceTypeOfferingsFilter(name="location", values=list(zone_ids)),
        ],
        lifecycle=TerraformResourceLifecycle(postcondition=conditions),
    )


def lambda_concurrency_left(
    scope: Construct, id: str, *, reserved: Mapping[str, int]
) -> DataAwsServicequotasServiceQuota:
    """The account's Lambda concurrent executions quota, with a postcondition: what ``reserved``
    (reservations by the setting or function that makes them) takes leaves Lambda's minimum of
    unreserved executions. The quota cannot see reservations of functions outside the app:
    those come off the same pool, so the check is a floor, not a guarantee."""
    if not reserved or any(n < 1 for n in reserved.values()):
        raise ValueError(f"lambda_concurrency_left: reservations must be >= 1 each, got {dict(reserved)}")
    total = sum(reserved.values())
    who = ", ".join(f"{name} ({n})" for name, n in reserved.items())
    return DataAwsServicequotasServiceQuota(
        scope,
        id,
        service_code="lambda",
        quota_code=LAMBDA_CONCURRENCY_QUOTA,
        lifecycle=TerraformResourceLifecycle(
            postcondition=[
                Postcondition(
                    condition=f"${{self.value - {total} >= {LAMBDA_UNRESERVED_MINIMUM}}}",
                    error_message=f"Lambda concurrency: {who} reserve {total} of this account's "
                    "${self.value} concurrent executions in this region, leaving "
                    f"${{self.value - {total}}}; Lambda keeps {LAMBDA_UNRESERVED_MINIMUM} unreserved and "
                    "refuses the reservation. Lower event_processing.reserved_concurrency, or ask for a "
                    f"higher quota ({LAMBDA_CONCURRENCY_QUOTA}). Reservations of functions outside these "
                    "stacks are not counted here",
                )
            ]
        ),
    )
