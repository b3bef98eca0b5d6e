"""Balancing the leases between the live workers: each takes its fair share.

Every balance scans the lease table once. The worker drops the leases the table says are
no longer its own and adopts those handed to it; hands a lease over (after saving its
state snapshot) when a live worker asked for it; takes free or expired leases up to its
share ``ceil(eligible / live)``; and, still short with nothing free, asks the most loaded
worker for one lease (one request in flight at a time, and only from a worker holding at
least two more than it: the shares converge instead of swinging). A lease is eligible when
its shard is not finished and its parents are (parents before children after a reshard).
"""

from __future__ import annotations

import logging
import math
import time
from typing import TYPE_CHECKING

from . import snapshots
from .leases import Lease

if TYPE_CHECKING:
    from .worker import Worker

log = logging.getLogger("stream_worker")


def balance(w: Worker) -> set[str]:
    """Adopt, hand over, take free or expired leases, or ask for one: the fair share."""
    leases, workers = w.table.scan()
    now = time.time()
    for shard_id, lease in leases.items():  # the table is the truth about who holds what
        if shard_id in w.held and lease.owner != w.cfg.worker_id:
            log.info("lost lease %s to %s", shard_id, lease.owner or "nobody")
            w.drop(shard_id)
        elif lease.owner == w.cfg.worker_id and shard_id not in w.held and w.table.renew(lease):
            log.info("adopted lease %s", shard_id)
            w.held[shard_id] = lease
    for shard_id, held in list(w.held.items()):
        pending = leases[shard_id].pending_owner if shard_id in leases else ""
        if pending and pending != w.cfg.worker_id and workers.get(pending, 0) > now:
            if w.table.release(held, to=pending, snapshot=snapshots.save_at_checkpoint(w, held)):
                log.info("handed lease %s to %s", shard_id, pending)
            w.drop(shard_id)

    finished = {s for s, lease in leases.items() if lease.finished}
    eligible = {
        s: lease
        for s, lease in leases.items()
        if not lease.finished
        and all(p in finished or (p not in leases and p not in w.known_shards) for p in lease.parents)
    }
    dead = {lease.owner for lease in leases.values() if lease.expired(now)}
    live = ({w for w, expiry in workers.items() if expiry > now} - dead) | {w.cfg.worker_id}
    target = math.ceil(len(eligible) / len(live)) if eligible else 0
    mine = [s for s in eligible if s in w.held]
    free = sorted(s for s, lease in eligible.items() if s not in w.held and (not lease.owner or lease.expired(now)))
    for shard_id in free[: max(0, target - len(mine))]:
        lease = eligible[shard_id]
        previous = lease.owner
        if w.table.take(lease):
            log.info("took lease %s%s", shard_id, f" (expired, from {previous})" if previous else "")
            w.held[shard_id] = lease
            mine.append(shard_id)
    # Count a lease already promised to a live worker as that worker's, so one request
    # at a time is in flight per lease and the shares converge instead of swinging.
    promised = {s for s, lease in eligible.items() if lease.pending_owner in live}
    asked = len([s for s in promised if eligible[s].pending_owner == w.cfg.worker_id])
    if len(mine) + asked < target and not free:
        load: dict[str, list[Lease]] = {}
        for shard_id, lease in eligible.items():
            if lease.owner in live and lease.owner != w.cfg.worker_id and shard_id not in promised:
                load.setdefault(lease.owner, []).append(lease)
        if load:
            owner, theirs = max(load.items(), key=lambda kv: (len(kv[1]), kv[0]))
            if len(theirs) > len(mine) + asked + 1:
                candidate = min(theirs, key=lambda lease: lease.shard_id)
                if w.table.request_handoff(candidate):
                    log.info("asked %s for lease %s", owner, candidate.shard_id)
    return set(leases)
