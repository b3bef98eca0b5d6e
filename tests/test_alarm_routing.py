"""Where every stack's alarms go, one synth per configuration: nothing configured (each stack's
own topic, nobody subscribed), e-mails and the rest (one topic per region in the `alarms`
stack), the team's topic (no topic created anywhere)."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import StackDoc, load_stacks, resources, settings_from, shared_synth

EMAILS = ("oncall@example.com", "ml-platform@example.com")
PAGER = "https://events.pagerduty.com/integration/0123abcd/enqueue"
TEAM_TOPIC = "arn:aws:sns:us-east-1:123456789012:oncall"
EMAILS_ENV = {
    "RAI_ALARMS_EMAILS": ",".join(EMAILS),
    "RAI_ALARMS_HTTPS_ENDPOINTS": PAGER,
    "RAI_ALARMS_SLACK_WORKSPACE_ID": "T07EA123LEP",
    "RAI_ALARMS_SLACK_CHANNEL_ID": "C07EZ1ABC23",
    "RAI_HA_FAILOVER_SECONDARY_REGION": "us-west-2",
    "RAI_HA_FAILOVER_SECONDARY_ZONE_IDS": "usw2-az1,usw2-az2,usw2-az3",
}
TEAM_ENV = {
    "RAI_ENVIRONMENT": "prod",
    "RAI_ALARMS_TOPIC_ARN": TEAM_TOPIC,
    "RAI_ALARMS_TEAMS_TENANT_ID": "0a1b2c3d-0000-4000-8000-0123456789ab",
    "RAI_ALARMS_TEAMS_TEAM_ID": "1a1b2c3d-0000-4000-8000-0123456789ab",
    "RAI_ALARMS_TEAMS_CHANNEL_ID": "19%3ab6ef35dc342d4ee2a6e1a2b3c4d5e6f7%40thread.tacv2",
}
# The stacks with alarms (every one but the bootstrap and the alarms stack itself).
WITH_ALARMS = ("network", "stream-analytics", "model-serving", "ha-failover", "target-groups", "event-processing")


def synth_with(tmp_path_factory: pytest.TempPathFactory, name: str, env: dict[str, str]) -> Path:
    from modules.app import synth

    outdir = tmp_path_factory.mktemp(name) / "cdktf.out"
    synth(settings_from(env), outdir)
    return outdir


@pytest.fixture(scope="module")
def emails_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # Shared: tests/test_alarms_route.py creates this synth's topic on the emulator.
    return shared_synth(tmp_path_factory, "alarms-emails", EMAILS_ENV)


@pytest.fixture(scope="module")
def team_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return synth_with(tmp_path_factory, "alarms-team", TEAM_ENV)


def alarm_actions(doc: StackDoc) -> Counter[tuple[str, str]]:
    """(provider, action) of every alarm action and OK action."""
    found: Counter[tuple[str, str]] = Counter()
    for alarm in resources(doc, "aws_cloudwatch_metric_alarm"):
        for action in [*alarm.get("alarm_actions", []), *alarm.get("ok_actions", [])]:
            found[(alarm.get("provider", "default"), action)] += 1
    return found


def subscriptions(doc: StackDoc) -> Counter[tuple[str, str, str]]:
    return Counter(
        (s["protocol"], s["endpoint"], s.get("provider", "default"))
        for s in resources(doc, "aws_sns_topic_subscription")
    )


def statements(policy: str) -> dict[str, Any]:
    return {s["Sid"]: s for s in json.loads(policy)["Statement"]}


# --- nothing configured: today's per-stack topics --------------------------------------------


def test_by_default_each_stack_with_alarms_has_its_own_topic_nobody_subscribed_and_exports_it(
    stacks: dict[str, StackDoc],
) -> None:
    assert "alarms" not in stacks, "the alarms stack is built only when [alarms] names subscribers"
    for name in WITH_ALARMS:
        doc = stacks[name]
        (topic_id,) = doc["resource"]["aws_sns_topic"]
        own = f"${{aws_sns_topic.{topic_id}.arn}}"
        assert {action for _, action in alarm_actions(doc)} == {own}, name
        assert doc["output"]["alarm_topic_arn"]["value"] == own, name
        assert not subscriptions(doc), name
    outputs = stacks["stream-analytics"]["output"]
    assert outputs["alerts_topic_arn"]["value"] == outputs["alarm_topic_arn"]["value"], "the old name, one release"


# --- e-mails, HTTPS, Slack: one topic per region ---------------------------------------------


def test_with_subscribers_the_alarms_stack_has_one_topic_per_region_and_one_subscription_per_address(
    emails_dir: Path,
) -> None:
    alarms = load_stacks(emails_dir)["alarms"]
    topics = {t.get("provider", "default"): t["name"] for t in resources(alarms, "aws_sns_topic")}
    assert topics == {"default": "resilient-ai-dev-alarms", "aws.secondary": "resilient-ai-dev-alarms-2"}
    endpoints = [*(("email", e) for e in EMAILS), ("https", PAGER)]
    expected = [(kind, to, region) for kind, to in endpoints for region in ("default", "aws.secondary")]
    assert subscriptions(alarms) == Counter(expected), "each address once per region"
    https = [s for s in resources(alarms, "aws_sns_topic_subscription") if s["protocol"] == "https"]
    assert [s["endpoint_auto_confirms"] for s in https] == [True, True], "PagerDuty confirms it itself"
    assert set(alarms["output"]) == {"alarm_topic_arn", "secondary_alarm_topic_arn"}


def test_every_stack_notifies_the_alarms_stacks_topic_in_its_region_and_deploys_after_it(emails_dir: Path) -> None:
    docs = load_stacks(emails_dir)
    manifest = json.loads((emails_dir / "manifest.json").read_text())["stacks"]
    assert manifest["alarms"]["dependencies"] == ["state"]
    for name in WITH_ALARMS:
        doc = docs[name]
        assert not resources(doc, "aws_sns_topic") and not subscriptions(doc), name
        lookups = {d.get("provider", "default"): (key, d["name"]) for key, d in doc["data"]["aws_sns_topic"].items()}
        for (provider, action), _ in alarm_actions(doc).items():
            key, topic = lookups[provider]
            assert action == f"${{data.aws_sns_topic.{key}.arn}}", (name, action)
            assert topic == ("resilient-ai-dev-alarms" if provider == "default" else "resilient-ai-dev-alarms-2")
        assert "alarms" in manifest[name]["dependencies"], name
        assert doc["output"]["alarm_topic_arn"]["value"].startswith("${data.aws_sns_topic."), name


def test_the_topics_key_and_policy_let_cloudwatch_alarms_and_eventbridge_publish(emails_dir: Path) -> None:
    alarms = load_stacks(emails_dir)["alarms"]
    for key, policy in zip(resources(alarms, "aws_kms_key"), resources(alarms, "aws_sns_topic_policy"), strict=True):
        grants = statements(key["policy"])
        publish = statements(policy["policy"])
        for who, service in (("CloudWatchAlarms", "cloudwatch"), ("EventBridgeRules", "events")):
            use, send = grants[f"{who}EncryptNotifications"], publish[f"{who}Publish"]
            assert use["Principal"] == send["Principal"] == {"Service": f"{service}.amazonaws.com"}
            assert use["Action"] == ["kms:GenerateDataKey*", "kms:Decrypt"] and send["Action"] == "sns:Publish"
            assert "aws:SourceAccount" in use["Condition"]["StringEquals"] == send["Condition"]["StringEquals"]
    for topic in resources(alarms, "aws_sns_topic"):
        assert topic["kms_master_key_id"].startswith("${aws_kms_key.")


def test_slack_gets_a_chatbot_configuration_with_its_read_only_role_for_every_regions_topic(emails_dir: Path) -> None:
    alarms = load_stacks(emails_dir)["alarms"]
    (config,) = resources(alarms, "aws_chatbot_slack_channel_configuration")
    assert (config["slack_team_id"], config["slack_channel_id"]) == ("T07EA123LEP", "C07EZ1ABC23")
    assert len(config["sns_topic_arns"]) == 2 and all("aws_sns_topic." in a for a in config["sns_topic_arns"])
    assert config["guardrail_policy_arns"] == ["arn:aws:iam::aws:policy/CloudWatchReadOnlyAccess"]
    providers = {p.get("alias", "default"): p["region"] for p in alarms["provider"]["aws"]}
    assert config["provider"] == "aws.chatbot" and providers["chatbot"] == "us-east-2", "where the Chatbot API is"
    (role,) = resources(alarms, "aws_iam_role")
    assert config["iam_role_arn"] == f"${{aws_iam_role.{next(iter(alarms['resource']['aws_iam_role']))}.arn}}"
    trust = json.loads(role["assume_role_policy"])["Statement"][0]
    assert trust["Principal"] == {"Service": "chatbot.amazonaws.com"}
    (policy,) = resources(alarms, "aws_iam_role_policy")
    assert all(a.startswith("cloudwatch:") for s in json.loads(policy["policy"])["Statement"] for a in s["Action"])


# --- the team's topic: no topic anywhere -----------------------------------------------------


def test_with_the_teams_topic_no_stack_creates_a_topic_and_every_alarm_publishes_there(team_dir: Path) -> None:
    docs = load_stacks(team_dir)
    for name in WITH_ALARMS:
        doc = docs[name]
        assert not resources(doc, "aws_sns_topic") and "aws_sns_topic" not in doc.get("data", {}), name
        assert {action for _, action in alarm_actions(doc)} == {TEAM_TOPIC}, name
        assert doc["output"]["alarm_topic_arn"]["value"] == TEAM_TOPIC, name
    stream = docs["stream-analytics"]
    assert {t["arn"] for t in resources(stream, "aws_cloudwatch_event_target")} == {TEAM_TOPIC}, "spot events too"
    assert not resources(stream, "aws_sns_topic_policy"), "the team's topic policy is the team's"
    controller = [
        p for p in resources(docs["target-groups"], "aws_iam_role_policy") if "PublishTheRollback" in p["policy"]
    ]
    (grants,) = [statements(p["policy"]) for p in controller]
    assert grants["PublishTheRollback"]["Resource"] == TEAM_TOPIC
    assert grants["EncryptForTheAlarmTopic"]["Condition"] == {
        "StringEquals": {"kms:ViaService": "sns.us-east-1.amazonaws.com"}
    }


def test_teams_subscribes_to_the_teams_topic_without_a_topic_or_key_of_its_own(team_dir: Path) -> None:
    alarms = load_stacks(team_dir)["alarms"]
    assert not resources(alarms, "aws_sns_topic") and not resources(alarms, "aws_kms_key")
    (config,) = resources(alarms, "aws_chatbot_teams_channel_configuration")
    assert config["sns_topic_arns"] == [TEAM_TOPIC] and config["tenant_id"].startswith("0a1b2c3d")
    manifest = json.loads((team_dir / "manifest.json").read_text())["stacks"]
    assert all("alarms" not in manifest[name]["dependencies"] for name in WITH_ALARMS), "nothing of it is read"


# --- Terraform accepts it ------------------------------------------------------------------


@pytest.mark.slow
def test_the_alarms_stack_validates_offline_in_both_configurations(emails_dir: Path, team_dir: Path) -> None:
    """The Chatbot resources' arguments are checked by the provider's schema only (a synth passes
    any): `terraform validate` of the Slack (subscribers, two regions) and the Teams (team's
    topic) variants."""
    from tools.deploy.terraform import Terraform, validate_all

    dirs = [emails_dir / "stacks" / "alarms", team_dir / "stacks" / "alarms"]
    found = validate_all(Terraform(settings_from()), dirs)
    assert all(diags == [] for diags in found.values()), {k: [str(d) for d in v] for k, v in found.items()}
