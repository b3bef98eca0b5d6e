"""The one typed settings object, read in one place.

Sources, lowest to highest precedence:

1. built-in defaults (the dataclass defaults below): with nothing else, every stack
   synthesizes;
2. a TOML settings file: ``settings.toml`` in the project root, or the path in
   ``RAI_SETTINGS_FILE`` (which must then exist);
3. environment variables ``RAI_<KEY>`` for top-level keys and
   ``RAI_<SECTION>_<KEY>`` for keys of a section (``RAI_STATE_BUCKET``).

Every problem in every source is collected and reported in one
:class:`SettingsError` that names each field, its source and what is allowed. An
unknown key (in the file or as an ``RAI_`` variable) is an error, so a typo never
silently falls back to a default.

``python -m modules.config.settings`` prints the effective settings;
``python -m modules.config.settings --markdown`` prints the README configuration table.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import json
import os
import re
import sys
import tomllib
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal, get_args, get_origin

from modules.core.paths import PROJECT_ROOT

ENV_PREFIX = "RAI_"
SETTINGS_FILE_ENV = f"{ENV_PREFIX}SETTINGS_FILE"
DEFAULT_SETTINGS_FILE = PROJECT_ROOT / "settings.toml"

Environment = Literal["dev", "staging", "prod"]
BootstrapBackend = Literal["local", "s3"]
Delivery = Literal["queue", "direct"]
NatMode = Literal["per_az", "shared", "none"]
CapacityMode = Literal["on_demand", "provisioned"]
FleetKind = Literal["spot_fleet", "asg"]
SpotAllocation = Literal["capacity-optimized", "price-capacity-optimized"]

# Tag keys the stack base always sets; extra tags may not override them.
RESERVED_TAG_KEYS = ("project", "environment", "stack", "managed-by")
MAX_USER_TAGS = 50 - len(RESERVED_TAG_KEYS)  # AWS allows 50 tags per resource


class SettingsError(ValueError):
    """Every problem found in every settings source, one per line."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        body = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"invalid settings ({len(self.problems)} problem(s)):\n{body}")


def _doc(text: str, **extra: Any) -> dict[str, Any]:
    return {"doc": text, **extra}


# --- value checks: each returns None when valid, else what is allowed --------------

_REGION_RE = re.compile(r"^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d$")
_PROJECT_RE = re.compile(r"^[a-z][a-z0-9-]{0,18}[a-z0-9]$")
_KEY_PREFIX_RE = re.compile(r"^[A-Za-z0-9._-]+(/[A-Za-z0-9._-]+)*$")
_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[A-Za-z]{2,}$")
_ENDPOINT_RE = re.compile(r"^https?://[A-Za-z0-9.-]+(:\d{1,5})?/?$")
_TAG_RE = re.compile(r"^[\w .:/=+\-@]*$")
_PREFIX_RE = re.compile(r"^([A-Za-z0-9._-]+/)+$")
_BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")


def bucket_name_problem(name: str) -> str | None:
    """What is wrong with an S3 bucket name under AWS's general-purpose bucket rules."""
    rules = (
        "3-63 characters of lowercase letters, digits, '-' and '.', starting and ending "
        "with a letter or digit, no '..', not an IP address, no 'xn--'/'sthree-'/"
        "'amzn-s3-demo-' prefix, no '-s3alias'/'--ol-s3'/'.mrap'/'--x-s3' suffix"
    )
    bad = (
        not _BUCKET_RE.match(name)
        or ".." in name
        or re.fullmatch(r"\d+\.\d+\.\d+\.\d+", name) is not None
        or name.startswith(("xn--", "sthree-", "amzn-s3-demo-"))
        or name.endswith(("-s3alias", "--ol-s3", ".mrap", "--x-s3"))
    )
    return rules if bad else None


def _check_region(v: str) -> str | None:
    return None if _REGION_RE.match(v) else "an AWS region code such as us-east-1 or eu-west-3"


def _check_project(v: str) -> str | None:
    # Resource names are "<project>-<environment>-<role>"; ALB and target group names
    # allow 32 characters, so the project part stays short.
    return (
        None if _PROJECT_RE.match(v) else ("2-20 characters: lowercase letters, digits and '-', starting with a letter")
    )


def _check_az_count(v: int) -> str | None:
    return None if 2 <= v <= 6 else "an integer from 2 to 6 (fault tolerance needs >= 2 AZs)"


def _check_vpc_cidr(v: str) -> str | None:
    allowed = "an IPv4 network in CIDR notation with a prefix from /16 to /24, e.g. 10.0.0.0/16"
    try:
        net = ipaddress.IPv4Network(v, strict=True)
    except ValueError:
        return allowed
    return None if 16 <= net.prefixlen <= 24 else allowed


def _check_key_prefix(v: str) -> str | None:
    return (
        None
        if _KEY_PREFIX_RE.match(v)
        else ("path segments of letters, digits, '.', '_' and '-' separated by '/', with no leading or trailing '/'")
    )


def email_problem(v: str) -> str | None:
    """What is wrong with an (optional) e-mail address, or None."""
    return None if v == "" or _EMAIL_RE.match(v) else "an e-mail address, or empty for none"


_check_email = email_problem


def _check_endpoint(v: str) -> str | None:
    return (
        None
        if v == "" or _ENDPOINT_RE.match(v)
        else ("empty (real AWS) or an http(s)://host:port URL of an AWS emulator")
    )


def _check_bucket(v: str) -> str | None:
    return bucket_name_problem(v)


def _check_days(v: int) -> str | None:
    return None if 1 <= v <= 3650 else "a number of days from 1 to 3650"


