"""The event processor as a real process against a moto server, on real S3 events.

moto runs no Lambda code, so the handler folder runs as a local process (the runner in
tools/harness/local_lambda.py); the events are the ones moto's S3 itself sends to an
SQS queue for real uploaded objects (URL-encoded keys included). In ``direct`` mode the
function receives that S3 event as is; in ``queue`` mode an SQS batch of such messages.
"""

from __future__ import annotations

import json
import random
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import settings_from
from tools.deploy.round_trip import aws_client
from tools.harness.emulator_credentials import CREDENTIALS
from tools.harness.local_lambda import Invocation, InvocationError, invoke, sqs_event
from tools.harness.moto_server import MotoServer

pytestmark = [pytest.mark.slow, pytest.mark.emulator]

REGION = "us-east-1"


def record(i: int, text: str = "great product, works fine", **extra: Any) -> dict[str, Any]:
    return {"id": f"r-{i}", "timestamp": "2026-01-31T12:00:00+01:00", "text": text, "values": [1, 2, 3], **extra}


def jsonl(*records: dict[str, Any]) -> bytes:
    return b"".join(json.dumps(r).encode() + b"\n" for r in records)


@dataclass
class Lab:
    """One bucket whose data/*.json uploads notify one queue (redrive to a DLQ), as deployed."""

    endpoint: str
    bucket: str
    s3: Any
    sqs: Any
    queue_url: str
    queue_arn: str
    dlq_url: str

    def put(self, key: str, body: bytes, **kwargs: Any) -> str:
        return str(self.s3.put_object(Bucket=self.bucket, Key=key, Body=body, **kwargs)["VersionId"])

    def messages(self) -> list[dict[str, Any]]:
        """Every notification waiting in the queue (received once, left for redelivery)."""
        out: list[dict[str, Any]] = []
        while batch := self.sqs.receive_message(
            QueueUrl=self.queue_url, MaxNumberOfMessages=10, AttributeNames=["All"], VisibilityTimeout=30
        ).get("Messages"):
            out += batch
        return out

    def s3_events(self) -> list[dict[str, Any]]:
        """The S3 events (direct delivery), test events left out."""
        events = [json.loads(m["Body"]) for m in self.messages()]
        return [e for e in events if "Records" in e]

    def sqs_event(self, messages: list[dict[str, Any]]) -> dict[str, Any]:
        return sqs_event(messages, self.queue_arn, REGION)

    def invoke(self, events: list[dict[str, Any]], **env: str) -> Invocation:
        base = {
            "DATA_BUCKET": self.bucket,
            "DATA_PREFIX": "data/",
            "RESULTS_PREFIX": "results/",
            "QUARANTINE_PREFIX": "quarantine/",
        }
        env = {**CREDENTIALS, **base, **env}
        return invoke("event_processor", events, endpoint=self.endpoint, region=REGION, env=env)

    def keys(self, prefix: str) -> set[str]:
        pages = self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix)
        return {o["Key"] for page in pages for o in page.get("Contents", [])}

    def body(self, key: str) -> bytes:
        return bytes(self.s3.get_object(Bucket=self.bucket, Key=key)["Body"].read())

    def quarantined(self, key: str) -> dict[str, Any]:
        return dict(json.loads(self.body(f"quarantine/{key}.error.json")))

    def results(self, key: str) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.body(f"results/{key}").splitlines()]


