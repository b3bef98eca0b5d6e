"""The stream worker's parts without AWS: analytics, configuration, backoff, IMDS polling."""

from __future__ import annotations

import json
import random
import statistics
from typing import Any

import pytest
from botocore.exceptions import ClientError
from stream_worker import analytics
from stream_worker.config import Config, ConfigError
from stream_worker.imds import Imds
from stream_worker.results import dlq_message, result_key
from stream_worker.retry import backoff_delays, with_backoff

from tests.imds_standin import ImdsStandIn

PARAMS = analytics.AnalyticsParams(window_s=60, min_count=5, threshold=3.0)


def ev(i: int, value: float, key: str = "k", ts: float = 0.0) -> analytics.Event:
    return analytics.Event(event_id=f"e{i}", key=key, value=value, ts=ts)


def test_parse_accepts_a_well_formed_event() -> None:
    event = analytics.parse(b'{"id": "a1", "key": "sensor-1", "value": 3, "ts": 1700000000.5}')
    assert event == analytics.Event(event_id="a1", key="sensor-1", value=3.0, ts=1700000000.5)


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"\xff\xfe", "not UTF-8"),
        (b"{nope", "not JSON"),
        (b"[1]", "expected a JSON object"),
        (b'{"id": "a", "key": "k", "value": true, "ts": 1}', "'value' must be a finite number"),
        (b'{"id": "a", "key": "k", "value": 1e999, "ts": 1}', "'value' must be a finite number"),
        (b'{"key": "", "value": 1, "ts": -1}', "'id' must be"),
    ],
)
def test_parse_names_why_a_record_is_poison(data: bytes, reason: str) -> None:
    with pytest.raises(analytics.PoisonRecord, match=reason):
        analytics.parse(data)


def test_parse_reports_every_schema_problem_at_once() -> None:
    with pytest.raises(analytics.PoisonRecord) as info:
        analytics.parse(b'{"key": "", "value": "x", "ts": -1}')
    assert all(f"'{name}'" in str(info.value) for name in ("id", "key", "value", "ts"))


def test_score_matches_the_window_statistics_before_each_record() -> None:
    values = [10.0, 12.0, 11.0, 13.0, 9.0, 10.5, 50.0]
    state: analytics.State = {}
    results = [analytics.score(state, ev(i, v, ts=i), PARAMS) for i, v in enumerate(values)]
    last = results[-1]
    before = values[:-1]
    assert last["window_count_before"] == len(before)
    assert last["window_mean_before"] == pytest.approx(statistics.mean(before))
    assert last["window_std_before"] == pytest.approx(statistics.stdev(before))
    assert last["z_score"] == pytest.approx((50.0 - statistics.mean(before)) / statistics.stdev(before))
    assert last["anomaly"] is True
    assert not any(r["anomaly"] for r in results[:-1]), "in-range values are not anomalies"
    assert all(r["z_score"] == 0.0 for r in results[:5]), "no score before min_count values"


def test_a_new_window_starts_fresh_and_late_records_do_not_rewrite_it() -> None:
    state: analytics.State = {}
    for i in range(6):
        analytics.score(state, ev(i, 1.0, ts=i), PARAMS)
    fresh = analytics.score(state, ev(6, 100.0, ts=61), PARAMS)
    assert (fresh["window_start"], fresh["window_count_before"], fresh["anomaly"]) == (60, 0, False)
    late = analytics.score(state, ev(7, 999.0, ts=5), PARAMS)
    assert late["late"] is True and late["anomaly"] is False
    assert state["k"][1] == 1, "the late record was not counted in the current window"


def test_replay_from_a_checkpointed_state_gives_identical_results() -> None:
    rng = random.Random(7)
    events = [ev(i, rng.gauss(100, 5), key=f"k{i % 3}", ts=i * 3) for i in range(200)]
    state: analytics.State = {}
    for e in events[:120]:
        analytics.score(state, e, PARAMS)
    checkpoint = json.dumps(state)
    first = [analytics.score(state, e, PARAMS) for e in events[120:]]
    replay_state = json.loads(checkpoint)
    replay = [analytics.score(replay_state, e, PARAMS) for e in events[120:]]
    assert json.dumps(first) == json.dumps(replay)