def _check_versions(v: int) -> str | None:
    return None if 0 <= v <= 100 else "an integer from 0 to 100"


def _check_mirror(v: str) -> str | None:
    return None if v == "" or Path(v).is_dir() else "empty (search) or an existing directory"


def _check_prefix(v: str) -> str | None:
    return (
        None
        if _PREFIX_RE.match(v)
        else "a key prefix of path segments (letters, digits, '.', '_', '-') ending in '/', e.g. 'data/'"
    )


def _check_suffix(v: str) -> str | None:
    return None if re.fullmatch(r"[A-Za-z0-9._-]{0,32}", v) else "up to 32 characters of letters, digits, '.', '_', '-'"


def _check_data_bucket(v: str) -> str | None:
    # The access-log bucket is named "<bucket>-logs": leave room for the suffix.
    if v == "":
        return None
    problem = bucket_name_problem(v)
    return problem if problem else (None if len(v) <= 58 else "at most 58 characters (the log bucket adds '-logs')")


def _bounded(default: int, doc: str, lo: int, hi: int, unit: str) -> Any:
    """An integer setting from ``lo`` to ``hi`` (``unit`` names what is allowed)."""

    def check(v: int) -> str | None:
        return None if lo <= v <= hi else f"{unit} from {lo} to {hi}"

    return field(default=default, metadata=_doc(doc, check=check))


def _check_arn(service: str) -> Callable[[str], str | None]:
    def check(v: str) -> str | None:
        ok = v == "" or re.fullmatch(rf"arn:aws[a-z-]*:{service}:[a-z0-9-]+:\d{{12}}:[A-Za-z0-9/_.:-]+", v)
        return None if ok else f"empty (none) or an ARN of {service}, e.g. arn:aws:{service}:us-east-1:123456789012:..."

    return check


def _check_cidr_list(v: str) -> str | None:
    allowed = "a comma-separated list of IPv4 CIDRs, e.g. 0.0.0.0/0 or 10.0.0.0/8,192.168.0.0/16"
    parts = [p.strip() for p in v.split(",") if p.strip()]
    if not parts:
        return allowed
    try:
        for part in parts:
            ipaddress.IPv4Network(part, strict=True)
    except ValueError:
        return allowed
    return None


def _check_acm_arn(v: str) -> str | None:
    ok = v == "" or re.fullmatch(r"arn:aws[a-z-]*:acm:[a-z0-9-]+:\d{12}:certificate/[A-Za-z0-9-]+", v)
    return None if ok else "empty (HTTP only) or an ACM certificate ARN"


def _check_image_uri(v: str) -> str | None:
    ok = v == "" or re.fullmatch(r"[a-z0-9.-]+(:\d+)?/[a-z0-9._/-]+(:[A-Za-z0-9._-]{1,128}|@sha256:[0-9a-f]{64})", v)
    return None if ok else "empty (build from handlers/) or an image reference with a tag or digest"


def _check_model_uri(v: str) -> str | None:
    ok = v == "" or re.fullmatch(r"s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]/.+|/[^\s]+", v)
    return None if ok else "empty (the model built into the image), an s3://bucket/key URI or an absolute path"


def _range(lo: int, hi: int, what: str = "an integer") -> Callable[[int], str | None]:
    def check(v: int) -> str | None:
        return None if lo <= v <= hi else f"{what} from {lo} to {hi}"

    return check


def _check_fargate_cpu(v: int) -> str | None:
    return None if v in FARGATE_CPU_MEMORY else f"one of the Fargate CPU units {sorted(FARGATE_CPU_MEMORY)}"


# Fargate CPU units -> (min, max) memory MiB allowed with it.
FARGATE_CPU_MEMORY = {256: (512, 2048), 512: (1024, 4096), 1024: (2048, 8192), 2048: (4096, 16384),
                      4096: (8192, 30720)}  # fmt: skip


def _check_tags(tags: Mapping[str, str]) -> str | None:
    problems = []
    if len(tags) > MAX_USER_TAGS:
        problems.append(f"at most {MAX_USER_TAGS} tags")
    for k, v in tags.items():
        if k in RESERVED_TAG_KEYS:
            problems.append(f"tag {k!r} is set by every stack (reserved: {', '.join(RESERVED_TAG_KEYS)})")
        elif not (1 <= len(k) <= 128) or k.lower().startswith("aws:") or not _TAG_RE.match(k):
            problems.append(f"tag key {k!r}: 1-128 characters of letters, digits, spaces and _.:/=+-@, not 'aws:'")
        if len(v) > 256 or not _TAG_RE.match(v):
            problems.append(f"tag {k!r} value: up to 256 characters of letters, digits, spaces and _.:/=+-@")
    return "; ".join(problems) or None


# --- the settings object -------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class StateSettings:
    """Where every stack keeps its Terraform state (the `state` stack creates it)."""

    bucket: str = field(
        default="",
        metadata=_doc(
            "S3 bucket for Terraform state; globally unique. Default: `<project>-<environment>-tfstate-<region>`",
            check=_check_bucket,
            derived=True,
        ),
    )
    key_prefix: str = field(
        default="resilient-ai",
        metadata=_doc("state object key is `<key_prefix>/<environment>/<stack>.tfstate`", check=_check_key_prefix),
    )
    bootstrap_backend: BootstrapBackend = field(
        default="local",
        metadata=_doc(
            "where the `state` stack keeps its own state: `local` until the bucket "
            "exists, `s3` after migrating it into the bucket"
        ),
    )
    noncurrent_version_expiry_days: int = field(
        default=90,
        metadata=_doc("noncurrent state versions expire after this many days", check=_check_days),
    )
    noncurrent_versions_kept: int = field(
        default=10,
        metadata=_doc("this many newest noncurrent versions are kept regardless of age", check=_check_versions),
    )


