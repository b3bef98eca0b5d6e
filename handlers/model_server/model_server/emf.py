"""The server's metrics as CloudWatch Embedded Metric Format (EMF): one JSON document per
interval on stdout (ECS's awslogs carries it to CloudWatch Logs, which extracts the
metrics) or to the CloudWatch agent's EMF listener (tcp:// or udp://).

A request only adds to a :class:`Window` (a few integer additions and one dictionary
update, on the event loop's thread: no locks); :class:`EmfWriter` turns the window into
one document per ``EMF_INTERVAL_S`` on a timer and starts the next window. A sink that
fails drops that document and says so once on stderr; it never reaches a request.

A distribution (``Latency``, ``BatchRequests``, ``BatchRows``, a regressor's
``PredictedValue``) is written as ``{"Values": [...], "Counts": [...]}`` or, with
``EMF_DISTRIBUTION=values``, as a plain array; at most 100 values per metric (the EMF limit
for a metric's values); model_server.distributions keeps them. A classifier's rows per class
are written by model_server.predictions, one short document per class.

Why not the aws-embedded-metrics library: it keeps every observation and writes them as
plain arrays (a busy interval would be thousands of values, split over many documents),
it has no per-interval aggregation, and it asks the ECS metadata endpoint for dimensions
we do not want. What we need is one small document per interval; this module writes it.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import orjson

from model_server.config import Config, emf_socket
from model_server.distributions import GRID_STEP as GRID_STEP
from model_server.distributions import MAX_VALUES as MAX_VALUES
from model_server.distributions import PLAIN_VALUES as PLAIN_VALUES
from model_server.distributions import VALUES_COUNTS as VALUES_COUNTS
from model_server.distributions import Distribution as Distribution
from model_server.distributions import Latencies as Latencies
from model_server.distributions import Values as Values

DIMENSIONS = [["Service"], ["Service", "Model", "Version"]]  # Service alone: alarms survive a new model version
SOCKET_TIMEOUT_S = 1.0


class Window:
    """The counts of one interval. ``in_flight_area`` is the integral of the in-flight
    count over time (count x seconds): over the interval's length, its time-weighted mean."""

    __slots__ = (
        "batch_requests",
        "batch_rows",
        "classes",
        "in_flight_area",
        "latency",
        "predicted",
        "rejected",
        "requests",
        "rows",
        "server_errors",
        "since",
        "started",
        "unauthorized",
    )

    def __init__(self, now: float) -> None:
        self.requests = 0
        self.server_errors = 0
        self.rejected = 0
        self.unauthorized = 0
        self.rows = 0
        self.latency = Latencies()
        self.batch_requests = Distribution()
        self.batch_rows = Distribution()
        self.classes: dict[Any, int] = {}  # a classifier's rows per class (its label or index), successful calls
        self.predicted = Values()  # a regressor's first output per row, successful calls
        self.in_flight_area = 0.0
        self.since = now  # the in-flight count's last change (time.perf_counter)
        self.started = now

    def in_flight(self, level: int, now: float) -> None:
        """The in-flight count was ``level`` until ``now`` (it is about to change)."""
        self.in_flight_area += level * (now - self.since)
        self.since = now

    def observe_batch(self, requests: int, rows: int) -> None:
        self.batch_requests.add(requests)
        self.batch_rows.add(rows)


class Sink(Protocol):
    def write(self, line: bytes) -> None: ...  # raises OSError when the line is lost

    def close(self) -> None: ...


class StdoutSink:
    def write(self, line: bytes) -> None:
        sys.stdout.write(line.decode() + "\n")  # through sys.stdout: a log line never splits it
        sys.stdout.flush()

    def close(self) -> None:
        pass


class SocketSink:
    """The CloudWatch agent's EMF listener: newline-delimited documents over TCP (one
    connection, opened again after a failure) or one datagram each over UDP."""

    def __init__(self, protocol: str, host: str, port: int) -> None:
        self.protocol, self.address = protocol, (host, port)
        self.sock: socket.socket | None = None

    def write(self, line: bytes) -> None:
        if self.protocol == "udp":
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
                udp.sendto(line, self.address)
            return
        try:
            if self.sock is None:
                self.sock = socket.create_connection(self.address, timeout=SOCKET_TIMEOUT_S)
            self.sock.sendall(line + b"\n")
        except OSError:
            self.close()
            raise

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None


def sink_for(spec: str) -> Sink:
    address = emf_socket(spec)
    return StdoutSink() if address is None else SocketSink(*address)


@dataclass(frozen=True, kw_only=True)
class Identity:
    namespace: str
    service: str
    model: str
    version: str


# More metrics in the same document, under dimension sets of their own: (sets, name -> (unit, value))
Directive = tuple[list[list[str]], dict[str, tuple[str, Any]]]


