"""Retries replay, never re-execute (tools/harness/retry_replay.py): an SDK retry of a call
the emulator already ran gets the first attempt's response, as an idempotent AWS API
answers it, instead of a second execution that fails ("already exists", "not found")."""

from __future__ import annotations

import http.client
import socket
import urllib.parse
import uuid
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pytest

from tools.deploy.round_trip import aws_client, emulator_settings
from tools.harness.moto_server import MotoServer
from tools.harness.retry_replay import RetryReplay, attempt_number


class CountingApp:
    """A WSGI app that counts its calls and answers with the call number."""

    def __init__(self, status: str = "200 OK") -> None:
        self.calls = 0
        self.status = status

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        self.calls += 1
        start_response(self.status, [("Content-Type", "text/plain")])
        return [f"call {self.calls}".encode()]


def call(app: Callable[..., Iterable[bytes]], invocation: str, attempt: int, method: str = "POST") -> tuple[str, bytes]:
    environ = {
        "REQUEST_METHOD": method,
        "PATH_INFO": "/",
        "HTTP_AMZ_SDK_INVOCATION_ID": invocation,
        "HTTP_AMZ_SDK_REQUEST": f"attempt={attempt}; max=3",
    }
    status: list[str] = []
    body = b"".join(app(environ, lambda s, h, *e: status.append(s)))
    return status[0], body


@pytest.mark.parametrize(
    ("header", "attempt"), [("attempt=2; max=3", 2), ("ttl=x; attempt=11; max=25", 11), ("", 1), ("junk", 1)]
)
def test_attempt_number_reads_the_sdk_request_header(header: str, attempt: int) -> None:
    assert attempt_number(header) == attempt


def test_a_retry_of_a_recorded_call_is_answered_without_running_it_again() -> None:
    app = CountingApp()
    replay = RetryReplay().wsgi(app)
    assert call(replay, "a", 1) == ("200 OK", b"call 1")
    assert call(replay, "a", 2) == ("200 OK", b"call 1"), "attempt 2 gets attempt 1's response"
    assert call(replay, "a", 3) == ("200 OK", b"call 1")
    assert app.calls == 1
    assert call(replay, "b", 1) == ("200 OK", b"call 2"), "another invocation runs"


def test_what_is_not_replayed_runs_again() -> None:
    app = CountingApp()
    replay = RetryReplay().wsgi(app)
    call(replay, "read", 1, method="GET")
    call(replay, "read", 2, method="GET")
    assert app.calls == 2, "reads are safe to repeat and are never kept"
    call(replay, "new", 2)
    assert app.calls == 3, "a retry whose first attempt never arrived runs"
    failing = CountingApp("500 Internal Server Error")
    replay = RetryReplay().wsgi(failing)
    call(replay, "c", 1)
    call(replay, "c", 2)
    assert failing.calls == 2, "a 5xx asked the SDK to try again: the retry runs"


def test_recorded_responses_are_bounded() -> None:
    app = CountingApp()
    store = RetryReplay(max_entries=2)
    replay = store.wsgi(app)
    for invocation in ("a", "b", "c"):
        call(replay, invocation, 1)
    assert len(store.recorded) == 2
    call(replay, "a", 2)
    assert app.calls == 4, "the oldest record was dropped, so its retry runs"


# --- on the emulator itself ------------------------------------------------------------


def create_group_request(name: str, invocation: str, attempt: int) -> tuple[bytes, dict[str, str]]:
    body = urllib.parse.urlencode(
        {"Action": "CreateSecurityGroup", "Version": "2016-11-15", "GroupName": name, "GroupDescription": "replay"}
    ).encode()
    headers = {
        "Content-Type": "application/x-www-form-urlencoded; charset=utf-8",
        "Authorization": "AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/ec2/aws4_request, "
        "SignedHeaders=host, Signature=0",
        "amz-sdk-invocation-id": invocation,
        "amz-sdk-request": f"attempt={attempt}; max=3",
    }
    return body, headers


def post(moto: MotoServer, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", moto.port, timeout=30)
    try:
        conn.request("POST", "/", body=body, headers=headers)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def groups_named(moto: MotoServer, name: str) -> list[dict[str, Any]]:
    ec2 = aws_client("ec2", emulator_settings(moto.endpoint, environ={}))
    return list(ec2.describe_security_groups(Filters=[{"Name": "group-name", "Values": [name]}])["SecurityGroups"])


@pytest.mark.slow
def test_a_create_retried_with_its_invocation_id_gets_the_first_response_and_exists_once(moto: MotoServer) -> None:
    name, invocation = f"g-{uuid.uuid4().hex[:8]}", str(uuid.uuid4())
    first = post(moto, *create_group_request(name, invocation, 1))
    second = post(moto, *create_group_request(name, invocation, 2))
    assert first[0] == 200, first
    assert second == first, "attempt 2 is answered with attempt 1's response"
    assert len(groups_named(moto, name)) == 1
    # Without the same invocation id it is a second call, and moto refuses it as AWS would.
    status, body = post(moto, *create_group_request(name, str(uuid.uuid4()), 1))
    assert status == 400 and b"InvalidGroup.Duplicate" in body


@pytest.mark.slow
def test_a_retry_after_the_client_dropped_the_connection_unread_succeeds(moto: MotoServer) -> None:
    """The failure the provider hit: the first attempt ran, its response was never read."""
    name, invocation = f"g-{uuid.uuid4().hex[:8]}", str(uuid.uuid4())
    body, headers = create_group_request(name, invocation, 1)
    head = "".join(f"{k}: {v}\r\n" for k, v in {**headers, "Content-Length": str(len(body))}.items())
    with socket.create_connection(("127.0.0.1", moto.port), timeout=30) as sock:
        sock.sendall(f"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\n{head}\r\n".encode() + body)
        sock.shutdown(socket.SHUT_WR)  # gone before the response: nothing of it is read
    status, answer = post(moto, *create_group_request(name, invocation, 2))
    assert status == 200, answer
    groups = groups_named(moto, name)
    assert len(groups) == 1
    assert groups[0]["GroupId"].encode() in answer


def test_moto_log_marks_replayed_calls(tmp_path: Path) -> None:
    from tests.conftest import refused_emulator_calls

    (tmp_path / "moto.log").write_text(
        "api :1 POST CreateSecurityGroup 200 3ms\napi :2 POST CreateSecurityGroup 200 0ms replayed\n"
        "api :3 POST DeleteLaunchTemplate 400 2ms\n"
    )
    assert [line.split()[-3] for line in refused_emulator_calls(tmp_path)] == ["DeleteLaunchTemplate"]
