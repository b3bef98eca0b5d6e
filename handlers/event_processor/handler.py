"""Lambda entry point: process each new S3 object under the input prefix.

Two event shapes, one per delivery mode of the stack:

* ``direct``: an S3 event (``Records[].s3``), invoked asynchronously by S3. A transient
  error raises, so Lambda retries and then sends the event to the on-failure DLQ.
* ``queue``: an SQS batch whose message bodies are S3 events. Each message succeeds or
  fails alone; only failed message ids are returned (``batchItemFailures``), so SQS
  retries just those and moves them to the DLQ after ``maxReceiveCount`` receives.

Per object (see ``processing.py`` for the schema and what is computed): the current
version is read as a stream, every record validated and processed, and the results
written as JSON Lines to ``<RESULTS_PREFIX><key>`` (a deterministic key, so a duplicate
or retried event rewrites the same object: idempotent). Bad input never fails the
batch: the object is recorded in ``<QUARANTINE_PREFIX><key>.error.json`` with the
reason, the line, and the source version. Reasons: ``invalid-json``,
``schema-mismatch``, ``empty-object``, ``object-too-large``, ``record-too-large``,
``not-utf8``, ``object-deleted``, ``outside-input-prefix``; an SQS message that is not
an S3 event goes to ``<QUARANTINE_PREFIX>_events/<message id>.error.json``
(``invalid-event``).

Configuration (environment, read once): ``DATA_BUCKET``, ``DATA_PREFIX``, ``RESULTS_PREFIX``,
``QUARANTINE_PREFIX``, ``MAX_OBJECT_BYTES``, ``MAX_RECORD_BYTES``,
``KINESIS_STREAM_ARN`` (optional: every result also goes to that stream),
``SPOOL_DIR`` (where results wait before upload; default the system temp directory),
``WORKERS`` (messages of a batch processed at once, default 4: each holds at most one
read chunk, one line and an 8 MiB in-memory spool).
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import time
import urllib.parse
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import boto3
from botocore.config import Config as BotoConfig
from botocore.exceptions import ClientError
from processing import BadInput, Model, process, records, result_line, validate

LOG = logging.getLogger("event_processor")
LOG.setLevel(os.environ.get("LOG_LEVEL", "INFO"))

CHUNK_BYTES = 1 << 20
SPOOL_MEMORY_BYTES = 8 << 20  # results beyond this spill to SPOOL_DIR
KINESIS_BATCH_RECORDS = 500  # PutRecords limits: 500 records, 5 MiB per call
KINESIS_BATCH_BYTES = 4 << 20
KINESIS_ATTEMPTS = 4


@dataclass(frozen=True)
class HandlerConfig:
    data_bucket: str
    data_prefix: str
    results_prefix: str
    quarantine_prefix: str
    max_object_bytes: int
    max_record_bytes: int
    kinesis_stream_arn: str
    spool_dir: str | None
    workers: int  # messages of an SQS batch processed at once

    @classmethod
    def from_env(cls, env: dict[str, str] | os._Environ[str] = os.environ) -> HandlerConfig:
        return cls(
            data_bucket=env.get("DATA_BUCKET", ""),
            data_prefix=env.get("DATA_PREFIX", "data/"),
            results_prefix=env.get("RESULTS_PREFIX", "results/"),
            quarantine_prefix=env.get("QUARANTINE_PREFIX", "quarantine/"),
            max_object_bytes=int(env.get("MAX_OBJECT_BYTES", str(256 << 20))),
            max_record_bytes=int(env.get("MAX_RECORD_BYTES", str(1 << 20))),
            kinesis_stream_arn=env.get("KINESIS_STREAM_ARN", ""),
            spool_dir=env.get("SPOOL_DIR") or None,
            workers=int(env.get("WORKERS", "4")),
        )


class TransientError(RuntimeError):
    """Retry later: the whole event (direct) or the message (queue) is retried."""


CONFIG = HandlerConfig.from_env()
MODEL = Model.load(Path(__file__).with_name("model.json"))
# Standard retry mode backs off on throttling; what still fails is retried by Lambda/SQS.
_BOTO = BotoConfig(retries={"mode": "standard", "max_attempts": 5}, max_pool_connections=2 * CONFIG.workers)
S3 = boto3.client("s3", config=_BOTO)
KINESIS = boto3.client("kinesis", config=_BOTO) if CONFIG.kinesis_stream_arn else None
_POOL = ThreadPoolExecutor(max_workers=CONFIG.workers)  # boto3 clients are thread-safe


@dataclass(frozen=True)
class ObjectRef:
    bucket: str
    key: str  # decoded
    version_id: str | None  # from the event; None when the bucket is unversioned
    size: int | None


@dataclass(frozen=True)
class Outcome:
    ref: ObjectRef
    status: str  # "processed" | "quarantined"
    output_key: str
    records: int = 0


def handler(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    if _is_sqs(event):
        return handle_sqs(event)
    outcomes = [process_object(ref) for ref in s3_refs(event)]
    return {"outcomes": [_describe(o) for o in outcomes]}


def handle_sqs(event: dict[str, Any]) -> dict[str, Any]:
    # Messages of a batch are independent: while one waits on S3, another is parsed.
    results = list(_POOL.map(_handle_message, event["Records"]))
    failures = [
        {"itemIdentifier": m["messageId"]} for m, (_, failed) in zip(event["Records"], results, strict=True) if failed
    ]
    outcomes = [o for done, _ in results for o in done]
    return {"batchItemFailures": failures, "outcomes": [_describe(o) for o in outcomes]}


def _handle_message(message: dict[str, Any]) -> tuple[list[Outcome], bool]:
    """The message's outcomes, and whether it must be retried."""
    try:
        body = _s3_event_of(message)
        if body is None:
            return [], False  # s3:TestEvent, sent once when the notification is created
        return [process_object(ref) for ref in s3_refs(body)], False
    except BadInput as exc:
        return [_quarantine_event(message, exc)], False
    except Exception:
        LOG.exception("message %s failed; SQS will retry it", message.get("messageId"))
        return [], True


