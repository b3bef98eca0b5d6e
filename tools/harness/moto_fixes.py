"""``python -m tools.harness.moto_fixes <moto.server args>``: moto's server with the few
behaviours the project depends on made to match AWS. :class:`MotoServer` always runs it.

moto 5.2.5 gets these wrong in ways a deployed stack cannot work around:

- **Bucket-policy conditions.** moto evaluates a bucket policy on object requests as if
  its ``Condition`` blocks were absent (operators other than ``StringEquals`` are ignored,
  and a statement whose condition fails is treated as a Deny whatever its effect). The
  TLS-only statements every bucket here carries (``Bool aws:SecureTransport false``,
  ``NumericLessThan s3:TlsVersion 1.2``) therefore refuse every call: a stack's state, its
  artifacts and its data become unreadable. The fix evaluates conditions the way AWS does
  (a statement applies only when all its conditions hold; a key the request does not carry
  makes a condition false) against the context of an SDK call to AWS's HTTPS endpoint,
  which the emulator stands in for: :data:`REQUEST_CONTEXT`. Operators it does not know
  keep moto's behaviour (the condition is ignored).
- **Deleting a version once versioning is suspended.** moto then ignores the version id
  and drops the key's whole history, crashing (HTTP 500) when it holds a delete marker.
  Terraform destroys a bucket's versioning configuration before the bucket, so emptying
  any versioned bucket that ever had an object deleted (the state bucket: every lock
  file) failed. The fix deletes just that version, as AWS does.
- **Kinesis resharding.** Writes go to the *first* shard whose hash range holds the key,
  closed or not, so after a split every new record still lands in the closed parent and
  the children stay empty (AWS writes only to open shards); and SplitShard moves the
  parent's records into the children under new sequence numbers, so a record read from
  the parent before the split comes back from a child (AWS keeps them in the parent,
  readable until retention ends). MergeShards copies both parents' records into the child
  likewise. A stream reader cannot tell either from data loss or duplication.
- **Concurrent requests.** moto's server runs each request on its own thread, but its
  in-memory backends are not thread-safe: a call that iterates a backend's dicts while
  another thread adds to them fails with ``RuntimeError: dictionary changed size during
  iteration`` and an HTTP 500 (109 of 600 calls with 10 client threads creating tagged
  security groups and rules: ``tests/test_moto_fixes.py``). The SDKs retry a 500; when the
  first attempt had already changed the backend, the retry fails in a way AWS never would:
  ``InvalidPermission.Duplicate`` on a rule Terraform created once, a not-found on a delete
  (both seen in round trips, where Terraform makes 10 calls at once). Each AWS API call is
  atomic, so the fix serves one call at a time (:func:`one_at_a_time`). Terraform's
  parallel calls mostly wait on the provider's own polling, so round trips take as long.
- **Retried calls.** werkzeug closes every connection; under load the provider's Go SDK
  sometimes reads a response on a closing connection and sends the call again, and moto
  runs it twice (a delete then answers "not found", a create "already exists"). A retry
  (same ``amz-sdk-invocation-id``, ``attempt>=2``) gets its first attempt's recorded
  response instead: :mod:`tools.harness.retry_replay`.

Every call is also logged to stderr with its action and status (:func:`api_call_log`), so a
failed apply can be traced to the call behind it.
"""

from __future__ import annotations

import copy
import io
import json
import sys
import threading
import time
import urllib.parse
from collections.abc import Callable, Mapping
from typing import Any

from moto.kinesis import models as kinesis_models
from moto.s3 import models as s3_models

from tools.harness.retry_replay import REPLAYED, RetryReplay

# What a request to AWS through an SDK carries: HTTPS, TLS 1.3.
REQUEST_CONTEXT: Mapping[str, str] = {"aws:SecureTransport": "true", "s3:TlsVersion": "1.3"}


def _numeric(compare: Callable[[float, float], bool]) -> Callable[[str, str], bool]:
    def check(actual: str, expected: str) -> bool:
        try:
            return compare(float(actual), float(expected))
        except ValueError:
            return False

    return check


OPERATORS: Mapping[str, Callable[[str, str], bool]] = {
    "Bool": lambda actual, expected: actual.lower() == str(expected).lower(),
    "StringEquals": lambda actual, expected: actual == expected,
    "StringNotEquals": lambda actual, expected: actual != expected,
    "NumericEquals": _numeric(lambda a, e: a == e),
    "NumericLessThan": _numeric(lambda a, e: a < e),
    "NumericLessThanEquals": _numeric(lambda a, e: a <= e),
    "NumericGreaterThan": _numeric(lambda a, e: a > e),
    "NumericGreaterThanEquals": _numeric(lambda a, e: a >= e),
}


def conditions_hold(conditions: Mapping[str, Mapping[str, Any]], context: Mapping[str, str]) -> bool | None:
    """True/False as AWS would decide for ``context``; None when an operator is unknown."""
    for operator, keys in conditions.items():
        check = OPERATORS.get(operator)
        if check is None:
            return None
        for key, expected in keys.items():
            if key not in context:
                return False
            values = expected if isinstance(expected, list) else [expected]
            negated = operator.startswith("StringNot")
            matches = [check(context[key], str(v)) for v in values]
            if not (all(matches) if negated else any(matches)):
                return False
    return True


