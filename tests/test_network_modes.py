"""Where a stack's network comes from (``network.mode``): the `network` stack's VPC (``shared``,
the default), each stack's own (``per_stack``), or the user's (``existing``); and bad network
input refused with every problem named."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from modules.blocks.network_lookup import NetworkLookupProps
from modules.config import SettingsError
from modules.policy.document import StackDocument
from tests.conftest import (
    EXISTING_NETWORK_ENV,
    NETWORK_USERS,
    StackDoc,
    by_path,
    load_stacks,
    private_subnet_refs,
    settings_from,
)

# What only the owner of a network creates: none of it may appear in a stack that uses another's.
NETWORK_TYPES = (
    "aws_vpc",
    "aws_subnet",
    "aws_route_table",
    "aws_route",
    "aws_route_table_association",
    "aws_internet_gateway",
    "aws_nat_gateway",
    "aws_eip",
    "aws_flow_log",
    "aws_vpc_endpoint",
    "aws_default_security_group",
)
# The construct path of each user's network (its Terraform addresses).
NETWORK_PATH = {
    "model-serving": "network",
    "ha-failover": "primary/network",
    "target-groups": "site/network",
    "stream-analytics": "network",
}


def data_by_path(doc: StackDoc, dtype: str, path: str) -> dict[str, Any]:
    return by_path(doc, f"data.{dtype}", path)


def created(doc: StackDoc) -> dict[str, int]:
    return {t: len(doc.get("resource", {}).get(t, {})) for t in NETWORK_TYPES if doc.get("resource", {}).get(t)}


# --- shared (the default) ----------------------------------------------------------------


def test_shared_builds_one_vpc_with_a_nat_per_az_in_the_network_stack_only(stacks: dict[str, StackDoc]) -> None:
    """One VPC and three NATs for the whole app (four VPCs and twelve NATs before), NAT still per
    AZ so an AZ outage cuts no other AZ off."""
    net = stacks["network"]
    assert by_path(net, "aws_vpc", "primary/network/vpc")["tags"]["Name"] == "resilient-ai-dev-network"
    nats = [by_path(net, "aws_nat_gateway", f"primary/network/nat-{i}") for i in range(3)]
    assert len({n["subnet_id"] for n in nats}) == 3, "one NAT in each AZ's public subnet"
    for name in NETWORK_USERS:
        assert created(stacks[name]) == {}, f"{name} builds no network of its own"


@pytest.mark.parametrize("stack", NETWORK_USERS)
def test_shared_users_read_the_network_stacks_vpc_by_its_name_tags(stacks: dict[str, StackDoc], stack: str) -> None:
    """A data-source lookup by the Name tags the network block writes: the same code as an
    existing VPC, and each stack stays deployable on its own (no state of another stack read)."""
    doc, base = stacks[stack], NETWORK_PATH[stack]
    vpc = data_by_path(doc, "aws_vpc", f"{base}/vpc")
    assert vpc["tags"] == {"Name": "resilient-ai-dev-network"}
    for i in range(3):
        subnet = data_by_path(doc, "aws_subnet", f"{base}/private-{i}")
        assert subnet["tags"] == {"Name": f"resilient-ai-dev-network-private-{i}"}
        assert subnet["vpc_id"].startswith("${data.aws_vpc.")
    assert "terraform_remote_state" not in doc.get("data", {}), "no cross-stack reference to the network's state"


def test_shared_public_users_also_read_the_public_subnets(public_stacks: dict[str, StackDoc]) -> None:
    """A public load balancer sits in the network's public subnets, one per AZ, looked up too."""
    doc = public_stacks["model-serving"]
    public = [data_by_path(doc, "aws_subnet", f"network/public-{i}") for i in range(3)]
    assert [s["tags"]["Name"] for s in public] == [f"resilient-ai-dev-network-public-{i}" for i in range(3)]
    (lb,) = doc["resource"]["aws_lb"].values()
    assert all(s.startswith("${data.aws_subnet.network_public-") for s in lb["subnets"])


def test_a_looked_up_network_keeps_the_multi_az_proof_of_the_policy_and_scorecard(stacks: dict[str, StackDoc]) -> None:
    """The distinct-AZ postcondition is what lets the policy count looked-up subnets as 3 AZs."""
    doc = StackDocument("ha-failover", stacks["ha-failover"])
    (asg,) = doc.of_type("aws_autoscaling_group")
    zones, unknown = doc.availability_zones(asg.get("vpc_zone_identifier"))
    assert len(zones) == 3 and not unknown
    last = data_by_path(stacks["ha-failover"], "aws_subnet", "primary/network/private-2")
    conditions = [c["condition"] for c in last["lifecycle"]["postcondition"]]
    assert any(c.startswith("${length(distinct([") and c.endswith(">= 3}") for c in conditions)