def _is_sqs(event: dict[str, Any]) -> bool:
    recs = event.get("Records") if isinstance(event, dict) else None
    return bool(recs) and isinstance(recs, list) and recs[0].get("eventSource") == "aws:sqs"


def _s3_event_of(message: dict[str, Any]) -> dict[str, Any] | None:
    try:
        body = json.loads(message.get("body", ""))
    except json.JSONDecodeError as exc:
        raise BadInput("invalid-event", f"message body is not JSON: {exc.msg}") from None
    if isinstance(body, dict) and body.get("Event") == "s3:TestEvent":
        return None
    if not (isinstance(body, dict) and isinstance(body.get("Records"), list)):
        raise BadInput("invalid-event", "message body is not an S3 event notification (no Records list)")
    return body


def s3_refs(event: dict[str, Any]) -> list[ObjectRef]:
    """The objects an S3 event notification names (keys URL-decoded)."""
    refs = []
    for i, rec in enumerate(event.get("Records") or []):
        try:
            if not str(rec.get("eventName", "ObjectCreated:")).startswith("ObjectCreated:"):
                continue
            obj = rec["s3"]["object"]
            refs.append(
                ObjectRef(
                    bucket=rec["s3"]["bucket"]["name"],
                    # S3 encodes keys in events like a form: '+' is a space.
                    key=urllib.parse.unquote_plus(obj["key"]),
                    version_id=obj.get("versionId"),
                    size=obj.get("size"),
                )
            )
        except (KeyError, TypeError):
            raise BadInput("invalid-event", f"Records[{i}] has no s3.bucket.name / s3.object.key") from None
    if not refs and not event.get("Records"):
        raise BadInput("invalid-event", "no Records in the event")
    return refs


def process_object(ref: ObjectRef) -> Outcome:
    try:
        return _process(ref)
    except BadInput as exc:
        return quarantine(ref, exc, ref.version_id)


