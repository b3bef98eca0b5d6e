"""Diagrams: drawn from the JSON, checked in, and valid Graphviz."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from modules.policy.document import StackDocument
from modules.registry import STACKS
from tests.conftest import StackDoc
from tools.docs.diagrams import DEFAULT_DIR, build, render, to_dot


def _dot(stacks: dict[str, StackDoc], name: str) -> str:
    return to_dot(build(StackDocument(name, stacks[name])))


def test_checked_in_diagram_sources_are_what_the_default_synth_gives(stacks: dict[str, StackDoc]) -> None:
    stale = [name for name in stacks if (DEFAULT_DIR / f"{name}.dot").read_text() != _dot(stacks, name)]
    assert not stale, f"docs/diagrams is stale for {stale}: run `make diagrams`"


def test_every_stack_has_a_rendered_picture_in_docs() -> None:
    dots = sorted(DEFAULT_DIR.glob("*.dot"))
    assert [dot.stem for dot in dots] == sorted(entry.name for entry in STACKS), "run `make diagrams`"
    for dot in dots:
        for fmt in ("svg", "png"):
            assert dot.with_suffix(f".{fmt}").stat().st_size > 1000, f"{dot.stem}.{fmt} missing: run `make diagrams`"


def test_model_serving_shows_alb_to_targets(stacks: dict[str, StackDoc]) -> None:
    g = build(StackDocument("model-serving", stacks["model-serving"]))
    lb = next(n for n in g.nodes if n.startswith("aws_lb."))
    tg = next(n for n in g.nodes if n.startswith("aws_lb_target_group."))
    assert any(a == lb and b == tg for a, b, _ in g.edges), "ALB -> target group"
    assert any(a == tg and b == "aws_ecs_service.service" for a, b, _ in g.edges), "target group -> service"


def test_network_shows_subnets_and_a_nat_in_each_of_three_azs(stacks: dict[str, StackDoc]) -> None:
    """The AZs are drawn where the subnets are: the `network` stack (network.mode = "shared")."""
    g = build(StackDocument("network", stacks["network"]))
    azs = {grp for grp, _ in g.nodes.values() if grp.startswith("az:")}
    assert azs == {"az:use1-az1", "az:use1-az2", "az:use1-az4"}, "AZs by zone id"
    nats = [n for n in g.nodes if n.startswith("aws_nat_gateway.")]
    assert {g.nodes[n][0] for n in nats} == azs, "a NAT in every AZ"


def test_stream_analytics_shows_stream_to_workers_to_sinks(stacks: dict[str, StackDoc]) -> None:
    g = build(StackDocument("stream-analytics", stacks["stream-analytics"]))
    fleet = "aws_spot_fleet_request.spot-fleet"
    assert ("aws_kinesis_stream.stream", fleet, 'label="read"') in g.edges
    assert (fleet, "aws_sqs_queue.dlq", 'label="write"') in g.edges
    assert any(a == fleet and b.startswith("aws_s3_bucket.results") for a, b, _ in g.edges)


def test_event_processing_shows_bucket_queue_function_and_dlq(stacks: dict[str, StackDoc]) -> None:
    g = build(StackDocument("event-processing", stacks["event-processing"]))
    role = {
        "aws_s3_bucket.data_bucket_F0368B94": "data",
        "aws_sqs_queue.queue_140BE0E7": "queue",
        "aws_lambda_function.processor_function_D7E0E582": "processor",
        "aws_sqs_queue.dlq_queue_2E673ECB": "dlq",
    }
    pairs = {(role.get(a), role.get(b)) for a, b, _ in g.edges}
    assert {("data", "queue"), ("queue", "processor"), ("queue", "dlq")} <= pairs


@pytest.mark.slow
def test_graphviz_renders_every_diagram(stacks: dict[str, StackDoc], tmp_path: Path) -> None:
    """The sources are valid Graphviz: `dot` (installed by `make test` through `make graphviz`) draws them."""
    assert shutil.which("dot"), "Graphviz is not installed: `make test` installs it (`make graphviz`)"
    for name in stacks:
        dot = tmp_path / f"{name}.dot"
        dot.write_text(_dot(stacks, name))
        svg, png = render(dot)
        assert "<svg" in svg.read_text() and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    version = subprocess.run(["dot", "-V"], capture_output=True, text=True, check=True)
    assert "graphviz" in version.stderr.lower()
