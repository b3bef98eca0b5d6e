"""Spot interruption and rebalance notices from the instance metadata service (IMDSv2).

``spot/instance-action`` appears about two minutes before a Spot Instance is stopped or
terminated; ``events/recommendations/rebalance`` earlier, when its capacity pool is at
elevated risk. Both answer 404 until then. Every call carries a session token (IMDSv2: the
launch template requires it, hop limit 1).
"""

from __future__ import annotations

import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable

NOTICE_PATHS = ("spot/instance-action", "events/recommendations/rebalance")
TOKEN_TTL_S = 300


class Imds:
    def __init__(self, endpoint: str, timeout_s: float = 1.0) -> None:
        self.endpoint = endpoint
        self.timeout_s = timeout_s
        self._token = ""
        self._token_until = 0.0

    def _get_token(self) -> str:
        if time.monotonic() >= self._token_until:
            request = urllib.request.Request(
                f"{self.endpoint}/latest/api/token",
                method="PUT",
                headers={"X-aws-ec2-metadata-token-ttl-seconds": str(TOKEN_TTL_S)},
            )
            with urllib.request.urlopen(request, timeout=self.timeout_s) as resp:
                self._token = resp.read().decode()
            self._token_until = time.monotonic() + TOKEN_TTL_S - 30
        return self._token

    def notice(self) -> str | None:
        """``"<path>: <body>"`` of the first notice present, else None."""
        for path in NOTICE_PATHS:
            request = urllib.request.Request(
                f"{self.endpoint}/latest/meta-data/{path}", headers={"X-aws-ec2-metadata-token": self._get_token()}
            )
            try:
                with urllib.request.urlopen(request, timeout=self.timeout_s) as resp:
                    return f"{path}: {resp.read().decode(errors='replace')[:500]}"
            except urllib.error.HTTPError as exc:
                if exc.code == 401:  # token expired early (e.g. IMDS restarted): fetch a new one next time
                    self._token_until = 0.0
                elif exc.code != 404:
                    raise
        return None


def watch(
    imds: Imds,
    interval_s: float,
    stop: threading.Event,
    on_notice: Callable[[str], None],
    on_error: Callable[[Exception], None],
) -> threading.Thread:
    """Poll in a daemon thread until ``stop`` is set or a notice arrives."""

    def loop() -> None:
        while not stop.is_set():
            try:
                found = imds.notice()
            except (OSError, urllib.error.URLError) as exc:
                on_error(exc)
            else:
                if found:
                    on_notice(found)
                    return
            stop.wait(interval_s)

    thread = threading.Thread(target=loop, name="imds", daemon=True)
    thread.start()
    return thread