@dataclass(frozen=True, kw_only=True)
class ToolingSettings:
    """Local tooling (offline validation, emulator); never changes the synthesized JSON."""

    provider_mirror: str = field(
        default="",
        metadata=_doc(
            "Terraform provider filesystem mirror for offline `terraform init`; "
            "empty = use the CLI config's, else search the usual places",
            check=_check_mirror,
        ),
    )


@dataclass(frozen=True, kw_only=True)
class EventProcessingSettings:
    """The `event-processing` stack: S3 `data/*.json` objects processed by a Lambda."""

    bucket: str = field(
        default="",
        metadata=_doc(
            "data bucket; globally unique, <= 58 characters (access logs go to `<bucket>-logs`). "
            "Default: `<project>-<environment>-events-<region>`",
            check=_check_data_bucket,
            derived=True,
        ),
    )
    delivery: Delivery = field(
        default="queue",
        metadata=_doc(
            "`queue`: S3 -> SQS -> Lambda (buffered, partial batch failures, redrive); "
            "`direct`: S3 invokes the Lambda asynchronously (retries, then an on-failure DLQ)"
        ),
    )
    data_prefix: str = field(default="data/", metadata=_doc("input key prefix", check=_check_prefix))
    results_prefix: str = field(
        default="results/", metadata=_doc("results are written to `<results_prefix><input key>`", check=_check_prefix)
    )
    quarantine_prefix: str = field(
        default="quarantine/",
        metadata=_doc("rejects: `<quarantine_prefix><input key>.error.json`", check=_check_prefix),
    )
    input_suffix: str = field(
        default=".json", metadata=_doc("only keys ending in this trigger processing", check=_check_suffix)
    )
    function_memory_mib: int = _bounded(1024, "Lambda memory", 128, 10240, "MiB")
    function_timeout_s: int = _bounded(300, "Lambda timeout", 10, 900, "seconds")
    ephemeral_storage_mib: int = _bounded(2048, "Lambda /tmp, where results wait before upload", 512, 10240, "MiB")
    reserved_concurrency: int = _bounded(
        10, "Lambda reserved concurrency (also the queue poller's maximum)", 2, 1000, "an integer"
    )
    log_retention_days: int = _bounded(365, "Lambda log retention", 1, 3653, "days")
    max_object_mib: int = _bounded(256, "larger objects are quarantined unread", 1, 10240, "MiB")
    max_record_kib: int = _bounded(
        1024, "longest JSON Lines line, and largest single JSON document (bounds memory)", 1, 65536, "KiB"
    )
    max_retries: int = _bounded(2, "`direct`: async invocation retries before the DLQ", 0, 2, "an integer")
    max_event_age_s: int = _bounded(3600, "`direct`: events older than this go to the DLQ", 60, 21600, "seconds")
    batch_size: int = _bounded(10, "`queue`: messages per invocation", 1, 10000, "an integer")
    batch_window_s: int = _bounded(5, "`queue`: longest wait to fill a batch", 0, 300, "seconds")
    max_receive_count: int = _bounded(5, "`queue`: receives before a message moves to the DLQ", 1, 1000, "an integer")
    dlq_retention_days: int = _bounded(14, "dead-letter queue retention", 1, 14, "days")
    kinesis_stream_arn: str = field(
        default="",
        metadata=_doc("also put every result on this Kinesis stream; empty = off", check=_check_arn("kinesis")),
    )
    kinesis_kms_key_arn: str = field(
        default="",
        metadata=_doc("KMS key of that stream, if it has a customer key; empty = none", check=_check_arn("kms")),
    )

    def problems(self) -> list[str]:
        """Problems across fields (each field alone was valid)."""
        out = []
        prefixes = {
            "data_prefix": self.data_prefix,
            "results_prefix": self.results_prefix,
            "quarantine_prefix": self.quarantine_prefix,
        }
        for a, pa in prefixes.items():
            for b, pb in prefixes.items():
                if a < b and (pa.startswith(pb) or pb.startswith(pa)):
                    out.append(
                        f"event_processing.{a} = {pa!r}, event_processing.{b} = {pb!r}: must not overlap "
                        "(an output under the input prefix would trigger itself forever)"
                    )
        if self.kinesis_kms_key_arn and not self.kinesis_stream_arn:
            out.append("event_processing.kinesis_kms_key_arn: set only together with kinesis_stream_arn")
        if self.batch_size > 10 and self.batch_window_s == 0:
            out.append(
                f"event_processing.batch_size = {self.batch_size}: more than 10 needs batch_window_s >= 1 (an SQS rule)"
            )
        return out


@dataclass(frozen=True, kw_only=True)
class NetworkSettings:
    """The VPC every multi-AZ stack builds with the network block (AZs and CIDR are top-level)."""

    nat: NatMode = field(
        default="per_az",
        metadata=_doc(
            "NAT gateways: `per_az` (an AZ outage cuts no other AZ off), `shared` (one, cheaper), "
            "`none` (private subnets without internet egress)"
        ),
    )
    interface_endpoints: str = field(
        default="",
        metadata=_doc(
            "comma-separated interface endpoints in the private subnets, e.g. `ecr.api,ecr.dkr,logs`; "
            "empty = none (traffic goes through NAT)",
            check=lambda v: (
                None
                if re.fullmatch(r"([a-z0-9.-]+(,[a-z0-9.-]+)*)?", v.replace(" ", ""))
                else "comma-separated AWS service names such as ecr.api,ecr.dkr,logs"
            ),
        ),
    )
    flow_log_retention_days: int = field(
        default=365,
        metadata=_doc("VPC flow log retention in CloudWatch Logs (days)", check=_range(1, 3653, "a number of days")),
    )


