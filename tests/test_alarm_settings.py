"""``[alarms]``: where an environment's alarms go, and what is refused before anything is synthesized."""

from __future__ import annotations

import pytest

from modules.config import SettingsError
from modules.config.alarms import DESTINATIONS
from tests.conftest import settings_from

ARN = "arn:aws:sns:us-east-1:123456789012:oncall"
WEST = "arn:aws:sns:us-west-2:123456789012:oncall"
SECONDARY = {
    "RAI_HA_FAILOVER_SECONDARY_REGION": "us-west-2",
    "RAI_HA_FAILOVER_SECONDARY_ZONE_IDS": "usw2-az1,usw2-az2,usw2-az3",
}
TEAMS = {
    "RAI_ALARMS_TEAMS_TENANT_ID": "0a1b2c3d-0000-4000-8000-0123456789ab",
    "RAI_ALARMS_TEAMS_TEAM_ID": "1a1b2c3d-0000-4000-8000-0123456789ab",
    "RAI_ALARMS_TEAMS_CHANNEL_ID": "19%3ab6ef35dc342d4ee2a6e1a2b3c4d5e6f7%40thread.tacv2",
}


def problems(env: dict[str, str]) -> list[str]:
    with pytest.raises(SettingsError) as info:
        settings_from(env)
    return info.value.problems


def test_by_default_alarms_go_nowhere_and_the_stacks_keep_their_own_topics() -> None:
    alarms = settings_from().alarms
    assert not alarms.any_destination and not alarms.subscribers


@pytest.mark.parametrize("environ", [{"RAI_ENVIRONMENT": "prod"}, {"RAI_ENVIRONMENT": "qa", "RAI_PROTECTED": "true"}])
def test_a_protected_environment_without_a_destination_is_refused_naming_every_setting(
    environ: dict[str, str],
) -> None:
    (problem,) = problems(environ)
    assert (
        problem == f"alarms: a protected environment must send its alarms somewhere; set one or more of {DESTINATIONS}"
    )
    for name in ("topic_arn", "emails", "https_endpoints", "slack_workspace_id", "slack_channel_id", "teams_team_id"):
        assert f"alarms.{name}" in problem


@pytest.mark.parametrize(
    "destination",
    [
        {"RAI_ALARMS_TOPIC_ARN": ARN},
        {"RAI_ALARMS_EMAILS": "oncall@example.com"},
        {"RAI_ALARM_EMAIL": "oncall@example.com"},  # the old name
        {"RAI_ALARMS_HTTPS_ENDPOINTS": "https://events.pagerduty.com/integration/0123abcd/enqueue"},
        {"RAI_ALARMS_SLACK_WORKSPACE_ID": "T07EA123LEP", "RAI_ALARMS_SLACK_CHANNEL_ID": "C07EZ1ABC23"},
        TEAMS,
    ],
    ids=["topic", "emails", "alarm_email", "https", "slack", "teams"],
)
def test_any_one_destination_lets_a_protected_environment_synthesize(destination: dict[str, str]) -> None:
    assert settings_from({"RAI_ENVIRONMENT": "prod", **destination}).alarms.any_destination


def test_the_old_alarm_email_is_one_address_of_the_list(capsys: pytest.CaptureFixture[str]) -> None:
    assert settings_from({"RAI_ALARM_EMAIL": "oncall@example.com"}).alarms.emails == ("oncall@example.com",)
    assert "RAI_ALARM_EMAIL: deprecated, use RAI_ALARMS_EMAILS" in capsys.readouterr().err
    assert settings_from({"RAI_ALARM_EMAIL": ""}).alarms.emails == (), "empty was none, and still is"