def document(
    identity: Identity,
    window: Window,
    now: float,
    in_flight: int,
    draining: bool,
    *,
    form: str = VALUES_COUNTS,
    extra: Sequence[Directive] = (),
) -> dict[str, Any]:
    """The EMF document of ``window``, closed at ``now`` with ``in_flight`` calls open; its
    distributions in ``form`` (EMF_DISTRIBUTION); ``extra`` directives after the server's own."""
    window.in_flight(in_flight, now)
    counts: dict[str, tuple[str, Any]] = {
        "Requests": ("Count", window.requests),
        "ServerErrors": ("Count", window.server_errors),
        "Rejected": ("Count", window.rejected),
        "Unauthorized": ("Count", window.unauthorized),
        "InferredRows": ("Count", window.rows),
        "InFlight": ("Count", round(window.in_flight_area / max(now - window.started, 1e-9), 3)),
        "Draining": ("None", 1 if draining else 0),
        "Latency": ("Milliseconds", window.latency.written(form)),
        "BatchRequests": ("Count", window.batch_requests.written(form)),
        "BatchRows": ("Count", window.batch_rows.written(form)),
    }
    values: dict[str, Any] = {}
    directives = []
    for sets, metrics in [(DIMENSIONS, counts), *extra]:
        present = {name: unit_value for name, unit_value in metrics.items() if unit_value[1] is not None}
        if present:
            values |= {name: value for name, (_, value) in present.items()}
            declared = [{"Name": name, "Unit": unit} for name, (unit, _) in present.items()]
            directives.append({"Namespace": identity.namespace, "Dimensions": sets, "Metrics": declared})
    return {
        "_aws": {"Timestamp": int(time.time() * 1000), "CloudWatchMetrics": directives},
        "Service": identity.service,
        "Model": identity.model,
        "Version": identity.version,
        **values,
    }


class Windowed(Protocol):
    window: Window  # the open one (metrics.Metrics)


class Counted(Protocol):
    """The server's state (state.State): its metrics' open window, calls in flight, draining."""

    @property
    def metrics(self) -> Windowed: ...

    @property
    def in_flight(self) -> int: ...

    @property
    def draining(self) -> bool: ...

    @property
    def unfit(self) -> str | None: ...  # why the model may not serve (its golden set failed), or None


class Predicted(Protocol):
    """What the model predicted in a window (model_server.predictions.Predictions)."""

    def directives(self, window: Window, form: str) -> list[Directive]: ...

    def documents(self, window: Window, identity: Identity, timestamp: int) -> list[dict[str, Any]]: ...


class EmfWriter:
    """Every ``interval_s``: the open window's documents to the sink, a new window for the next."""

    def __init__(
        self,
        identity: Identity,
        interval_s: float,
        sink: Sink,
        counted: Counted,
        *,
        form: str = VALUES_COUNTS,
        predicted: Predicted | None = None,
    ) -> None:
        self.identity = identity
        self.interval_s = interval_s
        self.sink = sink
        self.counted = counted
        self.form = form
        self.predicted = predicted
        self.dropped = 0  # documents a failing sink lost

    @classmethod
    def from_config(
        cls, config: Config, model: str, version: str, counted: Counted, predicted: Predicted | None = None
    ) -> EmfWriter:
        identity = Identity(namespace=config.emf_namespace, service=config.emf_service, model=model, version=version)
        sink = sink_for(config.emf_sink)
        return cls(identity, config.emf_interval_s, sink, counted, form=config.emf_distribution, predicted=predicted)

    def take(self) -> bytes:
        """The open window's documents, one per line (the server's, then a classifier's one per
        class); the next window starts now."""
        now, counted, predicted = time.perf_counter(), self.counted, self.predicted
        window, counted.metrics.window = counted.metrics.window, Window(now)
        extra: list[Directive] = [(DIMENSIONS, {"GoldenSetFailed": ("None", 0 if counted.unfit is None else 1)})]
        if predicted is not None:
            extra += predicted.directives(window, self.form)
        main = document(self.identity, window, now, counted.in_flight, counted.draining, form=self.form, extra=extra)
        docs = [main]
        if predicted is not None:
            docs += predicted.documents(window, self.identity, main["_aws"]["Timestamp"])
        return b"\n".join(map(orjson.dumps, docs))

    def send(self, lines: bytes) -> None:
        """The interval's documents (one per line) to the sink; when it fails, the rest of them
        are dropped and counted, with one line on stderr."""
        docs = lines.split(b"\n")
        for sent, line in enumerate(docs):
            try:
                self.sink.write(line)
            except Exception as exc:  # the agent is down, stdout closed: metrics are lost, serving goes on
                self.dropped += len(docs) - sent
                note = {"level": "WARNING", "message": f"EMF document dropped ({self.dropped} so far): {exc!r}"}
                with contextlib.suppress(Exception):  # stderr gone too: nothing left to tell
                    sys.stderr.write(orjson.dumps(note).decode() + "\n")
                return

    async def run(self) -> None:
        """Until cancelled: one document per interval, on the interval's grid (no drift).
        A socket sink writes on a worker thread: a slow agent never holds the loop."""
        loop = asyncio.get_running_loop()
        deadline = loop.time()
        while True:
            deadline += self.interval_s
            await asyncio.sleep(max(0.0, deadline - loop.time()))
            line = self.take()
            if isinstance(self.sink, StdoutSink):
                self.send(line)  # one short line per interval
            else:
                await asyncio.to_thread(self.send, line)

    def close(self) -> None:
        """The last document (what happened since the last interval), then the sink closed."""
        self.send(self.take())
        self.sink.close()