@dataclass(frozen=True, kw_only=True)
class LoadBalancerSettings:
    """The application load balancer built with the load-balancer block."""

    internal: bool = field(default=False, metadata=_doc("internal ALB (private subnets) instead of internet-facing"))
    allowed_cidrs: str = field(
        default="0.0.0.0/0",
        metadata=_doc("comma-separated IPv4 CIDRs allowed to reach the ALB on 80/443", check=_check_cidr_list),
    )
    certificate_arn: str = field(
        default="",
        metadata=_doc(
            "ACM certificate ARN: adds an HTTPS listener (TLS 1.2+) and HTTP redirects to it; empty = HTTP only",
            check=_check_acm_arn,
        ),
    )
    idle_timeout_s: int = field(
        default=60, metadata=_doc("ALB idle connection timeout (seconds)", check=_range(1, 4000))
    )
    health_check_interval_s: int = field(
        default=10, metadata=_doc("target health check interval (seconds)", check=_range(5, 300))
    )
    healthy_threshold: int = field(
        default=2, metadata=_doc("consecutive passed checks before a target gets traffic", check=_range(2, 10))
    )
    unhealthy_threshold: int = field(
        default=2, metadata=_doc("consecutive failed checks before a target loses traffic", check=_range(2, 10))
    )
    deregistration_delay_s: int = field(
        default=30,
        metadata=_doc("time in-flight requests get to finish on a deregistered target", check=_range(0, 3600)),
    )
    slow_start_s: int = field(
        default=30,
        metadata=_doc("a new target's traffic ramps up over this many seconds; 0 = off", check=_range(0, 900)),
    )


@dataclass(frozen=True, kw_only=True)
class ServingSettings:
    """The `model-serving` stack: ECS Fargate model server behind the ALB."""

    image_uri: str = field(
        default="",
        metadata=_doc(
            "deploy this existing image (no build); empty = build `handlers/model_server/` and push it to ECR",
            check=_check_image_uri,
        ),
    )
    model_uri: str = field(
        default="",
        metadata=_doc(
            "model the server loads at start: an `s3://` URI or a path in the image; empty = the bundled model",
            check=_check_model_uri,
        ),
    )
    cpu: int = field(default=512, metadata=_doc("task CPU units", check=_check_fargate_cpu))
    memory_mib: int = field(
        default=1024, metadata=_doc("task memory (MiB), within Fargate's range for `cpu`", check=_range(512, 30720))
    )
    container_port: int = field(default=8080, metadata=_doc("port the server listens on", check=_range(1024, 65535)))
    min_tasks: int = field(
        default=2, metadata=_doc("autoscaling minimum (and initial desired) task count", check=_range(2, 1000))
    )
    max_tasks: int = field(default=10, metadata=_doc("autoscaling maximum task count", check=_range(2, 1000)))
    on_demand_base: int = field(
        default=1, metadata=_doc("tasks always on FARGATE (on-demand) before weights apply", check=_range(0, 100000))
    )
    on_demand_weight: int = field(
        default=1, metadata=_doc("FARGATE share of tasks beyond the base", check=_range(0, 1000))
    )
    spot_weight: int = field(
        default=3, metadata=_doc("FARGATE_SPOT share of tasks beyond the base", check=_range(0, 1000))
    )
    cpu_target_percent: int = field(
        default=60, metadata=_doc("target tracking: average service CPU (%)", check=_range(10, 90))
    )
    requests_per_target: int = field(
        default=500, metadata=_doc("target tracking: ALB requests per task per minute", check=_range(1, 100000))
    )
    max_in_flight: int = field(
        default=32, metadata=_doc("requests a task serves at once; beyond it 503 + Retry-After", check=_range(1, 10000))
    )
    max_batch_rows: int = field(
        default=1000, metadata=_doc("rows one /predict call may carry", check=_range(1, 100000))
    )
    stop_timeout_s: int = field(
        default=30, metadata=_doc("SIGTERM to SIGKILL: time a task gets to drain", check=_range(2, 120))
    )
    health_check_grace_s: int = field(
        default=60,
        metadata=_doc("ALB health checks ignored this long after a task starts", check=_range(0, 2147483647)),
    )
    log_retention_days: int = field(
        default=365, metadata=_doc("container log retention (days)", check=_range(1, 3653, "a number of days"))
    )
    images_kept: int = field(default=20, metadata=_doc("ECR keeps the newest this many images", check=_range(1, 10000)))
    p99_latency_alarm_ms: int = field(
        default=1000,
        metadata=_doc("alarm when the ALB's p99 target response time exceeds this", check=_range(1, 60000)),
    )


def _check_instance_types(v: str) -> str | None:
    types = [t.strip() for t in v.split(",") if t.strip()]
    ok = (
        len(types) >= 2
        and len(set(types)) == len(types)
        and all(re.fullmatch(r"[a-z][a-z0-9-]*\.[a-z0-9]+", t) for t in types)
    )
    return None if ok else "at least 2 distinct EC2 instance types, comma-separated, e.g. m7i.large,m6i.large"


