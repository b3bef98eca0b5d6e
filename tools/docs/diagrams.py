"""Architecture diagrams of each stack, drawn from its synthesized JSON with Graphviz.

    python -m tools.docs.diagrams [--check] [--dot-only] [cdktf.out]

Writes ``docs/diagrams/<stack>.dot`` (Graphviz source, checked for staleness by a test)
and, with Graphviz's ``dot`` on PATH, ``<stack>.svg`` and ``<stack>.png``. With no
source it synthesizes the embedded defaults itself (what ``make diagrams`` does).

What is drawn is what makes a stack fault tolerant, not every resource: the VPC's tiers
(public, private) with one subnet per AZ and the NAT each AZ leaves through; load
balancer -> target groups -> services, groups and fleets, with an edge to every subnet
(so the AZ spread is visible); event paths (bucket -> queue -> function, stream ->
workers -> sinks, queue -> DLQ on redrive, EventBridge rule -> topic); and which
resources have alarms. Reads and writes of compute come from its IAM policy's actions.
IAM, KMS, logs, security groups and policies are left out: the scorecard covers them.

The nodes are chosen in ``diagram_graph.py``, the edges found in ``diagram_edges.py``; this
module assembles the graph and writes it as Graphviz source.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

from modules.core.paths import PROJECT_ROOT
from modules.policy.document import Resource, StackDocument, load_outdir
from tools.docs.diagram_edges import alarm_edges, compute_edges, event_edges, traffic_edges
from tools.docs.diagram_graph import SHAPES, Graph, az_label, node_facts, quote, subnet_tier, subnets_of
from tools.docs.stack_facts import short_path

DEFAULT_DIR = PROJECT_ROOT / "docs" / "diagrams"


def build(doc: StackDocument) -> Graph:
    g = Graph(doc)

    def group_of(res: Resource) -> str:
        """``az:<label>`` for subnets and NAT gateways, ``vpc`` for what runs in subnets, else ``regional``."""
        if res.type == "aws_subnet":
            return f"az:{az_label(res)}"
        if res.type == "aws_nat_gateway":
            subnets = doc.referenced(res.body.get("subnet_id"), "aws_subnet")
            return f"az:{az_label(subnets[0])}" if subnets else "vpc"
        if res.type == "aws_lb_target_group" or subnets_of(doc, res):
            return "vpc"
        return "regional"

    for res in doc:
        if res.type in SHAPES:
            kind, shape, fill = SHAPES[res.type]
            if res.type == "aws_subnet":
                kind = f"{subnet_tier(res)} subnet"
            label = "\n".join([short_path(doc, res), kind, *node_facts(doc, res)])
            style = "filled,dashed" if res.type == "aws_subnet" else "filled"
            attrs = f'label={quote(label)}, shape={shape}, style="{style}", fillcolor="{fill}"'
            g.nodes[g.node_id(res)] = (group_of(res), attrs)
    if any(lb.body.get("internal") not in (True, "true") for lb in doc.of_type("aws_lb")):
        g.nodes["internet"] = ("outside", 'label="clients (internet)", shape=plaintext')
        for lb in doc.of_type("aws_lb"):
            if lb.body.get("internal") not in (True, "true"):
                g.edges.add(("internet", g.node_id(lb), ""))

    traffic_edges(doc, g)
    event_edges(doc, g)
    compute_edges(doc, g)
    alarm_edges(doc, g)
    return g


def to_dot(g: Graph) -> str:
    """Deterministic Graphviz source: the VPC with one cluster per AZ, regional services
    apart; nodes and edges sorted."""
    lines = [
        f"digraph {quote(g.doc.name)} {{",
        '  graph [rankdir=TB, fontname="Helvetica", fontsize=12, nodesep=0.3, ranksep=0.5, newrank=true, '
        f"label={quote(f'stack {g.doc.name} (drawn from its synthesized Terraform JSON)')}, labelloc=t];",
        '  node [fontname="Helvetica", fontsize=10];',
        '  edge [fontname="Helvetica", fontsize=9];',
    ]
    groups: dict[str, list[str]] = {}
    for node_id, (group, attrs) in sorted(g.nodes.items()):
        groups.setdefault(group, []).append(f"    {quote(node_id)} [{attrs}];")
    lines += groups.get("outside", [])
    azs = sorted(k for k in groups if k.startswith("az:"))
    if azs or "vpc" in groups:
        lines += ["  subgraph cluster_vpc {", '    label="VPC"; style="rounded"; color="#2e86c1";']
        lines += groups.get("vpc", [])
        for i, az in enumerate(azs):
            lines += [f"  subgraph cluster_az{i} {{", f'    label="{az[3:]}"; style="dashed"; color="#2e86c1";']
            lines += groups[az]
            lines.append("  }")
        lines.append("  }")
    if "regional" in groups:
        lines += ["  subgraph cluster_regional {", '    label="regional services (multi-AZ by AWS)"; style="rounded";']
        lines += groups["regional"]
        lines.append("  }")
    # Subnets of one tier side by side across the AZs, NAT gateways below them.
    for kind in ("public subnet", "private subnet", "NAT gateway"):
        same = sorted(n for n, (grp, attrs) in g.nodes.items() if grp.startswith("az:") and f"\\n{kind}" in attrs)
        if len(same) > 1:
            lines.append("  { rank=same; " + " ".join(quote(n) + ";" for n in same) + " }")
    for a, b, attrs in sorted(g.edges):
        lines.append(f"  {quote(a)} -> {quote(b)}" + (f" [{attrs}];" if attrs else ";"))
    lines.append("}")
    return "\n".join(lines) + "\n"


def render(dot_path: Path) -> list[Path]:
    """SVG and PNG beside ``dot_path`` with Graphviz's ``dot``."""
    dot = shutil.which("dot")
    if dot is None:
        raise FileNotFoundError(
            "Graphviz `dot` is not on PATH: `make graphviz` installs it (Debian: apt-get install graphviz)"
        )
    out = []
    for fmt in ("svg", "png"):
        target = dot_path.with_suffix(f".{fmt}")
        extra = ["-Gdpi=96"] if fmt == "png" else []
        subprocess.run([dot, f"-T{fmt}", *extra, "-o", str(target), str(dot_path)], check=True)
        out.append(target)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="draw every stack from its synthesized JSON")
    parser.add_argument("source", nargs="?", help="synth output dir; default: synth the embedded defaults")
    parser.add_argument("--out", default=str(DEFAULT_DIR))
    parser.add_argument("--check", action="store_true", help="fail if a .dot file is not up to date")
    parser.add_argument("--dot-only", action="store_true", help="write the Graphviz sources only")
    args = parser.parse_args(argv)
    if args.source is None:
        from tools.default_synth import default_stacks

        docs = default_stacks()
    else:
        docs = load_outdir(args.source)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stale = []
    for doc in docs:
        dot_path = out / f"{doc.name}.dot"
        text = to_dot(build(doc))
        if args.check:
            if not dot_path.exists() or dot_path.read_text() != text:
                stale.append(str(dot_path))
            continue
        dot_path.write_text(text)
        written = [dot_path] if args.dot_only else [dot_path, *render(dot_path)]
        print(
            f"{doc.name}: "
            + ", ".join(str(p.relative_to(out.parent) if p.is_relative_to(out.parent) else p) for p in written)
        )
    if stale:
        print(f"stale: {', '.join(stale)}: run `make diagrams`", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
