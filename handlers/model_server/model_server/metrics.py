"""Prometheus text exposition of the server's counters (no client library needed).

Used from the server's one event-loop thread only, so there are no locks."""

from __future__ import annotations

import bisect
import time

# Seconds; fine below 10 ms, where a healthy prediction lands.
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class Metrics:
    def __init__(self) -> None:
        self._requests: dict[tuple[str, int], int] = {}
        self._bucket_counts = [0] * (len(BUCKETS) + 1)
        self._sum_s = 0.0
        self._rows = 0
        self._rejected = 0
        self._in_flight = 0
        self._draining = 0
        self._started = time.time()

    def count(self, route: str, status: int) -> None:
        self._requests[(route, status)] = self._requests.get((route, status), 0) + 1

    def observe(self, seconds: float) -> None:
        self._bucket_counts[bisect.bisect_left(BUCKETS, seconds)] += 1
        self._sum_s += seconds

    def add_rows(self, n: int) -> None:
        self._rows += n

    def rejected(self) -> None:
        self._rejected += 1

    def set_in_flight(self, n: int) -> None:
        self._in_flight = n

    def set_draining(self) -> None:
        self._draining = 1

    def render(self) -> str:
        lines = [
            "# HELP model_requests_total HTTP requests by route and status code.",
            "# TYPE model_requests_total counter",
        ]
        for (route, status), n in sorted(self._requests.items()):
            lines.append(f'model_requests_total{{route="{route}",code="{status}"}} {n}')
        lines += [
            "# HELP model_predict_duration_seconds Time to answer a /predict call.",
            "# TYPE model_predict_duration_seconds histogram",
        ]
        cumulative = 0
        for bound, n in zip((*BUCKETS, float("inf")), self._bucket_counts, strict=True):
            cumulative += n
            le = "+Inf" if bound == float("inf") else repr(bound)
            lines.append(f'model_predict_duration_seconds_bucket{{le="{le}"}} {cumulative}')
        lines += [
            f"model_predict_duration_seconds_sum {self._sum_s:.6f}",
            f"model_predict_duration_seconds_count {cumulative}",
            "# HELP model_predicted_rows_total Rows predicted.",
            "# TYPE model_predicted_rows_total counter",
            f"model_predicted_rows_total {self._rows}",
            "# HELP model_rejected_total /predict calls refused with 503 because the in-flight limit was reached.",
            "# TYPE model_rejected_total counter",
            f"model_rejected_total {self._rejected}",
            "# HELP model_in_flight /predict calls being served now.",
            "# TYPE model_in_flight gauge",
            f"model_in_flight {self._in_flight}",
            "# HELP model_draining 1 after SIGTERM.",
            "# TYPE model_draining gauge",
            f"model_draining {self._draining}",
            "# HELP model_start_time_seconds Process start, Unix time.",
            "# TYPE model_start_time_seconds gauge",
            f"model_start_time_seconds {self._started:.0f}",
        ]
        return "\n".join(lines) + "\n"