@dataclass(frozen=True, kw_only=True)
class StreamSettings:
    """The `stream-analytics` stack: Kinesis stream and the fleet of stream workers."""

    capacity_mode: CapacityMode = field(
        default="on_demand",
        metadata=_doc("stream capacity: `on_demand` (scales itself) or `provisioned` (`shard_count` shards)"),
    )
    shard_count: int = field(
        default=2, metadata=_doc("shards of a provisioned stream (ignored on demand)", check=_range(1, 500))
    )
    retention_hours: int = field(
        default=24,
        metadata=_doc("how long records stay readable: time to recover a stopped fleet", check=_range(24, 8760)),
    )
    fleet_kind: FleetKind = field(
        default="spot_fleet",
        metadata=_doc("`spot_fleet` (an EC2 Spot Fleet request) or `asg` (Auto Scaling group, mixed instances)"),
    )
    allocation_strategy: SpotAllocation = field(
        default="capacity-optimized",
        metadata=_doc("spot allocation: from the pools least likely to be interrupted, or weighing price too"),
    )
    instance_types: str = field(
        default="m7i.large,m6i.large,m5.large,c7i.large,c6i.large",
        metadata=_doc(
            "comma-separated instance types the fleet may use (more pools, fewer interruptions)",
            check=_check_instance_types,
        ),
    )
    target_capacity: int = field(default=3, metadata=_doc("worker instances the fleet keeps", check=_range(1, 1000)))
    on_demand_count: int = field(
        default=0, metadata=_doc("of those, on-demand instances (the rest are spot)", check=_range(0, 1000))
    )
    lease_ttl_s: int = field(
        default=30,
        metadata=_doc("a worker's shard lease expires this long after its last renewal", check=_range(6, 600)),
    )
    poll_interval_s: int = field(
        default=1, metadata=_doc("pause between a worker's read rounds (seconds)", check=_range(1, 60))
    )
    iterator_age_alarm_s: int = field(
        default=300,
        metadata=_doc("alarm when the oldest unread record is older than this (seconds)", check=_range(1, 86400)),
    )
    dlq_retention_days: int = field(
        default=14, metadata=_doc("poison records stay in the DLQ this long (days)", check=_range(1, 14))
    )
    log_retention_days: int = field(
        default=365, metadata=_doc("worker log retention (days)", check=_range(1, 3653, "a number of days"))
    )


def _check_weights(v: str) -> str | None:
    allowed = "`stable=<0-999>,canary=<0-999>` with a positive sum, e.g. stable=90,canary=10"
    parts = dict(p.split("=", 1) for p in v.replace(" ", "").split(",") if "=" in p)
    ok = (
        set(parts) == {"stable", "canary"}
        and all(x.isdigit() and 0 <= int(x) <= 999 for x in parts.values())
        and sum(int(x) for x in parts.values()) > 0
    )
    return None if ok else allowed


def _check_hosted_zone(v: str) -> str | None:
    return None if v == "" or re.fullmatch(r"Z[A-Z0-9]{1,31}", v) else "empty (no DNS failover) or a Route 53 zone id"


def _check_optional_region(v: str) -> str | None:
    return None if v == "" else _check_region(v)


def _check_record_name(v: str) -> str | None:
    ok = v == "" or re.fullmatch(r"([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}\.?", v)
    return None if ok else "empty or a DNS name such as api.example.com"


@dataclass(frozen=True, kw_only=True)
class FleetSettings:
    """The Auto Scaling fleets of model servers (`ha-failover`, `target-groups`)."""

    instance_types: str = field(
        default="m7i.large,m6i.large,m5.large,c7i.large,c6i.large",
        metadata=_doc(
            "comma-separated instance types of the mixed instances policy (more spot pools, fewer interruptions)",
            check=_check_instance_types,
        ),
    )
    on_demand_base: int = field(
        default=1, metadata=_doc("instances always on-demand, whatever spot does", check=_range(0, 1000))
    )
    on_demand_percent_above_base: int = field(
        default=0,
        metadata=_doc("on-demand share (%) of instances beyond the base; the rest is spot", check=_range(0, 100)),
    )
    spot_allocation: SpotAllocation = field(
        default="capacity-optimized",
        metadata=_doc("spot allocation: the pools least likely to be interrupted, or weighing price too"),
    )
    health_check_grace_s: int = field(
        default=240,
        metadata=_doc(
            "ELB health checks ignored this long after launch (boot installs and trains the model)",
            check=_range(0, 7200),
        ),
    )
    launch_s: int = field(
        default=60,
        metadata=_doc(
            "expected time from launch to boot script start; only documents the replacement time",
            check=_range(1, 3600),
        ),
    )
    min_healthy_percent: int = field(
        default=100,
        metadata=_doc("instance refresh keeps this share (%) of capacity healthy", check=_range(0, 100)),
    )
    warmup_s: int = field(
        default=300,
        metadata=_doc("a new instance's metrics count for scaling after this long", check=_range(0, 3600)),
    )
    drain_s: int = field(
        default=120,
        metadata=_doc(
            "termination lifecycle hook: time an instance gets to drain before it goes", check=_range(30, 7200)
        ),
    )
    cpu_target_percent: int = field(
        default=60, metadata=_doc("target tracking: average CPU of the group (%)", check=_range(10, 90))
    )
    requests_per_target: int = field(
        default=1000, metadata=_doc("target tracking: ALB requests per instance per minute", check=_range(1, 100000))
    )
    root_volume_gib: int = field(default=20, metadata=_doc("encrypted gp3 root volume size", check=_range(8, 16384)))
    log_retention_days: int = field(
        default=365, metadata=_doc("model server log retention (days)", check=_range(1, 3653, "a number of days"))
    )


