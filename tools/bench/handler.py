"""Benchmark of the event processor against a moto server (``make bench-handler``; not a test).

1. Throughput: N JSON Lines objects processed by the handler (a real process, SQS
   batches of 10 as in queue delivery, time measured inside the handler), against the
   baseline of a bare ``get_object`` + ``put_object`` of the same objects in this
   process, same server, same run. Target: handler >= 0.8x the baseline.
2. Memory: peak RSS of the handler process for a small and a 200 MB JSON Lines object.
   Target: bounded, independent of the object's size.

``python -m tools.bench.handler [--objects N] [--big-mb MB]``
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import boto3

from tools.harness.emulator_credentials import CREDENTIALS
from tools.harness.local_lambda import invoke, s3_event, sqs_event
from tools.harness.moto_server import MotoServer

REGION = "us-east-1"
ROUNDS = 3
BUCKET = "bench-events"
WORDS = (
    "good",
    "great",
    "slow",
    "broken",
    "reliable",
    "model",
    "data",
    "stream",
    "batch",
    "fast",
    "error",
    "works",
    "late",
    "price",
    "the",
    "a",
    "of",
    "and",
    "to",
    "is",
    "it",
    "for",
    "with",
    "this",
)


def make_records(rng: random.Random, count: int, start: int = 0) -> bytes:
    lines = []
    for i in range(start, start + count):
        text = " ".join(rng.choice(WORDS) for _ in range(rng.randint(20, 160)))
        rec = {
            "id": f"r-{i}",
            "timestamp": "2026-01-31T12:00:00Z",
            "text": text,
            "values": [round(rng.random() * 100, 3) for _ in range(8)],
        }
        lines.append(json.dumps(rec))
    return ("\n".join(lines) + "\n").encode()


def batch(bucket: str, keys: list[str], sizes: dict[str, int]) -> dict[str, Any]:
    """An SQS batch of S3 notifications, as the event source mapping delivers it."""
    messages = [
        {"MessageId": f"m-{i}", "Body": json.dumps(s3_event(bucket, key, sizes[key]))} for i, key in enumerate(keys)
    ]
    return sqs_event(messages, f"arn:aws:sqs:{REGION}:123456789012:bench")


def handler_env(max_object_bytes: int) -> dict[str, str]:
    return {
        **CREDENTIALS,
        "DATA_BUCKET": BUCKET,
        "DATA_PREFIX": "data/",
        "RESULTS_PREFIX": "results/",
        "QUARANTINE_PREFIX": "quarantine/",
        "MAX_OBJECT_BYTES": str(max_object_bytes),
    }


def bench(objects: int, big_mb: int, log: Any = print) -> dict[str, float]:
    rng = random.Random(2026)
    with tempfile.TemporaryDirectory(prefix="bench-handler-") as tmp, MotoServer(Path(tmp) / "moto.log") as moto:
        s3 = boto3.client(
            "s3",
            endpoint_url=moto.endpoint,
            region_name=REGION,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        s3.create_bucket(Bucket=BUCKET)
        s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
        keys = [f"data/bench/{i:04d} part.json" for i in range(objects)]
        sizes = {}
        for i, key in enumerate(keys):
            body = make_records(rng, 120, start=i * 1000)
            s3.put_object(Bucket=BUCKET, Key=key, Body=body)
            sizes[key] = len(body)
        total_mb = sum(sizes.values()) / 1e6
        log(f"{objects} objects, {total_mb:.1f} MB of JSON Lines ({total_mb * 1e3 / objects:.0f} KB each)")

        def baseline() -> float:
            t = time.perf_counter()
            for key in keys:
                body = s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()
                s3.put_object(Bucket=BUCKET, Key=f"baseline/{key}", Body=body)
            return time.perf_counter() - t

        def handler() -> float:
            events = [batch(BUCKET, keys[i : i + 10], sizes) for i in range(0, len(keys), 10)]
            inv = invoke("event_processor", events, endpoint=moto.endpoint, region=REGION, env=handler_env(1 << 30))
            failures = [f for r in inv.responses for f in r["batchItemFailures"]]
            processed = sum(o["status"] == "processed" for r in inv.responses for o in r["outcomes"])
            if failures or processed != len(keys):
                raise RuntimeError(f"handler failed {failures} / processed {processed} of {len(keys)}")
            return sum(inv.seconds)

        # Alternating, best of ROUNDS each, so neither side profits from a warmer server.
        runs = [(baseline(), handler()) for _ in range(ROUNDS)]
        log("rounds (baseline s, handler s): " + ", ".join(f"({b:.2f}, {h:.2f})" for b, h in runs))
        base_s = min(b for b, _ in runs)
        hand_s = min(h for _, h in runs)
        ratio = base_s / hand_s
        log(f"baseline get_object+put_object: {objects / base_s:8.1f} objects/s {total_mb / base_s:7.2f} MB/s")
        log(f"handler (validate + process):   {objects / hand_s:8.1f} objects/s {total_mb / hand_s:7.2f} MB/s")
        log(f"handler / baseline throughput:  {ratio:.2f}x (target >= 0.80x) {'OK' if ratio >= 0.8 else 'BELOW'}")

        rss = {}
        for label, mb in (("small", max(1, big_mb // 20)), ("big", big_mb)):
            key = f"data/big/{label}.json"
            path = Path(tmp) / f"{label}.jsonl"
            with path.open("wb") as fh:
                written, n = 0, 0
                while written < mb * 1_000_000:
                    chunk = make_records(rng, 2000, start=n)
                    fh.write(chunk)
                    written += len(chunk)
                    n += 2000
            s3.upload_file(str(path), BUCKET, key)
            path.unlink()
            inv = invoke(
                "event_processor",
                [batch(BUCKET, [key], {key: written})],
                endpoint=moto.endpoint,
                region=REGION,
                env=handler_env(1 << 31),
            )
            (outcome,) = inv.responses[0]["outcomes"]
            if outcome["status"] != "processed":
                raise RuntimeError(f"{key}: {outcome}")
            rss[label] = inv.max_rss_kib / 1024
            mb_s = written / 1e6 / inv.seconds[0]
            log(
                f"{written / 1e6:6.1f} MB JSON Lines object ({outcome['records']} records): "
                f"{inv.seconds[0]:5.1f}s, {mb_s:5.1f} MB/s, peak RSS {rss[label]:.0f} MiB"
            )
        growth = rss["big"] / rss["small"]
        log(
            f"peak RSS {big_mb} MB vs {max(1, big_mb // 20)} MB object: {growth:.2f}x "
            f"({'bounded' if growth < 1.25 else 'GROWS with size'})"
        )
        return {"ratio": ratio, "rss_small_mib": rss["small"], "rss_big_mib": rss["big"]}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--objects", type=int, default=200)
    parser.add_argument("--big-mb", type=int, default=200)
    args = parser.parse_args(argv[1:])
    result = bench(args.objects, args.big_mb)
    return 0 if result["ratio"] >= 0.8 and result["rss_big_mib"] < 1.25 * result["rss_small_mib"] else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
