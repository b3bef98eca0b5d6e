"""In-process Kinesis, DynamoDB, S3 and SQS for many stream workers at once, with the
calls, capacity units and latency of each worker counted.

:class:`FakeAws` holds one stream (:mod:`tools.harness.fake_kinesis`), one lease table
(:mod:`tools.harness.fake_dynamodb`), one results bucket (create-only puts with
``If-None-Match``, as S3 answers them) and one FIFO DLQ (de-duplication by id).
:meth:`FakeAws.clients` gives a worker boto3-shaped clients that:

- wait a modelled round-trip :data:`LATENCY_S` per call (half before the call takes
  effect, half after; sleeping releases the GIL, so workers in threads overlap like
  processes waiting on the network);
- count every call and the capacity it consumed under the worker's id;
- once the worker is killed (:meth:`FakeAws.kill`), raise :class:`Killed` on every call,
  before anything takes effect: the worker stops dead like a process after ``kill -9``,
  writing nothing more, releasing nothing.
"""

from __future__ import annotations

import collections
import io
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from tools.harness.fake_dynamodb import FakeTable, client_error
from tools.harness.fake_kinesis import FakeStream

# Typical in-region round trips (ms) of the calls, from the services' published latency
# figures: DynamoDB single-digit ms, Kinesis GetRecords tens of ms, S3 PUT tens of ms.
LATENCY_S: dict[str, float] = {
    "dynamodb": 0.005,
    "kinesis.get_records": 0.020,
    "kinesis": 0.010,
    "s3": 0.025,
    "sqs": 0.015,
}


class Killed(BaseException):
    """The worker's process is gone (``kill -9``): nothing in the worker catches it."""


@dataclass
class Usage:
    calls: collections.Counter[str] = field(default_factory=collections.Counter)
    units: dict[str, float] = field(default_factory=lambda: collections.defaultdict(float))  # capacity by call


class FakeS3:
    def __init__(self) -> None:
        self.objects: dict[str, tuple[bytes, dict[str, str]]] = {}
        self.lock = threading.Lock()

    def put_object(self, kwargs: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            if kwargs.get("IfNoneMatch") == "*" and kwargs["Key"] in self.objects:
                raise client_error("PreconditionFailed", "At least one of the pre-conditions failed", "PutObject", 412)
            self.objects[kwargs["Key"]] = (bytes(kwargs.get("Body", b"")), dict(kwargs.get("Metadata", {})))
        return {}

    def head_object(self, kwargs: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            if kwargs["Key"] not in self.objects:
                raise client_error("404", "Not Found", "HeadObject", 404)
            body, metadata = self.objects[kwargs["Key"]]
        return {"ContentLength": len(body), "Metadata": metadata}

    def delete_object(self, kwargs: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            self.objects.pop(kwargs["Key"], None)  # S3 answers 204 for a key that is not there too
        return {}

    def get_object(self, kwargs: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            if kwargs["Key"] not in self.objects:
                raise client_error("NoSuchKey", "The specified key does not exist.", "GetObject", 404)
            body, metadata = self.objects[kwargs["Key"]]
        return {"Body": io.BytesIO(body), "ContentLength": len(body), "Metadata": metadata}


class FakeQueue:
    def __init__(self) -> None:
        self.messages: dict[str, dict[str, Any]] = {}  # de-duplication id -> entry
        self.lock = threading.Lock()

    def send_message_batch(self, kwargs: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            for entry in kwargs["Entries"]:
                self.messages.setdefault(entry["MessageDeduplicationId"], entry)
        return {"Successful": [{"Id": e["Id"]} for e in kwargs["Entries"]], "Failed": []}


class FakeAws:
    def __init__(self, stream: str, shards: int, latency: bool = True) -> None:
        self.stream = FakeStream(stream, shards)
        self.table = FakeTable(f"{stream}-leases")
        self.s3 = FakeS3()
        self.dlq = FakeQueue()
        self.latency = latency
        self.usage: dict[str, Usage] = collections.defaultdict(Usage)
        self.killed: set[str] = set()
        self.lock = threading.Lock()
        # Called after each call: (worker id, "service.operation", kwargs, answer or ClientError).
        self.observers: list[Callable[[str, str, dict[str, Any], Any], None]] = []

    def kill(self, worker_id: str) -> None:
        self.killed.add(worker_id)

    def clients(self, worker_id: str) -> dict[str, Any]:
        return {
            "kinesis": Client(self, worker_id, "kinesis", self._kinesis_calls()),
            "dynamodb": Client(self, worker_id, "dynamodb", self._dynamodb_calls()),
            "s3": Client(
                self,
                worker_id,
                "s3",
                {n: getattr(self.s3, n) for n in ("put_object", "head_object", "get_object", "delete_object")},
            ),
            "sqs": Client(self, worker_id, "sqs", {"send_message_batch": self.dlq.send_message_batch}),
            "cloudwatch": Client(self, worker_id, "cloudwatch", {}),
        }

    def _kinesis_calls(self) -> dict[str, Callable[[dict[str, Any]], Any]]:
        names = ("list_shards", "get_shard_iterator", "get_records", "put_records", "split_shard", "merge_shards")
        return {name: getattr(self.stream, name) for name in names}

    def _dynamodb_calls(self) -> dict[str, Callable[[dict[str, Any]], Any]]:
        t = self.table
        names = ("put_item", "get_item", "update_item", "delete_item", "scan")
        return {name: getattr(t, name) for name in names}

    def record(self, worker_id: str, operation: str, read_units: float, write_units: float) -> None:
        with self.lock:
            usage = self.usage[worker_id]
            usage.calls[operation] += 1
            usage.units[operation] += read_units + write_units


class Client:
    """One service's client for one worker: ``client.<operation>(**kwargs)``."""

    def __init__(
        self, aws: FakeAws, worker_id: str, service: str, calls: dict[str, Callable[[dict[str, Any]], Any]]
    ) -> None:
        self._aws, self._worker, self._service, self._calls = aws, worker_id, service, calls

    def __getattr__(self, operation: str) -> Callable[..., Any]:
        if operation not in self._calls:
            raise AttributeError(f"the fake {self._service} client has no {operation}")
        call = self._calls[operation]
        delay = LATENCY_S.get(f"{self._service}.{operation}", LATENCY_S[self._service]) if self._aws.latency else 0.0

        def invoke(**kwargs: Any) -> Any:
            self._alive()
            time.sleep(delay / 2)
            self._alive()
            name = f"{self._service}.{operation}"
            try:
                out = call(kwargs)
            except ClientError as exc:
                self._aws.record(self._worker, name, *getattr(exc, "consumed", (0.0, 0.0)))
                for observe in self._aws.observers:
                    observe(self._worker, name, kwargs, exc)
                raise
            finally:
                time.sleep(delay / 2)
            if self._service == "dynamodb":
                out, read_units, write_units = out
                self._aws.record(self._worker, name, read_units, write_units)
            else:
                self._aws.record(self._worker, name, 0.0, 0.0)
            for observe in self._aws.observers:
                observe(self._worker, name, kwargs, out)
            return out

        return invoke

    def _alive(self) -> None:
        if self._worker in self._aws.killed:
            raise Killed(self._worker)