@dataclass(frozen=True, kw_only=True)
class HaFailoverSettings:
    """The `ha-failover` stack: ALB + self-healing Auto Scaling group, optional second region."""

    min_size: int = field(default=2, metadata=_doc("instances at least (over >= 2 AZs)", check=_range(1, 1000)))
    max_size: int = field(default=4, metadata=_doc("instances at most", check=_range(1, 1000)))
    desired_capacity: int = field(default=2, metadata=_doc("instances at deploy time", check=_range(1, 1000)))
    health_check_interval_s: int = field(
        default=10, metadata=_doc("ALB health check interval (seconds)", check=_range(5, 300))
    )
    unhealthy_threshold: int = field(
        default=2, metadata=_doc("failed checks before a target is taken out", check=_range(2, 10))
    )
    secondary_region: str = field(
        default="",
        metadata=_doc("run the same ALB + fleet in this region too; empty = one region", check=_check_optional_region),
    )
    hosted_zone_id: str = field(
        default="",
        metadata=_doc(
            "Route 53 zone for PRIMARY/SECONDARY failover records (needs secondary_region and record_name)",
            check=_check_hosted_zone,
        ),
    )
    record_name: str = field(
        default="", metadata=_doc("DNS name of the failover records, in that zone", check=_check_record_name)
    )

    def problems(self) -> list[str]:
        out = []
        if not self.min_size <= self.desired_capacity <= self.max_size:
            out.append(
                f"ha_failover.desired_capacity = {self.desired_capacity}: must be from ha_failover.min_size = "
                f"{self.min_size} to ha_failover.max_size = {self.max_size}"
            )
        if self.hosted_zone_id and not (self.secondary_region and self.record_name):
            out.append("ha_failover.hosted_zone_id: needs ha_failover.secondary_region and ha_failover.record_name")
        if self.record_name and not self.hosted_zone_id:
            out.append("ha_failover.record_name: set only together with ha_failover.hosted_zone_id")
        return out


@dataclass(frozen=True, kw_only=True)
class TargetGroupsSettings:
    """The `target-groups` stack: stable and canary target groups, weighted, each with its fleet."""

    allowed_cidrs: str = field(
        default="0.0.0.0/0",
        metadata=_doc("comma-separated IPv4 CIDRs the ALB accepts (never empty)", check=_check_cidr_list),
    )
    health_check_interval_s: int = field(
        default=5, metadata=_doc("health check interval (seconds): fast detection", check=_range(5, 300))
    )
    weights: str = field(
        default="stable=90,canary=10",
        metadata=_doc("listener forward weights of the two target groups", check=_check_weights),
    )
    stickiness_s: int = field(
        default=0,
        metadata=_doc("keep a client on one target group for this long (seconds); 0 = off", check=_range(0, 604800)),
    )
    min_size: int = field(default=2, metadata=_doc("instances at least, per target group", check=_range(1, 1000)))
    max_size: int = field(default=4, metadata=_doc("instances at most, per target group", check=_range(1, 1000)))
    canary_model_uri: str = field(
        default="",
        metadata=_doc(
            "model the canary servers load (e.g. v2 beside a v1 stable): an `s3://` URI or a path on the "
            "instance; empty = the same model as stable (`serving.model_uri`)",
            check=_check_model_uri,
        ),
    )

    def problems(self) -> list[str]:
        if self.min_size > self.max_size:
            return [f"target_groups.max_size = {self.max_size}: must be >= target_groups.min_size = {self.min_size}"]
        return []

    def weight_map(self) -> dict[str, int]:
        return {k: int(v) for k, v in (p.split("=", 1) for p in self.weights.replace(" ", "").split(","))}


@dataclass(frozen=True, kw_only=True)
class Settings:
    """Everything the app reads. Built by :func:`load_settings`, never mutated."""

    project: str = field(default="resilient-ai", metadata=_doc("name prefix of every resource", check=_check_project))
    environment: Environment = field(default="dev", metadata=_doc("deployment environment"))
    region: str = field(default="us-east-1", metadata=_doc("AWS region of every stack", check=_check_region))
    az_count: int = field(
        default=3, metadata=_doc("availability zones each multi-AZ stack spans", check=_check_az_count)
    )
    vpc_cidr: str = field(default="10.0.0.0/16", metadata=_doc("VPC address range", check=_check_vpc_cidr))
    alarm_email: str = field(
        default="", metadata=_doc("e-mail subscribed to alarm topics; empty = no subscription", check=_check_email)
    )
    emulator_endpoint: str = field(
        default="",
        metadata=_doc(
            "AWS emulator URL (e.g. a moto server); empty = real AWS. Only then are emulator-only adjustments applied",
            check=_check_endpoint,
        ),
    )
    tags: Mapping[str, str] = field(
        default_factory=lambda: MappingProxyType({}),
        metadata=_doc("extra tags on every resource; env form `k=v,k2=v2`", check=_check_tags),
    )
    state: StateSettings = field(default_factory=StateSettings)
    tooling: ToolingSettings = field(default_factory=ToolingSettings)
    event_processing: EventProcessingSettings = field(default_factory=EventProcessingSettings)
    network: NetworkSettings = field(default_factory=NetworkSettings)
    load_balancer: LoadBalancerSettings = field(default_factory=LoadBalancerSettings)
    serving: ServingSettings = field(default_factory=ServingSettings)
    stream: StreamSettings = field(default_factory=StreamSettings)
    fleet: FleetSettings = field(default_factory=FleetSettings)
    ha_failover: HaFailoverSettings = field(default_factory=HaFailoverSettings)
    target_groups: TargetGroupsSettings = field(default_factory=TargetGroupsSettings)

    @property
    def emulated(self) -> bool:
        return self.emulator_endpoint != ""

    @property
    def name_prefix(self) -> str:
        return f"{self.project}-{self.environment}"