@pytest.fixture
def lab(moto: MotoServer) -> Lab:
    settings = settings_from({"RAI_EMULATOR_ENDPOINT": moto.endpoint})
    s3, sqs = aws_client("s3", settings), aws_client("sqs", settings)
    name = f"events-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=name)
    s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    dlq_url = sqs.create_queue(QueueName=f"{name}-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    queue_url = sqs.create_queue(
        QueueName=name,
        Attributes={"RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 3})},
    )["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    rules = [{"Name": "prefix", "Value": "data/"}, {"Name": "suffix", "Value": ".json"}]
    s3.put_bucket_notification_configuration(
        Bucket=name,
        NotificationConfiguration={
            "QueueConfigurations": [
                {"QueueArn": queue_arn, "Events": ["s3:ObjectCreated:*"], "Filter": {"Key": {"FilterRules": rules}}}
            ]
        },
    )
    return Lab(moto.endpoint, name, s3, sqs, queue_url, queue_arn, dlq_url)


def test_documents_and_json_lines_become_results_in_input_order(lab: Lab) -> None:
    lab.put("data/lines.json", jsonl(record(1), record(2, "terrible, broken, awful"), record(3)))
    lab.put("data/doc.json", json.dumps(record(4), indent=2).encode())  # one document over several lines
    lab.put("data/array.json", json.dumps([record(5), record(6, values=[])]).encode())
    responses = lab.invoke(lab.s3_events()).responses

    assert [o["status"] for r in responses for o in r["outcomes"]] == ["processed"] * 3
    assert lab.keys("results/") == {"results/data/lines.json", "results/data/doc.json", "results/data/array.json"}
    assert not lab.keys("quarantine/")
    lines = lab.results("data/lines.json")
    assert [r["id"] for r in lines] == ["r-1", "r-2", "r-3"]
    assert [r["sentiment"]["label"] for r in lines] == ["positive", "negative", "positive"]
    assert lines[0]["timestamp"] == "2026-01-31T11:00:00Z", "normalised to UTC"
    assert lines[0]["values"] == {"count": 3, "mean": 2.0, "std": pytest.approx(0.8164966), "min": 1, "max": 3}
    assert lines[0]["n_tokens"] == 4
    assert [r["id"] for r in lab.results("data/doc.json")] == ["r-4"]
    assert [r["values"] for r in lab.results("data/array.json")] == [lines[0]["values"], None]


def test_every_bad_input_class_is_quarantined_with_its_reason_and_source_version(lab: Lab) -> None:
    long_line = json.dumps(record(1, text="x" * 3000)).encode()
    cases = {
        "data/invalid.json": (b'{"id": "1", "timestamp": ', "invalid-json"),
        "data/schema.json": (jsonl(record(1), {"id": 2, "text": "no timestamp"}), "schema-mismatch"),
        "data/unknown-field.json": (jsonl(record(1, colour="red")), "schema-mismatch"),
        "data/empty.json": (b"", "empty-object"),
        "data/blank.json": (b"\n  \n", "empty-object"),
        "data/too-large.json": (jsonl(*(record(i) for i in range(80))), "object-too-large"),
        "data/long-record.json": (jsonl(record(0)) + long_line + b"\n", "record-too-large"),
        "data/latin1.json": ('{"id": "1", "text": "caf\xe9"}\n'.encode("latin-1"), "not-utf8"),
    }
    versions = {key: lab.put(key, body) for key, (body, _) in cases.items()}
    lab.put("data/deleted.json", jsonl(record(1)))
    lab.s3.delete_object(Bucket=lab.bucket, Key="data/deleted.json")  # a delete marker: gone before it is read
    events = lab.s3_events()
    limits = {"MAX_OBJECT_BYTES": "4096", "MAX_RECORD_BYTES": "2048"}
    lab.invoke(events, **limits)

    assert not lab.keys("results/"), "no partial result for a rejected object"
    for key, (_, reason) in cases.items():
        doc = lab.quarantined(key)
        assert doc["reason"] == reason, (key, doc)
        assert doc["detail"], key
        assert doc["source"]["key"] == key and doc["source"]["bucket"] == lab.bucket
        assert doc["source"]["version_id"] == versions[key], "the exact version that was rejected"
    assert lab.quarantined("data/schema.json")["line"] == 2
    assert "'timestamp'" in lab.quarantined("data/schema.json")["detail"]
    assert lab.quarantined("data/long-record.json")["line"] == 2
    assert lab.quarantined("data/deleted.json")["reason"] == "object-deleted"


def test_keys_with_spaces_plus_signs_and_unicode_are_decoded(lab: Lab) -> None:
    key = "data/año 2026/a+b résumé.json"
    lab.put(key, jsonl(record(1)))
    (event,) = lab.s3_events()
    assert event["Records"][0]["s3"]["object"]["key"] != key, "S3 sends the key URL-encoded"
    lab.invoke([event])
    assert lab.keys("results/") == {f"results/{key}"}


def test_the_same_event_delivered_twice_leaves_one_result(lab: Lab) -> None:
    lab.put("data/once.json", jsonl(record(1), record(2)))
    (event,) = lab.s3_events()
    invocation = lab.invoke([event, event])
    assert [r["outcomes"][0]["status"] for r in invocation.responses] == ["processed", "processed"]
    assert lab.keys("results/") == {"results/data/once.json"}
    versions = lab.s3.list_object_versions(Bucket=lab.bucket, Prefix="results/")["Versions"]
    bodies = {
        lab.s3.get_object(Bucket=lab.bucket, Key=v["Key"], VersionId=v["VersionId"])["Body"].read() for v in versions
    }
    assert len(bodies) == 1, "a retry rewrites the same bytes"


def test_mixed_batch_reports_only_the_message_that_needs_a_retry(lab: Lab) -> None:
    lab.put("data/good.json", jsonl(record(1)))
    lab.put("data/bad.json", b"not json at all")
    # An archived object cannot be read until restored: not bad input, so retry, then DLQ.
    lab.put("data/archived.json", jsonl(record(2)), StorageClass="GLACIER")
    messages = lab.messages()
    event = lab.sqs_event(messages)
    garbage = {**event["Records"][0], "messageId": "garbage-1", "body": "this is not an S3 event"}
    event["Records"].append(garbage)
    (response,) = lab.invoke([event]).responses

    by_key = {
        json.loads(m["Body"]).get("Records", [{}])[0].get("s3", {}).get("object", {}).get("key"): m["MessageId"]
        for m in messages
    }
    assert response["batchItemFailures"] == [{"itemIdentifier": by_key["data%2Farchived.json"]}]
    assert lab.keys("results/") == {"results/data/good.json"}
    assert lab.keys("quarantine/") == {"quarantine/data/bad.json.error.json", "quarantine/_events/garbage-1.error.json"}
    assert json.loads(lab.body("quarantine/_events/garbage-1.error.json"))["reason"] == "invalid-event"


def test_direct_mode_raises_on_a_transient_error_so_lambda_retries(lab: Lab) -> None:
    lab.put("data/archived.json", jsonl(record(1)), StorageClass="GLACIER")
    (event,) = lab.s3_events()
    with pytest.raises(InvocationError, match="InvalidObjectState"):
        lab.invoke([event])
    assert not lab.keys("results/") and not lab.keys("quarantine/")


def test_conservation_every_object_ends_in_results_quarantine_or_the_dlq(lab: Lab) -> None:
    """The deployed queue loop, run for real: receive a batch, invoke, delete what
    succeeded, let the rest reappear; SQS moves a message to the DLQ after 3 receives."""
    rng = random.Random(4)
    uploaded = set()
    for i in range(40):
        key = f"data/batch/{i:03d} obj.json"
        kind = rng.choice(["good", "good", "good", "bad-json", "bad-schema", "archived"])
        body = {"good": jsonl(record(i), record(i + 1000)), "bad-json": b"{", "bad-schema": b'{"id": 1}'}.get(
            kind, jsonl(record(i))
        )
        lab.put(key, body, **({"StorageClass": "GLACIER"} if kind == "archived" else {}))
        uploaded.add(key)
    for _ in range(20):
        batch = lab.sqs.receive_message(QueueUrl=lab.queue_url, MaxNumberOfMessages=10, VisibilityTimeout=30).get(
            "Messages", []
        )
        if not batch:
            break
        (response,) = lab.invoke([lab.sqs_event(batch)]).responses
        failed = {f["itemIdentifier"] for f in response["batchItemFailures"]}
        for m in batch:
            if m["MessageId"] in failed:  # visible again at once, as after the visibility timeout
                lab.sqs.change_message_visibility(
                    QueueUrl=lab.queue_url, ReceiptHandle=m["ReceiptHandle"], VisibilityTimeout=0
                )
            else:
                lab.sqs.delete_message(QueueUrl=lab.queue_url, ReceiptHandle=m["ReceiptHandle"])
    else:
        pytest.fail("the queue never drained")

    dead = []
    while batch := lab.sqs.receive_message(QueueUrl=lab.dlq_url, MaxNumberOfMessages=10).get("Messages"):
        for m in batch:
            dead += [_decoded(r["s3"]["object"]["key"]) for r in json.loads(m["Body"])["Records"]]
            lab.sqs.delete_message(QueueUrl=lab.dlq_url, ReceiptHandle=m["ReceiptHandle"])
    results = {k.removeprefix("results/") for k in lab.keys("results/")}
    rejects = {k.removeprefix("quarantine/").removesuffix(".error.json") for k in lab.keys("quarantine/")}
    assert len(dead) == len(set(dead)), "each dead message once"
    places = [results, rejects, set(dead)]
    for key in uploaded:
        assert sum(key in p for p in places) == 1, f"{key}: in {[key in p for p in places]}"
    assert results | rejects | set(dead) == uploaded, "nothing appears that was not uploaded"
    assert all(p for p in places), "the mix exercised every destination"


def _decoded(key: str) -> str:
    import urllib.parse

    return urllib.parse.unquote_plus(key)


def test_results_also_go_to_kinesis_when_configured(lab: Lab) -> None:
    kinesis = aws_client("kinesis", settings_from({"RAI_EMULATOR_ENDPOINT": lab.endpoint}))
    name = f"{lab.bucket}-stream"
    kinesis.create_stream(StreamName=name, ShardCount=1)
    arn = kinesis.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]["StreamARN"]
    lab.put("data/streamed.json", jsonl(*(record(i) for i in range(7))))
    lab.invoke(lab.s3_events(), KINESIS_STREAM_ARN=arn)

    shard = kinesis.list_shards(StreamName=name)["Shards"][0]["ShardId"]
    iterator = kinesis.get_shard_iterator(StreamName=name, ShardId=shard, ShardIteratorType="TRIM_HORIZON")
    records = kinesis.get_records(ShardIterator=iterator["ShardIterator"])["Records"]
    on_stream = [json.loads(r["Data"]) for r in records]
    assert on_stream == lab.results("data/streamed.json"), "the stream carries exactly the stored results"
    assert [r["PartitionKey"] for r in records] == [f"r-{i}" for i in range(7)]


def test_handler_folder_needs_nothing_beyond_the_runtime() -> None:
    """Lambda's Python runtime has the stdlib and boto3 only; the archive is the folder as is."""
    folder = Path(__file__).resolve().parent.parent / "handlers" / "event_processor"
    imports = {
        line.split()[1].split(".")[0]
        for path in folder.glob("*.py")
        for line in path.read_text().splitlines()
        if line.startswith(("import ", "from "))
    }
    import sys

    third_party = {m for m in imports if m not in sys.stdlib_module_names and not (folder / f"{m}.py").exists()}
    assert third_party <= {"boto3", "botocore"}, third_party