def _process(ref: ObjectRef) -> Outcome:
    cfg = CONFIG
    if not ref.key.startswith(cfg.data_prefix):
        raise BadInput("outside-input-prefix", f"key is not under {cfg.data_prefix!r}")
    try:
        # The current version, not the event's: a late duplicate of an older event
        # then rewrites the same, latest result instead of going back in time.
        obj = S3.get_object(Bucket=ref.bucket, Key=ref.key)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
            raise BadInput("object-deleted", "the object was deleted before it was read") from None
        raise
    version = obj.get("VersionId")
    size = int(obj["ContentLength"])
    body = obj["Body"]
    try:
        bad = _size_problem(size)
        if bad is not None:
            raise BadInput(*bad)
        whole = size <= cfg.max_record_bytes
        first = body.read() if whole else body.read(CHUNK_BYTES)
        rest: Iterator[bytes] = iter(()) if whole else iter(lambda: body.read(CHUNK_BYTES), b"")
        with tempfile.SpooledTemporaryFile(SPOOL_MEMORY_BYTES, dir=cfg.spool_dir) as spool:
            count = _write_results(records(first, rest, whole, cfg.max_record_bytes), spool)
            if count == 0:
                raise BadInput("empty-object", "the object holds no records (only whitespace or [])")
            if KINESIS is not None:
                spool.seek(0)
                _put_on_stream(spool)
            spool.seek(0)
            out_key = cfg.results_prefix + ref.key
            S3.put_object(
                Bucket=ref.bucket,
                Key=out_key,
                Body=spool,
                ContentType="application/x-ndjson",
                Metadata={"source-version-id": version or "null", "records": str(count)},
            )
    except BadInput as exc:
        return quarantine(ref, exc, version)
    finally:
        body.close()
    LOG.info(json.dumps({"processed": ref.key, "version": version, "records": count, "result": out_key}))
    return Outcome(ref, "processed", out_key, count)


def _size_problem(size: int) -> tuple[str, str] | None:
    if size == 0:
        return "empty-object", "the object is 0 bytes"
    if size > CONFIG.max_object_bytes:
        return "object-too-large", f"{size} bytes is over the limit of {CONFIG.max_object_bytes}"
    return None


def _write_results(items: Iterator[tuple[int, Any]], out: IO[bytes]) -> int:
    count = 0
    for number, record in items:
        problem = validate(record)
        if problem is not None:
            raise BadInput("schema-mismatch", problem, number)
        out.write(result_line(process(record, MODEL)))
        count += 1
    return count


def _put_on_stream(spool: IO[bytes]) -> None:
    batch: list[dict[str, Any]] = []
    size = 0
    for line in spool:
        entry = {"Data": line, "PartitionKey": json.loads(line)["id"]}
        if len(batch) == KINESIS_BATCH_RECORDS or size + len(line) > KINESIS_BATCH_BYTES:
            _put_records(batch)
            batch, size = [], 0
        batch.append(entry)
        size += len(line)
    if batch:
        _put_records(batch)


def _put_records(entries: list[dict[str, Any]]) -> None:
    assert KINESIS is not None
    for attempt in range(KINESIS_ATTEMPTS):
        resp = KINESIS.put_records(StreamARN=CONFIG.kinesis_stream_arn, Records=entries)
        if not resp.get("FailedRecordCount"):
            return
        # Only the failed entries (throttled shards) are sent again.
        entries = [e for e, r in zip(entries, resp["Records"], strict=True) if "ErrorCode" in r]
        time.sleep(0.1 * 2**attempt)
    raise TransientError(f"{len(entries)} records still failed after {KINESIS_ATTEMPTS} PutRecords attempts")


def quarantine(ref: ObjectRef, exc: BadInput, version: str | None) -> Outcome:
    key = f"{CONFIG.quarantine_prefix}{ref.key}.error.json"
    doc = {
        "reason": exc.reason,
        "detail": exc.detail,
        "line": exc.line,
        "source": {"bucket": ref.bucket, "key": ref.key, "version_id": version, "size": ref.size},
        "quarantined_at": datetime.now(UTC).isoformat(),
    }
    S3.put_object(Bucket=ref.bucket, Key=key, Body=json.dumps(doc, indent=2).encode(), ContentType="application/json")
    LOG.warning(json.dumps({"quarantined": ref.key, "reason": exc.reason, "detail": exc.detail, "at": key}))
    return Outcome(ref, "quarantined", key)


def _quarantine_event(message: dict[str, Any], exc: BadInput) -> Outcome:
    # A message that is not an S3 event names no bucket; the function knows its own.
    ref = ObjectRef(bucket=CONFIG.data_bucket, key=f"_events/{message['messageId']}", version_id=None, size=None)
    key = f"{CONFIG.quarantine_prefix}{ref.key}.error.json"
    doc = {"reason": exc.reason, "detail": exc.detail, "message": message}
    S3.put_object(Bucket=ref.bucket, Key=key, Body=json.dumps(doc, indent=2).encode(), ContentType="application/json")
    LOG.warning(json.dumps({"quarantined_event": message["messageId"], "reason": exc.reason, "at": key}))
    return Outcome(ref, "quarantined", key)


def _describe(o: Outcome) -> dict[str, Any]:
    return {"key": o.ref.key, "status": o.status, "output": o.output_key, "records": o.records}