def policy_for_request(policy: str, context: Mapping[str, str] = REQUEST_CONTEXT) -> str:
    """``policy`` with each conditioned statement resolved for ``context``: dropped when its
    conditions do not hold, kept without them when they do (moto then judges the rest)."""
    doc = json.loads(policy)
    statements = doc["Statement"] if isinstance(doc["Statement"], list) else [doc["Statement"]]
    kept = []
    for statement in statements:
        if "Condition" not in statement:
            kept.append(statement)
            continue
        holds = conditions_hold(statement["Condition"], context)
        if holds is False:
            continue
        resolved = copy.deepcopy(statement)
        if holds:
            del resolved["Condition"]
        kept.append(resolved)
    return json.dumps({**doc, "Statement": kept})


def api_call_log(call: Callable[..., Any], write: Callable[[str], Any]) -> Callable[..., Any]:
    """``call`` (moto's WSGI dispatcher method) writing one line per API call: the API action (query
    ``Action``, ``X-Amz-Target`` or the REST path), its status and how long it took. Werkzeug's
    own log shows only ``POST /``: this is how a failed apply is traced to the call behind it."""

    def logged(app: Any, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        action = environ.get("HTTP_X_AMZ_TARGET", "")
        length = int(environ.get("CONTENT_LENGTH") or 0)
        if not action and length and "form-urlencoded" in environ.get("CONTENT_TYPE", ""):
            body = environ["wsgi.input"].read(length)
            environ["wsgi.input"] = io.BytesIO(body)
            action = urllib.parse.parse_qs(body.decode(errors="replace")).get("Action", [""])[0]
        status: list[str] = []

        def record(code: str, headers: Any, *exc_info: Any) -> Any:
            status.append(code.split(" ", 1)[0])
            return start_response(code, headers, *exc_info)

        started = time.monotonic()
        outcome = "raised"
        try:
            result = call(app, environ, record)
            outcome = status[0] if status else outcome
            return result
        except Exception as exc:
            outcome = f"raised {type(exc).__name__}"
            raise
        finally:
            ms = (time.monotonic() - started) * 1000
            action = action or environ.get("PATH_INFO", "")
            client = environ.get("REMOTE_PORT")
            replayed = " replayed" if environ.get(REPLAYED) else ""
            write(f"api :{client} {environ['REQUEST_METHOD']} {action} {outcome} {ms:.0f}ms{replayed}\n")

    return logged


def one_at_a_time(call: Callable[..., Any]) -> Callable[..., Any]:
    """``call`` (moto's WSGI dispatcher method) serving one request at a time, its body
    included: moto's backends are not thread-safe (see the module docstring)."""
    lock = threading.Lock()

    def serialized(app: Any, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        with lock:
            body = call(app, environ, start_response)
            try:
                return [b"".join(body)]
            finally:
                close = getattr(body, "close", None)
                if close is not None:
                    close()

    return serialized


def apply() -> None:
    def get_permission(self: Any, action: str, resource: str) -> Any:
        from moto.iam.access_control import IAMPolicy, PermissionResult

        if self.policy is None:
            return PermissionResult.NEUTRAL
        return IAMPolicy(policy_for_request(self.policy.decode())).is_action_permitted(action, resource)

    def delete_object(
        self: Any, bucket_name: str, key_name: str, version_id: str | None = None, bypass: bool = False
    ) -> Any:
        bucket = self.get_bucket(bucket_name)
        suspended = version_id is not None and bucket.versioning_status == "Suspended"
        if suspended:  # moto's versioned path deletes exactly one version
            bucket.versioning_status = "Enabled"
        try:
            return original_delete(self, bucket_name, key_name, version_id, bypass)
        finally:
            if suspended:
                bucket.versioning_status = "Suspended"

    def get_shard_for_key(self: Any, partition_key: str, explicit_hash_key: str) -> Any:
        open_first = {k: s for k, s in self.shards.items() if s.is_open}
        closed, self.shards = self.shards, open_first
        try:
            return original_route(self, partition_key, explicit_hash_key)
        finally:
            self.shards = closed

    def split_shard(self: Any, shard_to_split: str, new_starting_hash_key: str) -> None:
        parent = self.shards[shard_to_split]
        records = parent.records
        self.put_record = lambda *args, **kwargs: None  # the parent keeps its records
        try:
            original_split(self, shard_to_split, new_starting_hash_key)
        finally:
            del self.put_record
        parent.records = records

    def merge_shards(self: Any, shard_to_merge: str, adjacent_shard_to_merge: str) -> None:
        original_merge(self, shard_to_merge, adjacent_shard_to_merge)
        for shard in self.shards.values():  # the child starts empty: its parents keep their records
            if shard.parent == shard_to_merge and shard.adjacent_parent == adjacent_shard_to_merge:
                shard.records = type(shard.records)()

    s3_models.FakeBucket.get_permission = get_permission  # type: ignore[method-assign]
    original_delete = s3_models.S3Backend.delete_object
    s3_models.S3Backend.delete_object = delete_object  # type: ignore[method-assign]
    original_route = kinesis_models.Stream.get_shard_for_key
    original_split = kinesis_models.Stream.split_shard
    kinesis_models.Stream.get_shard_for_key = get_shard_for_key  # type: ignore[method-assign]
    kinesis_models.Stream.split_shard = split_shard  # type: ignore[method-assign]
    original_merge = kinesis_models.Stream.merge_shards
    kinesis_models.Stream.merge_shards = merge_shards  # type: ignore[method-assign]


if __name__ == "__main__":
    apply()
    from moto.moto_server import werkzeug_app

    dispatcher = werkzeug_app.DomainDispatcherApplication
    replay = RetryReplay()
    dispatcher.__call__ = api_call_log(  # type: ignore[method-assign]
        one_at_a_time(replay.around(dispatcher.__call__)), sys.stderr.write
    )
    from moto.server import main

    main(sys.argv[1:])
    sys.exit(0)
