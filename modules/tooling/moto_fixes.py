"""``python -m modules.tooling.moto_fixes <moto.server args>``: moto's server with Kinesis
resharding made to behave like AWS (used by :class:`MotoServer` with ``kinesis_resharding=True``).

moto 5.2.5 gets resharding wrong in two ways that a stream reader cannot tell apart from
data loss or duplication:

- writes go to the *first* shard whose hash range holds the key, closed or not, so after a
  split every new record still lands in the closed parent and the children stay empty
  (AWS writes only to open shards);
- SplitShard moves the parent's records into the children under new sequence numbers, so a
  record read from the parent before the split comes back from a child (AWS keeps them in
  the parent, readable until retention ends).
"""

from __future__ import annotations

import sys
from typing import Any

from moto.kinesis import models


def apply() -> None:
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

    original_route, original_split = models.Stream.get_shard_for_key, models.Stream.split_shard
    models.Stream.get_shard_for_key = get_shard_for_key  # type: ignore[method-assign]
    models.Stream.split_shard = split_shard  # type: ignore[method-assign]


if __name__ == "__main__":
    apply()
    from moto.server import main

    main(sys.argv[1:])
    sys.exit(0)