def test_a_subnet_without_the_distinct_az_proof_counts_as_no_az() -> None:
    """The policy's reading can fail: without the postcondition the subnets prove nothing."""
    doc = {
        "data": {"aws_subnet": {"a": {"id": "subnet-1"}, "b": {"id": "subnet-2"}}},
        "resource": {"aws_autoscaling_group": {"g": {"vpc_zone_identifier": ["${data.aws_subnet.a.id}"]}}},
    }
    zones, unknown = StackDocument("x", doc).availability_zones(["${data.aws_subnet.a.id}", "${data.aws_subnet.b.id}"])
    assert zones == set() and len(unknown) == 2


# --- per_stack -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def per_stack(per_stack_synth_dir: Path) -> dict[str, StackDoc]:
    return load_stacks(per_stack_synth_dir)


@pytest.mark.parametrize("stack", NETWORK_USERS)
def test_per_stack_builds_each_stacks_own_vpc_at_main_s_addresses(per_stack: dict[str, StackDoc], stack: str) -> None:
    """Today's form, for users who want the isolation: the same construct paths as before, so a
    deploy on per-stack VPCs plans no change (Terraform addresses are the construct ids)."""
    doc, base = per_stack[stack], NETWORK_PATH[stack]
    assert by_path(doc, "aws_vpc", f"{base}/vpc")["cidr_block"] == "10.0.0.0/16"
    assert created(doc)["aws_nat_gateway"] == 3 and created(doc)["aws_subnet"] == 6
    assert not doc.get("data", {}).get("aws_vpc"), "nothing looked up"


# --- existing ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def existing(existing_synth_dir: Path) -> dict[str, StackDoc]:
    return load_stacks(existing_synth_dir)


@pytest.mark.parametrize("stack", NETWORK_USERS)
def test_existing_creates_no_network_and_uses_the_given_ids(existing: dict[str, StackDoc], stack: str) -> None:
    """No VPC, subnet, route, gateway, NAT, flow log or endpoint: `destroy` cannot touch them.
    Security groups stay the stack's own."""
    doc, base = existing[stack], NETWORK_PATH[stack]
    assert created(doc) == {}
    assert doc["resource"].get("aws_security_group"), "the stack's own security groups"
    assert data_by_path(doc, "aws_vpc", f"{base}/vpc")["id"] == EXISTING_NETWORK_ENV["RAI_NETWORK_VPC_ID"]
    ids = EXISTING_NETWORK_ENV["RAI_NETWORK_PRIVATE_SUBNET_IDS"].split(",")
    assert [data_by_path(doc, "aws_subnet", f"{base}/private-{i}")["id"] for i in range(3)] == ids
    assert len(private_subnet_refs(doc)) == 3


def test_existing_leaves_the_network_stack_empty(existing: dict[str, StackDoc]) -> None:
    assert not existing["network"].get("resource"), "the user's VPC: nothing to build"


def test_existing_checks_at_plan_time_dns_membership_and_distinct_azs(existing: dict[str, StackDoc]) -> None:
    """The plan fails with a plain message naming the setting: a VPC without DNS, a subnet of
    another VPC (or none: the lookup itself fails), private subnets in fewer AZs than az_count."""
    doc = existing["model-serving"]
    vpc = data_by_path(doc, "aws_vpc", "network/vpc")
    ((dns,),) = [vpc["lifecycle"]["postcondition"]]
    assert dns["condition"] == "${self.enable_dns_support}" and "network.vpc_id" in dns["error_message"]
    for i in range(3):
        checks = data_by_path(doc, "aws_subnet", f"network/private-{i}")["lifecycle"]["postcondition"]
        assert checks[0]["condition"].startswith("${self.vpc_id == data.aws_vpc.")
        assert "network.private_subnet_ids" in checks[0]["error_message"]
    last = data_by_path(doc, "aws_subnet", "network/private-2")["lifecycle"]["postcondition"]
    assert "availability_zone_id" in last[1]["condition"] and "az_count = 3" in last[1]["error_message"]


def test_existing_internal_albs_admit_the_vpcs_own_range_read_at_plan_time(existing: dict[str, StackDoc]) -> None:
    """The user's VPC range is not vpc_cidr: an internal ALB admits what the VPC really is."""
    doc = existing["model-serving"]
    rules = [r for r in doc["resource"]["aws_vpc_security_group_ingress_rule"].values() if "cidr_ipv4" in r]
    assert rules and all(r["cidr_ipv4"].startswith("${data.aws_vpc.") for r in rules)


# --- bad input -----------------------------------------------------------------------------


def refused(env: dict[str, str]) -> str:
    with pytest.raises(SettingsError) as info:
        settings_from(env)
    return str(info.value)


def test_malformed_ids_are_refused_naming_each_setting() -> None:
    message = refused(
        {
            "RAI_NETWORK_MODE": "existing",
            "RAI_NETWORK_VPC_ID": "vpc-12",
            "RAI_NETWORK_PRIVATE_SUBNET_IDS": "subnet-0000000000000000a,sub-1",
            "RAI_NETWORK_PUBLIC_SUBNET_IDS": "subnet-0000000000000000a,subnet-0000000000000000a",
        }
    )
    for name in ("network.vpc_id = 'vpc-12'", "network.private_subnet_ids", "network.public_subnet_ids"):
        assert name in message
    assert "(from RAI_NETWORK_VPC_ID)" in message


