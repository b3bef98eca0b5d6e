"""AWS's own catalogue, offline: what botocore ships with the boto3 pinned in Pipfile.lock.

- the partitions and their regions (``partitions.json``);
- the EC2 instance types (the ``InstanceType`` enum of the newest EC2 service model);
- the names an interface endpoint takes (``com.amazonaws.<region>.<name>``): the services of
  ``endpoints.json`` and every service model's ``endpointPrefix``, plus the few names of
  :mod:`modules.core.aws_facts`.

Nothing is fetched at run time and botocore itself is not imported: its data files are read
where the installed package keeps them, once per process (``functools.cache``). What botocore
does not hold (zone id prefixes, Fargate sizes) is in :mod:`modules.core.aws_facts`.

``python -m modules.core.aws_catalogue regions|instance-types|endpoints`` lists them.
"""

from __future__ import annotations

import difflib
import gzip
import importlib.util
import json
import re
import sys
from collections.abc import Iterable
from functools import cache
from pathlib import Path
from typing import Any

from modules.core.aws_facts import INTERFACE_ENDPOINT_EXTRA_NAMES, ZONE_ID_PREFIX


@cache
def _data_dir() -> Path:
    spec = importlib.util.find_spec("botocore")  # finds the package without importing it
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("botocore is not installed (it comes with boto3, a dependency in Pipfile)")
    return Path(next(iter(spec.submodule_search_locations))) / "data"


def _json(path: Path) -> Any:
    if path.suffix == ".gz":
        with gzip.open(path, "rb") as fh:
            return json.load(fh)
    return json.loads(path.read_bytes())


def _newest_model(service: str) -> Path:
    """The newest API version's service model of ``service``."""
    versions = sorted(p for p in (_data_dir() / service).iterdir() if p.is_dir())
    for version in reversed(versions):
        for name in ("service-2.json.gz", "service-2.json"):
            if (version / name).is_file():
                return version / name
    raise RuntimeError(f"botocore has no service model of {service}")


@cache
def partitions() -> dict[str, frozenset[str]]:
    """Partition (``aws``, ``aws-cn``, ``aws-us-gov``...) -> its regions (global pseudo-regions left out)."""
    data = _json(_data_dir() / "partitions.json")
    return {p["id"]: frozenset(r for r in p["regions"] if not r.endswith("-global")) for p in data["partitions"]}


@cache
def regions() -> frozenset[str]:
    """Every region of every partition."""
    return frozenset(r for found in partitions().values() for r in found)


def partition_of(region: str) -> str | None:
    """The partition ``region`` is in, or None for a region botocore does not know."""
    return next((name for name, found in partitions().items() if region in found), None)


@cache
def instance_types() -> frozenset[str]:
    """Every EC2 instance type of the newest EC2 service model."""
    model = _json(_newest_model("ec2"))
    return frozenset(model["shapes"]["InstanceType"]["enum"])


def _with_reversed(names: Iterable[str]) -> set[str]:
    """Names as they are and with their dotted parts reversed: endpoint ``api.ecr`` is interface ``ecr.api``."""
    out: set[str] = set()
    for name in names:
        out |= {name, ".".join(reversed(name.split(".")))}
    return out


@cache
def _endpoint_names_quick() -> frozenset[str]:
    """The services of ``endpoints.json`` (one small file) and the table's extra names."""
    data = _json(_data_dir() / "endpoints.json")
    services = {name for p in data["partitions"] for name in p["services"]}
    return frozenset(_with_reversed(services) | set(INTERFACE_ENDPOINT_EXTRA_NAMES))


_PREFIX_RE = re.compile(rb'"endpointPrefix"\s*:\s*"([^"]+)"')


@cache
def interface_endpoint_names() -> frozenset[str]:
    """Every name an interface endpoint may take: the quick set and each service model's
    ``endpointPrefix`` (read from the head of each model, where its metadata is)."""
    prefixes: set[str] = set()
    for service in sorted(p for p in _data_dir().iterdir() if p.is_dir()):
        try:
            model = _newest_model(service.name)
        except RuntimeError:
            continue
        opener = gzip.open if model.suffix == ".gz" else open
        with opener(model, "rb") as fh:
            found = _PREFIX_RE.search(fh.read(4096))
        if found:
            prefixes.add(found.group(1).decode())
    return frozenset(_endpoint_names_quick() | _with_reversed(prefixes))


def is_interface_endpoint_name(name: str) -> bool:
    """Whether ``name`` is a service an interface endpoint can reach (the quick set first)."""
    return name in _endpoint_names_quick() or name in interface_endpoint_names()


def zone_id_prefix(region: str) -> str | None:
    """The prefix of ``region``'s zone ids (``euw1``), when the dated table has it."""
    return ZONE_ID_PREFIX.get(region)


def region_of_zone_prefix(prefix: str) -> str | None:
    """The region whose zone ids start with ``prefix``, when the dated table has it."""
    return next((region for region, known in ZONE_ID_PREFIX.items() if known == prefix), None)


def closest(name: str, known: Iterable[str]) -> str | None:
    """The known name closest to ``name`` (a typo's likely meaning), or None."""
    found = difflib.get_close_matches(name, list(known), n=1, cutoff=0.75)
    return found[0] if found else None


def did_you_mean(name: str, known: Iterable[str]) -> str:
    """``; did you mean `x`?`` when a known name is close to ``name``, else ``""``."""
    found = closest(name, known)
    return f"; did you mean `{found}`?" if found else ""


def with_closest(name: str, known: Iterable[str]) -> str:
    """``'name'``, and the known name it is likely a typo of: ``'c7i.lrage' (did you mean `c7i.large`?)``."""
    found = closest(name, known)
    return f"{name!r} (did you mean `{found}`?)" if found else repr(name)


_LISTS = {
    "regions": regions,
    "instance-types": instance_types,
    "endpoints": interface_endpoint_names,
}


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[1] not in _LISTS:
        print(f"usage: python -m modules.core.aws_catalogue {'|'.join(_LISTS)}", file=sys.stderr)
        return 2
    print("\n".join(sorted(_LISTS[argv[1]]())))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
