"""Retrying AWS calls the service throttles: full-jitter exponential backoff, forever.

Throttling is the one error the worker waits out; every other error is the caller's to
handle (a round that fails is tried again at the next poll).
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from typing import Any, TypeVar

from botocore.exceptions import ClientError

log = logging.getLogger("stream_worker")
T = TypeVar("T")

THROTTLING = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "LimitExceededException",
        "ThrottlingException",
        "Throttling",
        "RequestLimitExceeded",
        "SlowDown",
        "RequestThrottled",
        "KMSThrottlingException",
        "TooManyRequestsException",
        "ConditionalRequestConflict",  # S3: a concurrent conditional write to the key in flight
    }
)


def backoff_delays(cap_s: float, base_s: float = 0.1, rng: random.Random | None = None) -> Any:
    """Full-jitter exponential backoff: uniform(0, min(cap, base * 2**n)), forever."""
    rnd = rng or random.Random()
    attempt = 0
    while True:
        yield rnd.uniform(0, min(cap_s, base_s * 2**attempt))
        attempt = min(attempt + 1, 30)


def with_backoff(
    call: Callable[..., T], cap_s: float, /, sleep: Callable[[float], None] = time.sleep, **kwargs: Any
) -> T:
    """``call(**kwargs)``, retried with jittered backoff while AWS says it is throttling us."""
    delays = backoff_delays(cap_s)
    while True:
        try:
            return call(**kwargs)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code not in THROTTLING:
                raise
            delay = next(delays)
            log.warning("throttled (%s); retrying in %.2fs", code, delay)
            sleep(delay)
