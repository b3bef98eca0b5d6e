"""Shard leases in DynamoDB, every write conditional.

One item per shard (``lease_key`` = shard id): ``owner`` ("" = free), ``counter`` (bumped by
every owner write, so two workers racing for one lease cannot both win), ``expiry`` (epoch
seconds; the owner renews it), ``checkpoint`` (last sequence number whose results are
durable, ``SHARD_END`` when the shard is finished, absent = trim horizon), ``snapshot`` (the
sequence number of the last analytics-state snapshot in S3, :mod:`snapshots`; the state at
the checkpoint is that snapshot plus the records after it), ``parents`` (a child starts only
after they finish) and ``pending_owner`` (a worker below its fair share asks the owner to hand the lease over; the
owner does so between batches, after its checkpoint, so two workers never hold one shard).

One item per live worker (``lease_key`` = ``worker#<id>``) with an ``expiry``: the number of
live workers sets each one's fair share. Every worker scans the whole table every round, and
a scan is billed by the bytes of every item it reads: so the items hold only what balancing
needs, a hundred bytes or so, never the analytics state (which can reach hundreds of KB).
Items written before that carry a ``state`` attribute: it is read as the snapshot at the
checkpoint, and removed at the next checkpoint. Expiry compares wall clocks across hosts; EC2
instances keep them within milliseconds (Amazon Time Sync), far below any sensible TTL.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

SHARD_END = "SHARD_END"
WORKER_PREFIX = "worker#"


@dataclass
class Lease:
    shard_id: str
    owner: str = ""
    counter: int = 0
    expiry: float = 0.0
    checkpoint: str | None = None
    snapshot: str | None = None
    state: str | None = None  # the analytics state at the checkpoint, once the holder has it
    parents: list[str] = field(default_factory=list)
    pending_owner: str = ""
    renewed_at: float = 0.0  # time.monotonic() of our last successful write, when we own it

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> Lease:
        return cls(
            shard_id=item["lease_key"]["S"],
            owner=item.get("owner", {}).get("S", ""),
            counter=int(item.get("counter", {}).get("N", "0")),
            expiry=float(item.get("expiry", {}).get("N", "0")),
            checkpoint=item.get("checkpoint", {}).get("S"),
            snapshot=item.get("snapshot", {}).get("S"),
            state=item.get("state", {}).get("S"),  # only in items written before snapshots
            parents=[p["S"] for p in item.get("parents", {}).get("L", [])],
            pending_owner=item.get("pending_owner", {}).get("S", ""),
        )

    @property
    def finished(self) -> bool:
        return self.checkpoint == SHARD_END

    def expired(self, now: float) -> bool:
        return self.owner != "" and self.expiry < now


def is_conditional_failure(exc: ClientError) -> bool:
    return bool(exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException")


class LeaseTable:
    def __init__(
        self,
        client: Any,
        table: str,
        worker_id: str,
        ttl_s: float,
        on_superseded: Callable[[str, str], None] | None = None,
    ) -> None:
        """``on_superseded(shard_id, sequence_number)``: called once a write of ours has moved a
        lease's ``snapshot`` away from that one, which no lease then points at."""
        self.ddb = client
        self.table = table
        self.me = worker_id
        self.ttl_s = ttl_s
        self.on_superseded = on_superseded
        self.registered_until = 0.0

    def ensure(self, shard_id: str, parents: list[str]) -> None:
        """Create the shard's lease unless it exists (free, at the trim horizon)."""
        try:
            self.ddb.put_item(
                TableName=self.table,
                Item={
                    "lease_key": {"S": shard_id},
                    "owner": {"S": ""},
                    "counter": {"N": "0"},
                    "expiry": {"N": "0"},
                    "parents": {"L": [{"S": p} for p in parents]},
                },
                ConditionExpression="attribute_not_exists(lease_key)",
            )
        except ClientError as exc:
            if not is_conditional_failure(exc):
                raise

    def scan(self) -> tuple[dict[str, Lease], dict[str, float]]:
        """Every shard lease, and every registered worker with its expiry."""
        leases: dict[str, Lease] = {}
        workers: dict[str, float] = {}
        kwargs: dict[str, Any] = {"TableName": self.table, "ConsistentRead": True}
        while True:
            page = self.ddb.scan(**kwargs)
            for item in page.get("Items", []):
                key = item["lease_key"]["S"]
                if key.startswith(WORKER_PREFIX):
                    workers[key.removeprefix(WORKER_PREFIX)] = float(item["expiry"]["N"])
                else:
                    leases[key] = Lease.from_item(item)
            if "LastEvaluatedKey" not in page:
                return leases, workers
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def register(self) -> None:
        """Say we are live for another TTL; a write only every third of a TTL (a write per
        round cost more than all the checkpoints of a quiet stream)."""
        if time.monotonic() < self.registered_until:
            return
        self.ddb.put_item(
            TableName=self.table,
            Item={"lease_key": {"S": WORKER_PREFIX + self.me}, "expiry": {"N": repr(time.time() + self.ttl_s)}},
        )
        self.registered_until = time.monotonic() + self.ttl_s / 3

    def deregister(self) -> None:
        self.ddb.delete_item(TableName=self.table, Key={"lease_key": {"S": WORKER_PREFIX + self.me}})

    def _write(self, lease: Lease, sets: dict[str, dict[str, Any]], condition: str, remove: str = "") -> bool:
        """Conditional update bumping the counter; updates ``lease`` from the new item."""
        names = {f"#{k}": k for k in sets} | {"#counter": "counter", "#owner": "owner"}
        if "#state" in remove:
            names["#state"] = "state"  # a reserved word in DynamoDB expressions
        values = {f":{k}": v for k, v in sets.items()} | {":one": {"N": "1"}, ":c": {"N": str(lease.counter)}}
        if ":me" in condition:
            values[":me"] = {"S": self.me}
        if ":old" in condition:
            values[":old"] = {"S": lease.owner}
        expression = "SET " + ", ".join(f"#{k} = :{k}" for k in sets) + ", #counter = #counter + :one"
        if remove:
            expression += f" REMOVE {remove}"
        try:
            out = self.ddb.update_item(
                TableName=self.table,
                Key={"lease_key": {"S": lease.shard_id}},
                UpdateExpression=expression,
                ConditionExpression=condition,
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
                ReturnValues="ALL_NEW",
            )
        except ClientError as exc:
            if is_conditional_failure(exc):
                return False
            raise
        fresh = Lease.from_item(out["Attributes"])
        fresh.renewed_at = time.monotonic()
        if self.on_superseded is not None and lease.snapshot is not None and fresh.snapshot != lease.snapshot:
            self.on_superseded(lease.shard_id, lease.snapshot)
        if fresh.checkpoint == lease.checkpoint and lease.state is not None:
            fresh.state = lease.state  # the item does not carry it: what we hold still holds
        lease.__dict__.update(fresh.__dict__)
        return True

    def _expiry(self) -> dict[str, Any]:
        return {"N": repr(time.time() + self.ttl_s)}

    def take(self, lease: Lease) -> bool:
        """Take a lease seen free or expired (unchanged since: same counter)."""
        return self._write(
            lease,
            {"owner": {"S": self.me}, "expiry": self._expiry()},
            "#counter = :c AND #owner = :old",
            remove="pending_owner",
        )

    def renew(self, lease: Lease) -> bool:
        return self._write(lease, {"expiry": self._expiry()}, "#owner = :me AND #counter = :c")

    def checkpoint(self, lease: Lease, sequence_number: str, state: str, snapshot: str | None = None) -> bool:
        """Record progress (and renew); ``state`` is the analytics state there, kept in
        memory, and ``snapshot`` the sequence number of a snapshot of it just saved. False if
        the lease is no longer ours."""
        sets = {"expiry": self._expiry(), "checkpoint": {"S": sequence_number}}
        if snapshot is not None:
            sets["snapshot"] = {"S": snapshot}
        if not self._write(lease, sets, "#owner = :me AND #counter = :c", remove="#state"):
            return False
        lease.state = state
        return True

    def release(self, lease: Lease, to: str = "", snapshot: str | None = None) -> bool:
        """Give the lease up (free, or straight to ``to``); its checkpoint stays."""
        sets = {"owner": {"S": to}, "expiry": self._expiry() if to else {"N": "0"}}
        if snapshot is not None:
            sets["snapshot"] = {"S": snapshot}
        return self._write(lease, sets, "#owner = :me AND #counter = :c", remove="pending_owner")

    def request_handoff(self, lease: Lease) -> bool:
        """Ask the owner for the lease. No counter bump: the owner's writes must not fail."""
        try:
            self.ddb.update_item(
                TableName=self.table,
                Key={"lease_key": {"S": lease.shard_id}},
                UpdateExpression="SET pending_owner = :me",
                ConditionExpression="#owner = :old AND attribute_not_exists(pending_owner)",
                ExpressionAttributeNames={"#owner": "owner"},
                ExpressionAttributeValues={":me": {"S": self.me}, ":old": {"S": lease.owner}},
            )
        except ClientError as exc:
            if is_conditional_failure(exc):
                return False
            raise
        return True
