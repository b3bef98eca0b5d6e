"""A read-only view of one synthesized stack (``cdk.tf.json``), shared by the policy,
the scorecard and the diagrams.

Everything here reads the Terraform JSON only, never the cdktf objects: in the JSON
every token is resolved into a Terraform expression (``${aws_subnet.private-0.id}``), so
references between resources can be followed by name, and the same code reads a plan
converted by :func:`from_plan`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

Json = dict[str, Any]

# The key, in a stack's top-level ``//`` comment block, that says whether its environment is
# protected (written by the stack base from ``settings.is_protected``).
PROTECTED_MARKER = "protected"

# A reference inside a Terraform expression: `aws_sqs_queue.dlq.arn`, `data.aws_x.y.names`.
_REF_RE = re.compile(r"(?<![\w.-])(data\.)?(aws_[a-z0-9_]+|terraform_data)\.([A-Za-z_][A-Za-z0-9_-]*)")


@dataclass(frozen=True)
class Resource:
    """One resource block: its type, Terraform name, body and construct path."""

    type: str
    name: str
    body: Json

    @property
    def address(self) -> str:
        return f"{self.type}.{self.name}"

    @property
    def path(self) -> str:
        """The construct path (``stack/construct/id``) cdktf records, else the address."""
        meta = self.body.get("//", {}).get("metadata", {})
        return str(meta.get("path", self.address))

    @property
    def waivers(self) -> dict[str, str]:
        """Rule id -> reason, from :func:`modules.policy.waive`."""
        return dict(self.body.get("//", {}).get("waivers", {}))

    def get(self, dotted: str, default: Any = None) -> Any:
        """A nested value by dotted path; a one-element list of a block is stepped through."""
        value: Any = self.body
        for part in dotted.split("."):
            if isinstance(value, list) and len(value) == 1:
                value = value[0]
            if not isinstance(value, dict) or part not in value:
                return default
            value = value[part]
        # A block is a one-element list in a plan's configuration: read it as the block.
        if isinstance(value, list) and len(value) == 1 and isinstance(value[0], dict):
            return value[0]
        return value


def references(value: Any) -> list[tuple[str, str]]:
    """Every ``(type, name)`` of a resource referenced anywhere in ``value`` (data sources excluded)."""
    found: list[tuple[str, str]] = []
    for text in _strings(value):
        for data, rtype, name in _REF_RE.findall(text):
            if not data and (rtype, name) not in found:
                found.append((rtype, name))
    return found


def data_references(value: Any) -> list[tuple[str, str]]:
    """Every ``(type, name)`` of a data source referenced in ``value``."""
    found: list[tuple[str, str]] = []
    for text in _strings(value):
        for data, rtype, name in _REF_RE.findall(text):
            if data and (rtype, name) not in found:
                found.append((rtype, name))
    return found


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for key, item in value.items():
            if key != "//":
                yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


class StackDocument:
    """One stack's Terraform JSON with lookups by type and by reference."""

    def __init__(self, name: str, doc: Json) -> None:
        self.name = name
        self.doc = doc
        self._all = [
            Resource(rtype, rname, body)
            for rtype, by_name in sorted(doc.get("resource", {}).items())
            for rname, body in by_name.items()
            if body.get("count") != 0  # a resource with `count = 0` does not exist
        ]
        self._by_address = {(r.type, r.name): r for r in self._all}

    @classmethod
    def load(cls, path: str, name: str | None = None) -> StackDocument:
        from pathlib import Path

        p = Path(path)
        return cls(name or p.parent.name, json.loads(p.read_text()))

    def __iter__(self) -> Iterator[Resource]:
        return iter(self._all)

    def of_type(self, *types: str) -> list[Resource]:
        return [r for r in self._all if r.type in types]

    def lookup(self, rtype: str, name: str) -> Resource | None:
        return self._by_address.get((rtype, name))

    def referenced(self, value: Any, *types: str) -> list[Resource]:
        """Resources of ``types`` (any type if none) referenced in ``value``."""
        out = []
        for rtype, name in references(value):
            res = self.lookup(rtype, name)
            if res is not None and (not types or res.type in types):
                out.append(res)
        return out

    def referencing(self, target: Resource, *types: str, key: str | None = None) -> list[Resource]:
        """Resources of ``types`` whose body (or its ``key``) refers to ``target``."""
        out = []
        for res in self.of_type(*types) if types else self._all:
            value = res.body if key is None else res.get(key)
            if (target.type, target.name) in references(value):
                out.append(res)
        return out

    def companions(self, bucket: Resource, rtype: str) -> list[Resource]:
        """The ``aws_s3_bucket_*`` resources whose ``bucket`` argument is ``bucket``."""
        return self.referencing(bucket, rtype, key="bucket")

    @property
    def protected(self) -> bool:
        """Whether the stack's environment is protected: ``"//": {"protected": true}`` in its JSON.

        Not the environment's name: any environment can be protected (``protected = true``), and
        a ``prod`` can be unprotected on purpose on its way to a teardown. A document that does
        not say (a plan's configuration keeps no comments) is not protected.
        """
        return self.doc.get("//", {}).get(PROTECTED_MARKER) is True

    @property
    def environment(self) -> str:
        """The ``environment`` default tag of the AWS provider ("" if none)."""
        for provider in self.doc.get("provider", {}).get("aws", []):
            for block in provider.get("default_tags", []):
                env = block.get("tags", {}).get("environment")
                if env:
                    return str(env)
        return ""

    def availability_zones(self, subnet_refs: Any) -> tuple[set[str], list[str]]:
        """The AZs of the subnets referenced in ``subnet_refs``, and what could not be told.

        A subnet of this stack contributes its ``availability_zone`` (or ``_id``) as written:
        a literal AZ, or an expression such as ``element(<zones>.names, 1)``; distinct
        expressions over the same zone list are distinct AZs. Anything else (a literal
        subnet id, a variable, a splat) is returned as unknown.
        """
        zones: set[str] = set()
        unknown: list[str] = []
        checked = self._subnets_in_distinct_zones()
        for text in _strings(subnet_refs):
            subnets = self.referenced(text, "aws_subnet")
            looked_up = [name for rtype, name in data_references(text) if rtype == "aws_subnet" and name in checked]
            zones |= {f"data.aws_subnet.{name}.availability_zone_id" for name in looked_up}
            if not subnets and not looked_up:
                unknown.append(text)
            for subnet in subnets:
                if "count" in subnet.body or "for_each" in subnet.body:
                    unknown.append(text)
                    continue
                az = subnet.body.get("availability_zone", subnet.body.get("availability_zone_id"))
                if az is None:
                    unknown.append(text)
                else:
                    zones.add(str(az))
        return zones, unknown

    def _subnets_in_distinct_zones(self) -> set[str]:
        """Names of the subnet data sources (a VPC the stack does not own) that a postcondition
        ``length(distinct([<n> zone expressions])) >= <n>`` proves to be in distinct AZs: the
        plan fails before anything is created otherwise."""
        out: set[str] = set()
        for name, body in self.doc.get("data", {}).get("aws_subnet", {}).items():
            for check in body.get("lifecycle", {}).get("postcondition", []):
                found = _DISTINCT_ZONES_RE.search(str(check.get("condition", "")))
                if not found:
                    continue
                items = [i.strip() for i in found.group(1).split(",")]
                names = [name if i == "self.availability_zone_id" else i.split(".")[2] for i in items]
                if len(set(items)) == len(items) == int(found.group(2)):
                    out |= set(names)
        return out


