"""The server's Prometheus metrics (prometheus-client, in a registry of their own), and
the open window of the same counts for CloudWatch (model_server.emf)."""

from __future__ import annotations

import time

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, disable_created_metrics, generate_latest

from model_server.emf import Window

# Seconds; fine below 10 ms, where a healthy inference lands.
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

disable_created_metrics()  # type: ignore[no-untyped-call]  # no *_created series: one line per counter, as before


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "model_requests", "HTTP requests by route and status code.", ["route", "code"], registry=r
        )
        self.duration = Histogram(
            "model_infer_duration_seconds", "Time to answer an infer call.", buckets=BUCKETS, registry=r
        )
        self.rows = Counter("model_inferred_rows", "Rows inferred.", registry=r)
        self.rejected = Counter(
            "model_rejected", "Infer calls refused with 503 because the in-flight limit was reached.", registry=r
        )
        self.unauthorized = Counter(
            "model_unauthorized", "Requests refused with 401: no valid bearer token (public exposure).", registry=r
        )
        self.in_flight = Gauge("model_in_flight", "Infer calls being served now.", registry=r)
        self.draining = Gauge("model_draining", "1 after SIGTERM.", registry=r)
        self.golden_set_failed = Gauge(
            "model_golden_set_failed", "1 when the model answered its golden set wrong: never ready.", registry=r
        )
        self.batch_requests = Histogram(
            "model_batch_requests", "Requests per onnxruntime call.", buckets=(1, 2, 4, 8, 16, 32, 64, 128), registry=r
        )
        self.batch_rows = Histogram(
            "model_batch_rows", "Rows per onnxruntime call.", buckets=(1, 8, 32, 128, 512, 2048, 8192), registry=r
        )
        Gauge("model_start_time_seconds", "Process start, Unix time.", registry=r).set_to_current_time()
        # Counted whether EMF is on or not: a few additions per request, no branch to keep right.
        self.window = Window(time.perf_counter())
        self._answered: dict[tuple[str, int], Counter] = {}

    def answered(self, route: str, code: int) -> Counter:
        """The request counter of ``route`` and ``code``, looked up once: ``labels()`` takes a
        lock and builds its key on every call, per request."""
        child = self._answered.get((route, code))
        if child is None:
            child = self._answered[(route, code)] = self.requests.labels(route, str(code))
        return child

    def observe_batch(self, requests: int, rows: int) -> None:
        self.batch_requests.observe(requests)
        self.batch_rows.observe(rows)
        self.window.observe_batch(requests, rows)

    def render(self) -> bytes:
        return generate_latest(self.registry)
