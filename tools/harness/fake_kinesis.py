"""An in-process Kinesis stream with AWS's semantics on the calls the stream worker makes.

Hash-key routing of PutRecords to open shards only; sequence numbers that only grow;
SplitShard and MergeShards that close their parents, which keep their records (readable
until retention ends) while new records go to the children; ListShards with the lineage
(``ParentShardId``, ``AdjacentParentShardId``) and the ending sequence number of closed
shards; GetRecords whose ``NextShardIterator`` is absent once a closed shard is read to its
end. ``tests/test_fake_aws_matches_moto.py`` holds these answers to the emulator's (which
``tools/harness/moto_fixes.py`` makes reshard like AWS).
"""

from __future__ import annotations

import bisect
import hashlib
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from tools.harness.fake_dynamodb import client_error

MAX_HASH = 2**128 - 1


@dataclass
class Shard:
    shard_id: str
    start_hash: int
    end_hash: int
    parent: str | None = None
    adjacent_parent: str | None = None
    sequences: list[int] = field(default_factory=list)
    records: list[dict[str, Any]] = field(default_factory=list)
    arrivals: list[float] = field(default_factory=list)  # time.time() of each put
    first_sequence: int = 0
    ending_sequence: int | None = None  # set when closed

    @property
    def open(self) -> bool:
        return self.ending_sequence is None

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "ShardId": self.shard_id,
            "HashKeyRange": {"StartingHashKey": str(self.start_hash), "EndingHashKey": str(self.end_hash)},
            "SequenceNumberRange": {"StartingSequenceNumber": str(self.first_sequence)},
        }
        if self.parent:
            out["ParentShardId"] = self.parent
        if self.adjacent_parent:
            out["AdjacentParentShardId"] = self.adjacent_parent
        if self.ending_sequence is not None:
            out["SequenceNumberRange"]["EndingSequenceNumber"] = str(self.ending_sequence)
        return out


class FakeStream:
    def __init__(self, name: str, shard_count: int) -> None:
        self.name = name
        self.shards: dict[str, Shard] = {}
        self.lock = threading.Lock()
        self.sequence = 0
        width = (MAX_HASH + 1) // shard_count
        for i in range(shard_count):
            end = MAX_HASH if i == shard_count - 1 else (i + 1) * width - 1
            self._add(i * width, end)

    def _add(self, start: int, end: int, parent: str | None = None, adjacent: str | None = None) -> Shard:
        shard = Shard(
            f"shardId-{len(self.shards):012d}", start, end, parent, adjacent, first_sequence=self.sequence + 1
        )
        self.shards[shard.shard_id] = shard
        return shard

    def _shard(self, shard_id: str, operation: str) -> Shard:
        if shard_id not in self.shards:
            raise client_error("ResourceNotFoundException", f"Shard {shard_id} does not exist", operation)
        return self.shards[shard_id]

    def _close(self, shard: Shard) -> None:
        self.sequence += 1
        shard.ending_sequence = self.sequence

    # --- producers and resharding ------------------------------------------------------

    def put_records(self, kwargs: dict[str, Any]) -> dict[str, Any]:
        out = []
        with self.lock:
            for entry in kwargs["Records"]:
                key = int(entry.get("ExplicitHashKey") or hashlib.md5(entry["PartitionKey"].encode()).hexdigest(), 16)
                shard = next(s for s in self.shards.values() if s.open and s.start_hash <= key <= s.end_hash)
                self.sequence += 1
                shard.sequences.append(self.sequence)
                shard.arrivals.append(time.time())
                shard.records.append({"Data": entry["Data"], "PartitionKey": entry["PartitionKey"]})
                out.append({"ShardId": shard.shard_id, "SequenceNumber": str(self.sequence)})
        return {"FailedRecordCount": 0, "Records": out}

    def split_shard(self, kwargs: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            parent = self._shard(kwargs["ShardToSplit"], "SplitShard")
            middle = int(kwargs["NewStartingHashKey"])
            if not parent.open or not parent.start_hash < middle < parent.end_hash:
                raise client_error("InvalidArgumentException", "cannot split there", "SplitShard")
            self._close(parent)
            self._add(parent.start_hash, middle - 1, parent.shard_id)
            self._add(middle, parent.end_hash, parent.shard_id)
        return {}

    def merge_shards(self, kwargs: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            low = self._shard(kwargs["ShardToMerge"], "MergeShards")
            high = self._shard(kwargs["AdjacentShardToMerge"], "MergeShards")
            if not (low.open and high.open and low.end_hash + 1 == high.start_hash):
                raise client_error("InvalidArgumentException", "shards are not adjacent and open", "MergeShards")
            self._close(low)
            self._close(high)
            self._add(low.start_hash, high.end_hash, low.shard_id, high.shard_id)
        return {}

    # --- readers --------------------------------------------------------------------------

    def list_shards(self, kwargs: dict[str, Any], page_size: int = 1000) -> dict[str, Any]:
        start = int(kwargs.get("NextToken", "0"))
        with self.lock:
            shards = [s.describe() for s in list(self.shards.values())[start : start + page_size]]
            more = start + page_size < len(self.shards)
        return {"Shards": shards} | ({"NextToken": str(start + page_size)} if more else {})

    def get_shard_iterator(self, kwargs: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            shard = self._shard(kwargs["ShardId"], "GetShardIterator")
            kind = kwargs["ShardIteratorType"]
            if kind == "TRIM_HORIZON":
                position = 0
            elif kind in ("AFTER_SEQUENCE_NUMBER", "AT_SEQUENCE_NUMBER"):
                seq = int(kwargs["StartingSequenceNumber"])
                find = bisect.bisect_right if kind == "AFTER_SEQUENCE_NUMBER" else bisect.bisect_left
                position = find(shard.sequences, seq)
            elif kind == "LATEST":
                position = len(shard.sequences)
            else:
                raise client_error("InvalidArgumentException", f"iterator type {kind}", "GetShardIterator")
        return {"ShardIterator": f"{shard.shard_id}|{position}"}

    def get_records(self, kwargs: dict[str, Any]) -> dict[str, Any]:
        shard_id, _, position_text = kwargs["ShardIterator"].partition("|")
        position = int(position_text)
        limit = int(kwargs.get("Limit", 10000))
        with self.lock:
            shard = self._shard(shard_id, "GetRecords")
            end = min(len(shard.sequences), position + limit)
            records = [
                {
                    "SequenceNumber": str(shard.sequences[i]),
                    "ApproximateArrivalTimestamp": shard.arrivals[i],
                    **shard.records[i],
                }
                for i in range(position, end)
            ]
            newest = shard.arrivals[-1] if shard.arrivals else time.time()
            behind = (newest - shard.arrivals[end - 1]) if records else 0.0
            done = not shard.open and end == len(shard.sequences)
        out: dict[str, Any] = {"Records": records, "MillisBehindLatest": int(behind * 1000)}
        if not done:
            out["NextShardIterator"] = f"{shard_id}|{end}"
        return out