@pytest.mark.parametrize(
    ("env", "needle"),
    [
        (
            {"RAI_ALARMS_TOPIC_ARN": "arn:aws:sns:us-east-1:1234:oncall"},
            "alarms.topic_arn = 'arn:aws:sns:us-east-1:1234",
        ),
        ({"RAI_ALARMS_TOPIC_ARN": "arn:aws:sqs:us-east-1:123456789012:q"}, "an ARN of sns"),
        ({"RAI_ALARMS_TOPIC_ARN": ARN + ".fifo"}, "the ARN of a standard SNS topic"),
        ({"RAI_ALARMS_EMAILS": "oncall@example.com,nobody"}, "alarms.emails"),
        ({"RAI_ALARMS_EMAILS": "a@example.com,a@example.com"}, "each address once"),
        ({"RAI_ALARMS_HTTPS_ENDPOINTS": "http://events.pagerduty.com/x"}, "https:// URLs (not 'http://events"),
        ({"RAI_ALARMS_SLACK_CHANNEL_ID": "C07-EZ1"}, "alarms.slack_channel_id = 'C07-EZ1'"),
        ({**TEAMS, "RAI_ALARMS_TEAMS_TEAM_ID": "team-1"}, "alarms.teams_team_id = 'team-1'"),
    ],
)
def test_a_malformed_destination_is_refused_naming_the_setting(env: dict[str, str], needle: str) -> None:
    found = problems(env)
    assert any(needle in p for p in found), found


@pytest.mark.parametrize(
    ("env", "missing"),
    [
        ({"RAI_ALARMS_SLACK_WORKSPACE_ID": "T07EA123LEP"}, "a Chatbot Slack channel needs alarms.slack_channel_id"),
        ({"RAI_ALARMS_SLACK_CHANNEL_ID": "C07EZ1ABC23"}, "a Chatbot Slack channel needs alarms.slack_workspace_id"),
        (
            {"RAI_ALARMS_TEAMS_TEAM_ID": TEAMS["RAI_ALARMS_TEAMS_TEAM_ID"]},
            "a Chatbot Teams channel needs alarms.teams_tenant_id, alarms.teams_channel_id too",
        ),
    ],
)
def test_a_chatbot_channel_missing_its_workspace_team_or_channel_is_refused(env: dict[str, str], missing: str) -> None:
    (problem,) = problems(env)
    assert problem.startswith(f"alarms: {missing}"), problem


def test_a_topic_in_another_region_is_refused_an_alarm_publishes_only_in_its_own() -> None:
    (problem,) = problems({"RAI_ALARMS_TOPIC_ARN": WEST})
    assert problem.startswith(
        f"alarms.topic_arn = '{WEST}' (from RAI_ALARMS_TOPIC_ARN): must be an ARN of region = 'us-east-1' (default)"
    )
    (problem,) = problems({**SECONDARY, "RAI_ALARMS_TOPIC_ARN": ARN, "RAI_ALARMS_SECONDARY_TOPIC_ARN": ARN})
    assert "alarms.secondary_topic_arn" in problem and "ha_failover.secondary_region = 'us-west-2'" in problem


def test_the_teams_topic_with_a_secondary_region_needs_the_topic_there_too() -> None:
    (problem,) = problems({**SECONDARY, "RAI_ALARMS_TOPIC_ARN": ARN})
    assert problem.startswith(
        "alarms.topic_arn (from RAI_ALARMS_TOPIC_ARN) with ha_failover.secondary_region (us-west-2) needs "
        "alarms.secondary_topic_arn"
    )
    assert problems({"RAI_ALARMS_TOPIC_ARN": ARN, "RAI_ALARMS_SECONDARY_TOPIC_ARN": WEST}) == [
        "alarms.secondary_topic_arn (from RAI_ALARMS_SECONDARY_TOPIC_ARN): only with ha_failover.secondary_region "
        "(no secondary region)"
    ]
    both = settings_from({**SECONDARY, "RAI_ALARMS_TOPIC_ARN": ARN, "RAI_ALARMS_SECONDARY_TOPIC_ARN": WEST})
    assert (both.alarms.topic_arn, both.alarms.secondary_topic_arn) == (ARN, WEST)


def test_a_bad_alarm_setting_is_reported_with_the_other_bad_settings() -> None:
    found = problems({"RAI_AZ_COUNT": "9", "RAI_ALARMS_SLACK_WORKSPACE_ID": "T07EA123LEP"})
    assert any(p.startswith("az_count = 9") for p in found) and any("alarms.slack_channel_id" in p for p in found)