SECTIONS: dict[str, type] = {
    "state": StateSettings,
    "tooling": ToolingSettings,
    "event_processing": EventProcessingSettings,
    "network": NetworkSettings,
    "load_balancer": LoadBalancerSettings,
    "serving": ServingSettings,
    "stream": StreamSettings,
    "fleet": FleetSettings,
    "ha_failover": HaFailoverSettings,
    "target_groups": TargetGroupsSettings,
}


# --- loading ----------------------------------------------------------------------------


def _scalar_fields(cls: type) -> list[dataclasses.Field[Any]]:
    return [f for f in dataclasses.fields(cls) if f.name not in SECTIONS]


def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _describe_type(tp: Any) -> str:
    if get_origin(tp) is Literal:
        return "one of " + ", ".join(repr(a) for a in get_args(tp))
    if tp is bool:
        return "true or false"
    if tp is int:
        return "an integer"
    if tp is str:
        return "a string"
    return "a table of string keys to string values"


def _coerce(tp: Any, value: Any, from_env: bool) -> Any:
    """Value converted to ``tp``; raises ValueError with what is allowed."""
    if get_origin(tp) is Literal:
        if value in get_args(tp):
            return value
    elif tp is bool:
        if isinstance(value, bool):
            return value
        if from_env and str(value).lower() in ("true", "1", "yes", "false", "0", "no"):
            return str(value).lower() in ("true", "1", "yes")
    elif tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if from_env and re.fullmatch(r"-?\d+", str(value).strip()):
            return int(value)
    elif tp is str:
        if isinstance(value, str):
            return value
    else:  # Mapping[str, str]
        if from_env and isinstance(value, str):
            return MappingProxyType(_parse_env_mapping(value))
        if isinstance(value, Mapping) and all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
            return MappingProxyType(dict(value))
    raise ValueError(_describe_type(tp))