# A plan-time proof that subnets are in distinct AZs (modules/blocks/network_lookup.py writes it).
_DISTINCT_ZONES_RE = re.compile(r"length\(distinct\(\[([^\]]*)\]\)\) >= (\d+)")


def load_outdir(outdir: str) -> list[StackDocument]:
    """Every stack synthesized into ``outdir`` (``stacks/<name>/cdk.tf.json``)."""
    from pathlib import Path

    return [StackDocument.load(str(p)) for p in sorted(Path(outdir).glob("stacks/*/cdk.tf.json"))]


def from_plan(name: str, plan: Json) -> StackDocument:
    """A stack document rebuilt from ``terraform show -json`` output.

    The plan's ``configuration`` keeps every argument as an expression: a constant, or
    the references it makes. Rebuilt as ``${<reference>}`` strings, the result reads like
    ``cdk.tf.json`` (root module only), so the policy and the scorecard work on it. Scalar
    values the plan already knows (a subnet's availability zone from a data source)
    replace their expressions: the plan does not keep an expression's constant operands.
    """
    planned = {
        r["address"]: r.get("values", {})
        for r in plan.get("planned_values", {}).get("root_module", {}).get("resources", [])
    }
    config = plan.get("configuration", {})
    root = config.get("root_module", {})
    resources: Json = {}
    data: Json = {}
    for res in root.get("resources", []):
        body = _from_expressions(res.get("expressions", {}))
        known = planned.get(res["address"], {})
        body.update({k: v for k, v in known.items() if isinstance(v, (str, int, float, bool)) and k in body})
        if "count_expression" in res:
            count = res["count_expression"].get("constant_value")
            body["count"] = count if count is not None else "${unknown}"
        target = data if res.get("mode") == "data" else resources
        target.setdefault(res["type"], {})[res["name"]] = body
    providers = [
        _from_expressions(p.get("expressions", {}))
        for key, p in config.get("provider_config", {}).items()
        if key.split(".")[0] == "aws"
    ]
    return StackDocument(name, {"resource": resources, "data": data, "provider": {"aws": providers}})


def _from_expressions(expressions: Any) -> Any:
    if isinstance(expressions, list):
        return [_from_expressions(e) for e in expressions]
    if not isinstance(expressions, dict):
        return expressions
    if "constant_value" in expressions:
        return expressions["constant_value"]
    if "references" in expressions and set(expressions) <= {"references"}:
        return " ".join("${" + ref + "}" for ref in expressions["references"]) or None
    return {key: _from_expressions(value) for key, value in expressions.items()}
