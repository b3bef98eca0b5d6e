"""The server's metrics as CloudWatch Embedded Metric Format (EMF): one JSON document per
interval on stdout (ECS's awslogs carries it to CloudWatch Logs, which extracts the
metrics) or to the CloudWatch agent's EMF listener (tcp:// or udp://).

A request only adds to a :class:`Window` (a few integer additions and one dictionary
update, on the event loop's thread: no locks); :class:`EmfWriter` turns the window into
one document per ``EMF_INTERVAL_S`` on a timer and starts the next window. A sink that
fails drops that document and says so once on stderr; it never reaches a request.

A distribution (``Latency``, ``BatchRequests``, ``BatchRows``) is written as
``{"Values": [...], "Counts": [...]}``: each value once with how often it occurred, as
CloudWatch's PutMetricData takes them and as AWS's own EMF writer (awslabs/metrique)
emits them; at most 100 values per metric (the EMF limit for a metric's values).
Latencies are kept on a logarithmic grid (2 % apart), so an interval of any load has a
few dozen values; over 100, neighbours are merged (count-weighted mean).

Why not the aws-embedded-metrics library: it keeps every observation and writes them as
plain arrays (a busy interval would be thousands of values, split over many documents),
it has no per-interval aggregation, and it asks the ECS metadata endpoint for dimensions
we do not want. What we need is one small document per interval; this module writes it.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import itertools
import math
import operator
import socket
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import orjson

from model_server.config import Config, emf_socket
from model_server.model import Array

MAX_VALUES = 100  # values per metric in one EMF document
GRID_STEP = 0.02  # latencies rounded to a grid 2 % apart: p99 within 1 %
LOG_SCALE = 1 / math.log1p(GRID_STEP)
DIMENSIONS = [["Service"], ["Service", "Model", "Version"]]  # Service alone: alarms survive a new model version
SOCKET_TIMEOUT_S = 1.0
VALUES_COUNTS, PLAIN_VALUES = "values_counts", "values"  # EMF_DISTRIBUTION: how a distribution is written


class Distribution:
    """How often each value occurred in the interval."""

    __slots__ = ("counts",)

    def __init__(self) -> None:
        self.counts: dict[float, int] = {}

    def add(self, value: float) -> None:
        self.counts[value] = self.counts.get(value, 0) + 1

    def value(self, key: float) -> float:
        return key

    def rounded(self, value: float) -> float:
        return round(value, 4)

    def written(self, form: str) -> dict[str, list[float]] | list[float] | None:
        """The distribution as EMF_DISTRIBUTION says: :meth:`encode` or :meth:`plain`."""
        return self.plain() if form == PLAIN_VALUES else self.encode()

    def plain(self, limit: int = MAX_VALUES) -> list[float] | None:
        """At most ``limit`` plain observations (:func:`spread`); None when nothing was observed."""
        if not self.counts:
            return None
        keys = sorted(self.counts)
        values = [self.value(k) for k in keys]
        return [self.rounded(v) for v in spread(values, [self.counts[k] for k in keys], limit)]

    def encode(self, limit: int = MAX_VALUES) -> dict[str, list[float]] | None:
        """``{"Values", "Counts"}`` with at most ``limit`` values (neighbours merged,
        count-weighted); None when nothing was observed."""
        if not self.counts:
            return None
        keys = sorted(self.counts)  # a value grows with its key
        counts: list[float] = [self.counts[k] for k in keys]
        values = [self.value(k) for k in keys]
        if len(keys) > limit:
            size = math.ceil(len(keys) / limit)
            groups = [(values[i : i + size], counts[i : i + size]) for i in range(0, len(keys), size)]
            counts = [sum(c) for _, c in groups]
            values = [sum(map(operator.mul, v, c)) / n for (v, c), n in zip(groups, counts, strict=True)]
        return {"Values": [self.rounded(v) for v in values], "Counts": counts}


def spread(values: Sequence[float], counts: Sequence[float], limit: int) -> list[float]:
    """Plain observations for the ``values`` form: each value as often as it occurred when
    they are at most ``limit`` in all, else ``limit`` evenly spaced quantiles (percentiles
    hold; the sample count and sum are the quantiles', not the interval's)."""
    total = sum(counts)
    if total <= limit:
        return [v for v, n in zip(values, counts, strict=True) for _ in range(int(n))]
    edges = list(itertools.accumulate(counts))
    return [values[bisect.bisect_right(edges, (i + 0.5) * total / limit)] for i in range(limit)]


class Latencies(Distribution):
    """Times in seconds, kept as milliseconds on a logarithmic grid ``GRID_STEP`` apart:
    close latencies share a key, so an interval of any load has a few dozen keys."""

    __slots__ = ()

    def add(self, value: float) -> None:
        key = round(math.log(value * 1000) * LOG_SCALE) if value > 0 else -(10**9)
        self.counts[key] = self.counts.get(key, 0) + 1

    def value(self, key: float) -> float:
        return math.exp(key / LOG_SCALE)


class Values(Distribution):
    """Any finite numbers (a regressor's predictions) on a signed logarithmic grid
    ``GRID_STEP`` apart (each within 1 %); magnitudes below ``TINY`` count as 0. Keys grow
    with the values: 0 for zero, ``+-(OFFSET + step)`` for positive and negative values."""

    __slots__ = ()
    TINY = 1e-12
    OFFSET = 2000  # above -log(TINY) in steps: every nonzero key is away from 0

    def add_many(self, values: Array) -> None:
        finite = values[np.isfinite(values)]
        big = np.abs(finite) >= self.TINY
        steps = np.zeros(finite.shape, dtype=np.int64)
        steps[big] = np.rint(np.log(np.abs(finite[big])) * LOG_SCALE).astype(np.int64) + self.OFFSET
        counts = self.counts
        for key in (np.sign(finite).astype(np.int64) * steps).tolist():
            counts[key] = counts.get(key, 0) + 1

    def value(self, key: float) -> float:
        return 0.0 if key == 0 else math.copysign(math.exp((abs(key) - self.OFFSET) / LOG_SCALE), key)

    def rounded(self, value: float) -> float:
        return float(f"{value:.6g}")


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