def test_too_few_subnets_and_public_without_public_subnets_are_refused_together() -> None:
    message = refused(
        {
            **EXISTING_NETWORK_ENV,
            "RAI_NETWORK_PRIVATE_SUBNET_IDS": "subnet-0000000000000000a,subnet-0000000000000000b",
            "RAI_TARGET_GROUPS_EXPOSURE": "public",
            "RAI_LOAD_BALANCER_CERTIFICATE_ARN": "arn:aws:acm:us-east-1:123456789012:certificate/abc",
            "RAI_LOAD_BALANCER_JWT_ISSUER": "https://idp.example.com",
            "RAI_LOAD_BALANCER_JWT_AUDIENCE": "models",
        }
    )
    assert "network.private_subnet_ids (from RAI_NETWORK_PRIVATE_SUBNET_IDS): 2 given, az_count = 3" in message
    assert "network.public_subnet_ids (default): 0 given, a public load balancer (target-groups)" in message


def test_existing_needs_a_vpc_and_the_secondary_regions_network_when_set() -> None:
    message = refused(
        {
            "RAI_NETWORK_MODE": "existing",
            "RAI_HA_FAILOVER_SECONDARY_REGION": "us-west-2",
            "RAI_HA_FAILOVER_SECONDARY_ZONE_IDS": "usw2-az1,usw2-az2,usw2-az3",
        }
    )
    expected = (
        "network.vpc_id (default): required",
        "network.private_subnet_ids (default): 0 given",
        "network.secondary_vpc_id (default): required",
        "network.secondary_private_subnet_ids (default): 0 given",
    )
    for name in expected:
        assert name in message, message


def test_ids_while_the_mode_is_not_existing_are_refused() -> None:
    """Given ids and a mode that ignores them is a mistake either way: say so, build nothing."""
    message = refused({"RAI_NETWORK_VPC_ID": "vpc-0a1b2c3d4e5f67890", "RAI_NETWORK_SECONDARY_VPC_ID": "vpc-0a1b2c3d"})
    assert (
        "network.vpc_id (from RAI_NETWORK_VPC_ID), network.secondary_vpc_id (from RAI_NETWORK_SECONDARY_VPC_ID): "
        "set only with network.mode = 'existing' (mode is 'shared')"
    ) in message


def test_interface_endpoints_are_refused_in_the_users_vpc() -> None:
    """No stack creates endpoints in a VPC it does not own: the user's VPC provides them."""
    message = refused({**EXISTING_NETWORK_ENV, "RAI_NETWORK_INTERFACE_ENDPOINTS": "logs"})
    assert (
        "network.interface_endpoints (from RAI_NETWORK_INTERFACE_ENDPOINTS): not with network.mode = 'existing' "
        "(from RAI_NETWORK_MODE)"
    ) in message


def test_lookup_props_refuse_a_half_named_network() -> None:
    with pytest.raises(ValueError) as info:
        NetworkLookupProps(az_count=3, vpc_id="vpc-0a1b2c3d", name="x", private_subnet_ids=("subnet-0a1b2c3d",))
    for fragment in ("name, vpc_id: exactly one", "private_subnet_ids: 1 given", "only with vpc_id"):
        assert fragment in str(info.value)


def test_existing_in_two_regions_reads_each_regions_own_vpc_through_its_provider(tmp_path: Path) -> None:
    """With ha_failover.secondary_region, the secondary site reads network.secondary_* in its
    own region, and the plan-time messages name those settings."""
    from modules.app import synth

    env = {
        **EXISTING_NETWORK_ENV,
        "RAI_HA_FAILOVER_SECONDARY_REGION": "us-west-2",
        "RAI_HA_FAILOVER_SECONDARY_ZONE_IDS": "usw2-az1,usw2-az2,usw2-az3",
        "RAI_NETWORK_SECONDARY_VPC_ID": "vpc-0f0f0f0f",
        "RAI_NETWORK_SECONDARY_PRIVATE_SUBNET_IDS": "subnet-0f0f0f01,subnet-0f0f0f02,subnet-0f0f0f03",
    }
    synth(settings_from(env), tmp_path / "out", only=["ha-failover"])
    doc = load_stacks(tmp_path / "out")["ha-failover"]
    vpc = data_by_path(doc, "aws_vpc", "secondary/network/vpc")
    assert (vpc["id"], vpc["provider"]) == ("vpc-0f0f0f0f", "aws.secondary")
    subnet = data_by_path(doc, "aws_subnet", "secondary/network/private-0")
    assert (subnet["id"], subnet["provider"]) == ("subnet-0f0f0f01", "aws.secondary")
    assert "network.secondary_private_subnet_ids" in subnet["lifecycle"]["postcondition"][0]["error_message"]
    assert data_by_path(doc, "aws_vpc", "primary/network/vpc")["id"] == EXISTING_NETWORK_ENV["RAI_NETWORK_VPC_ID"]
    assert created(doc) == {}