def test_evict_keeps_the_newest_windows() -> None:
    state: analytics.State = {f"k{i}": [float(i * 60), 1, 1.0, 0.0] for i in range(10)}
    analytics.evict(state, 3)
    assert sorted(state) == ["k7", "k8", "k9"]


REQUIRED = {"STREAM_NAME": "s", "LEASE_TABLE": "t", "RESULTS_BUCKET": "b", "DLQ_URL": "https://q/dlq.fifo"}


def test_config_defaults_are_safe() -> None:
    config = Config.from_env(REQUIRED)
    assert (config.lease_ttl_s, config.poll_interval_s, config.imds_endpoint) == (30.0, 1.0, "http://169.254.169.254")


def test_config_names_every_bad_variable() -> None:
    env = {"DLQ_URL": "https://q/dlq", "LEASE_TTL_S": "-1", "BATCH_LIMIT": "lots", "MIN_WINDOW_COUNT": "1"}
    with pytest.raises(ConfigError) as info:
        Config.from_env(env)
    text = str(info.value)
    for name in ("STREAM_NAME", "LEASE_TABLE", "RESULTS_BUCKET", "DLQ_URL", "LEASE_TTL_S", "BATCH_LIMIT"):
        assert name in text
    assert "MIN_WINDOW_COUNT" in text and "FIFO" in text


def test_config_refuses_a_poll_interval_that_would_let_leases_lapse() -> None:
    with pytest.raises(ConfigError, match="POLL_INTERVAL_S"):
        Config.from_env({**REQUIRED, "LEASE_TTL_S": "3", "POLL_INTERVAL_S": "1.5"})


def _throttle(code: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": "slow down"}}, "GetRecords")


def test_throttling_is_retried_with_capped_jittered_delays() -> None:
    outcomes: list[Any] = [_throttle("ProvisionedThroughputExceededException"), _throttle("ThrottlingException"), 42]
    slept: list[float] = []

    def call() -> Any:
        outcome = outcomes.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    assert with_backoff(call, 1.0, sleep=slept.append) == 42
    assert len(slept) == 2 and all(0 <= s <= 1.0 for s in slept)
    delays = backoff_delays(2.0, rng=random.Random(1))
    sample = [next(delays) for _ in range(50)]
    assert max(sample) <= 2.0 and len(set(sample)) == 50, "capped, and jittered (no two alike)"


def test_other_errors_are_not_retried() -> None:
    def call() -> None:
        raise _throttle("ResourceNotFoundException")

    with pytest.raises(ClientError):
        with_backoff(call, 1.0, sleep=lambda s: None)


def test_result_keys_are_deterministic_and_sort_in_sequence_order() -> None:
    a = result_key("results/", "s", "shardId-1", "9")
    b = result_key("results/", "s", "shardId-1", "10")
    assert a == result_key("results/", "s", "shardId-1", "9") and a < b


def test_dlq_message_carries_shard_sequence_and_reason_and_dedups_by_them() -> None:
    record = {"SequenceNumber": "123", "Data": b"\xff", "PartitionKey": "p"}
    message = dlq_message("shardId-7", record, "not UTF-8")
    body = json.loads(message["MessageBody"])
    assert (body["shard_id"], body["sequence_number"], body["reason"]) == ("shardId-7", "123", "not UTF-8")
    assert message["MessageDeduplicationId"] == dlq_message("shardId-7", record, "other")["MessageDeduplicationId"]
    assert message["MessageDeduplicationId"] != dlq_message("shardId-8", record, "x")["MessageDeduplicationId"]


@pytest.mark.parametrize("path", ["spot/instance-action", "events/recommendations/rebalance"])
def test_imds_notice_is_seen_with_an_imdsv2_token(path: str) -> None:
    with ImdsStandIn() as imds:
        client = Imds(imds.endpoint)
        assert client.notice() is None
        imds.notice(path, {"action": "terminate", "time": "2026-01-01T00:00:00Z"})
        found = client.notice()
    assert found is not None and found.startswith(path) and "terminate" in found
    assert imds.requests[0][:2] == ("PUT", "/latest/api/token")
    assert all(valid for method, _, valid in imds.requests if method == "GET"), "every read carried the token"