def _parse_env_mapping(text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in filter(None, (p.strip() for p in text.split(","))):
        key, sep, val = item.partition("=")
        if not sep or not key.strip():
            raise ValueError("a table of string keys to string values (env form k=v,k2=v2)")
        out[key.strip()] = val.strip()
    return out


def env_var(section: str | None, key: str) -> str:
    """The environment variable that sets ``[section].key`` (or a top-level key)."""
    return ENV_PREFIX + (f"{section}_{key}" if section else key).upper()


def _to_raw(settings: Settings) -> dict[str, Any]:
    raw: dict[str, Any] = {}
    for f in dataclasses.fields(settings):
        value = getattr(settings, f.name)
        if f.name in SECTIONS:
            raw[f.name] = {sf.name: getattr(value, sf.name) for sf in dataclasses.fields(value)}
        elif isinstance(value, Mapping):
            raw[f.name] = dict(value)
        else:
            raw[f.name] = value
    return raw


def _read_file(path: Path, problems: list[str]) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        problems.append(f"settings file {path}: not found (from {SETTINGS_FILE_ENV})")
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        problems.append(f"settings file {path}: not valid TOML ({exc})")
    return {}


def _env_layer(environ: Mapping[str, str], problems: list[str]) -> dict[str, Any]:
    """Environment variables as a raw layer; unknown ``RAI_`` names are problems."""
    known: dict[str, tuple[str | None, str]] = {}
    for f in _scalar_fields(Settings):
        known[env_var(None, f.name)] = (None, f.name)
    for section, cls in SECTIONS.items():
        for f in dataclasses.fields(cls):
            known[env_var(section, f.name)] = (section, f.name)
    layer: dict[str, Any] = {}
    for name, value in environ.items():
        if not name.startswith(ENV_PREFIX) or name == SETTINGS_FILE_ENV:
            continue
        if name not in known:
            problems.append(f"{name}: unknown setting (known: {', '.join(sorted(known))})")
            continue
        section_name, key = known[name]
        target = layer.setdefault(section_name, {}) if section_name else layer
        target[key] = _EnvValue(value)
    return layer


class _EnvValue(str):
    """A string that came from the environment, so it may be coerced to int/bool/table."""


def _merge(base: dict[str, Any], top: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in top.items():
        if isinstance(v, Mapping) and k in SECTIONS and isinstance(out.get(k), Mapping):
            out[k] = {**out[k], **v}
        else:
            out[k] = v
    return out


def _build(cls: type, raw: Mapping[str, Any], where: str, problems: list[str]) -> dict[str, Any]:
    """Typed kwargs for ``cls`` from ``raw``; bad values are problems and left at default."""
    hints = _hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    kwargs: dict[str, Any] = {}
    for key, value in raw.items():
        label = f"{where}{key}"
        if cls is Settings and key in SECTIONS:
            continue  # built separately
        if key not in names:
            problems.append(f"{label}: unknown setting (known: {', '.join(sorted(names))})")
            continue
        from_env = isinstance(value, _EnvValue)
        source = f" (from {env_var(where.rstrip('.') or None, key)})" if from_env else ""
        try:
            typed = _coerce(hints[key], str(value) if from_env else value, from_env)
        except ValueError as exc:
            problems.append(f"{label} = {value!r}{source}: must be {exc}")
            continue
        check: Callable[[Any], str | None] | None = next(
            (f.metadata.get("check") for f in dataclasses.fields(cls) if f.name == key), None
        )
        problem = check(typed) if check else None
        if problem:
            problems.append(f"{label} = {_show(typed)}{source}: must be {problem}")
            continue
        kwargs[key] = typed
    return kwargs


def _show(value: Any) -> str:
    return json.dumps(dict(value)) if isinstance(value, Mapping) else repr(value)


def load_settings(
    environ: Mapping[str, str] | None = None,
    settings_file: Path | Literal["auto"] | None = "auto",
) -> Settings:
    """Settings from defaults < file < environment.

    ``environ`` defaults to the process environment; ``settings_file="auto"`` means
    ``RAI_SETTINGS_FILE`` if set, else ``settings.toml`` in the project root if present.
    Raises :class:`SettingsError` listing every problem.
    """
    env = os.environ if environ is None else environ
    problems: list[str] = []
    raw: dict[str, Any] = {}
    if settings_file == "auto":
        if SETTINGS_FILE_ENV in env:
            raw = _read_file(Path(env[SETTINGS_FILE_ENV]), problems)
        elif DEFAULT_SETTINGS_FILE.is_file():
            raw = _read_file(DEFAULT_SETTINGS_FILE, problems)
    elif settings_file is not None:
        raw = _read_file(settings_file, problems)
    for section in SECTIONS:
        if section in raw and not isinstance(raw[section], Mapping):
            problems.append(f"{section}: must be a table ([{section}])")
            raw.pop(section)
    raw = _merge(raw, _env_layer(env, problems))

    top = _build(Settings, raw, "", problems)
    sections = {name: _build(cls, raw.get(name, {}), f"{name}.", problems) for name, cls in SECTIONS.items()}
    problems.extend(_cross_field_problems(sections["serving"]))
    problems.extend(_stream_problems(sections["stream"]))
    if problems:
        raise SettingsError(problems)

    defaults = Settings()
    project = top.get("project", defaults.project)
    environment = top.get("environment", defaults.environment)
    region = top.get("region", defaults.region)
    if "bucket" not in sections["state"]:
        derived = f"{project}-{environment}-tfstate-{region}"
        problem = bucket_name_problem(derived)
        if problem:  # cannot happen with valid parts, kept as a guard
            raise SettingsError([f"state.bucket (derived {derived!r}): must be {problem}"])
        sections["state"]["bucket"] = derived
    if "bucket" not in sections["event_processing"]:
        sections["event_processing"]["bucket"] = f"{project}-{environment}-events-{region}"
    built = {name: cls(**sections[name]) for name, cls in SECTIONS.items()}
    cross = [p for section in built.values() for p in getattr(section, "problems", lambda: [])()]
    if cross:
        raise SettingsError(cross)
    return Settings(**top, **built)


def _cross_field_problems(serving: Mapping[str, Any]) -> list[str]:
    """Rules that span fields of one section (each field alone was valid)."""
    problems = []
    defaults = ServingSettings()
    cpu = serving.get("cpu", defaults.cpu)
    memory = serving.get("memory_mib", defaults.memory_mib)
    lo, hi = FARGATE_CPU_MEMORY[cpu]
    if not lo <= memory <= hi:
        problems.append(f"serving.memory_mib = {memory}: must be from {lo} to {hi} with serving.cpu = {cpu}")
    lo_tasks, hi_tasks = serving.get("min_tasks", defaults.min_tasks), serving.get("max_tasks", defaults.max_tasks)
    if lo_tasks > hi_tasks:
        problems.append(f"serving.max_tasks = {hi_tasks}: must be >= serving.min_tasks = {lo_tasks}")
    if (
        serving.get("on_demand_weight", defaults.on_demand_weight) + serving.get("spot_weight", defaults.spot_weight)
        == 0
    ):
        problems.append("serving.on_demand_weight and serving.spot_weight: at least one must be > 0")
    return problems


def _stream_problems(stream: Mapping[str, Any]) -> list[str]:
    defaults = StreamSettings()
    problems = []
    target, on_demand = (stream.get(k, getattr(defaults, k)) for k in ("target_capacity", "on_demand_count"))
    if on_demand > target:
        problems.append(f"stream.on_demand_count = {on_demand}: must be <= stream.target_capacity = {target}")
    ttl, poll = (stream.get(k, getattr(defaults, k)) for k in ("lease_ttl_s", "poll_interval_s"))
    if poll * 3 >= ttl:
        problems.append(f"stream.poll_interval_s = {poll}: must be < stream.lease_ttl_s / 3 ({ttl / 3:g}) so "
                        "leases are renewed well before they expire")  # fmt: skip
    return problems


# --- documentation -----------------------------------------------------------------------


def settings_table() -> str:
    """The README configuration table, generated so that it never drifts from the code."""
    rows = ["| setting (TOML) | environment variable | default | what it does |", "|---|---|---|---|"]

    def add(cls: type, section: str | None) -> None:
        hints = _hints(cls)
        instance = cls()
        for f in dataclasses.fields(cls):
            if cls is Settings and f.name in SECTIONS:
                continue
            key = f"{section}.{f.name}" if section else f.name
            default = getattr(instance, f.name)
            shown = (
                "(derived)"
                if f.metadata.get("derived")
                else ("`{}`" if isinstance(default, Mapping) and not default else f"`{json.dumps(default)}`")
            )
            kind = _describe_type(hints[f.name])
            doc = f"{f.metadata.get('doc', '')} ({kind})"
            rows.append(f"| `{key}` | `{env_var(section, f.name)}` | {shown} | {doc} |")

    add(Settings, None)
    for section, cls in SECTIONS.items():
        add(cls, section)
    return "\n".join(rows)


def main(argv: list[str]) -> int:
    if argv[1:] == ["--markdown"]:
        print(settings_table())
        return 0
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(exc, file=sys.stderr)
        return 2
    print(json.dumps(_to_raw(settings), indent=2, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
