"""Retries replay, never re-execute: the emulator answers a retried SDK call with the response
its first attempt got.

Every AWS SDK (botocore, aws-sdk-go v1 and v2, the CLI) stamps each logical call with an
``amz-sdk-invocation-id`` header, a UUID kept for every attempt of that call, and an
``amz-sdk-request: attempt=N; max=M`` header that counts the attempts. A retry is therefore
recognisable on the wire.

moto's server (werkzeug) closes the connection after every response. Under load the
Terraform provider's Go SDK sometimes reads a response on a connection that is already
closing, takes that as a transport error and sends the call again. moto then executes the
call a second time: a delete that had succeeded answers "not found" (``DeleteDashboards``
404 after 200, ``DeleteLaunchTemplate``), a create answers "already exists", and the apply
fails although every call did what was asked.

AWS does not fail that way: its mutating APIs are idempotent for a retried call (client
tokens, idempotent deletes, and the SDK retrying only what the service lets it retry), so a
retry of a call that already took effect reports the effect. Replaying the recorded response
gives the SDK exactly that answer, without pretending a second call happened. A retry whose
first attempt never completed (no recorded response), or failed with a 5xx, runs for real:
then the first attempt either did not reach moto or told the SDK to try again.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

# Reads are safe to run again and their bodies (S3 objects) can be large: they are never kept.
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
ATTEMPT = re.compile(r"(?:^|;)\s*attempt=(\d+)")
REPLAYED = "retry_replay.replayed"  # set in the WSGI environ of a replayed call
WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


@dataclass(frozen=True)
class Recorded:
    status: str
    headers: list[tuple[str, str]]
    body: bytes


def attempt_number(header: str) -> int:
    """The N of ``attempt=N; max=M`` (1 when the header is absent or malformed)."""
    match = ATTEMPT.search(header or "")
    return int(match.group(1)) if match else 1


class RetryReplay:
    """Records the response to each invocation id of a mutating call (a bounded LRU of
    ``max_entries`` responses of at most ``max_body_bytes``) and answers a later attempt of a
    recorded id with it instead of calling the app. ``wsgi(app)`` wraps a WSGI app; ``around``
    wraps moto's dispatcher method.

    Serve it behind a lock that holds for the whole call (``moto_fixes.one_at_a_time``): a
    retry that arrives while its first attempt still runs then waits for that attempt's
    response and replays it."""

    def __init__(self, max_entries: int = 4096, max_body_bytes: int = 1 << 20) -> None:
        self.max_entries = max_entries
        self.max_body_bytes = max_body_bytes
        self.recorded: OrderedDict[str, Recorded] = OrderedDict()
        self._lock = threading.Lock()

    def serve(self, app: WsgiApp, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        invocation = environ.get("HTTP_AMZ_SDK_INVOCATION_ID", "")
        if not invocation or environ.get("REQUEST_METHOD", "") in READ_METHODS:
            return app(environ, start_response)
        key = f"{environ.get('REQUEST_METHOD')} {environ.get('PATH_INFO', '')} {invocation}"
        if attempt_number(environ.get("HTTP_AMZ_SDK_REQUEST", "")) > 1:
            with self._lock:
                hit = self.recorded.get(key)
                if hit is not None:
                    self.recorded.move_to_end(key)
            if hit is not None:
                environ[REPLAYED] = True  # for the call log
                start_response(hit.status, [*hit.headers, ("x-emulator-replayed", "true")])
                return [hit.body]
        captured: list[Any] = []

        def capture(status: str, headers: list[tuple[str, str]], *exc_info: Any) -> Any:
            captured[:] = [status, list(headers)]
            return start_response(status, headers, *exc_info)

        result = app(environ, capture)
        try:
            body = b"".join(result)
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()
        if captured and not captured[0].startswith("5") and len(body) <= self.max_body_bytes:
            with self._lock:
                self.recorded[key] = Recorded(captured[0], captured[1], body)
                self.recorded.move_to_end(key)
                while len(self.recorded) > self.max_entries:
                    self.recorded.popitem(last=False)
        return [body]

    def wsgi(self, app: WsgiApp) -> WsgiApp:
        return lambda environ, start_response: self.serve(app, environ, start_response)

    def around(self, call: Callable[..., Iterable[bytes]]) -> Callable[..., Iterable[bytes]]:
        """``call`` (moto's WSGI dispatcher method, ``(app, environ, start_response)``) with
        retries replayed."""

        def replaying(app: Any, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
            return self.serve(lambda env, sr: call(app, env, sr), environ, start_response)

        return replaying
