"""The rule across settings on every ARN a user gives: its resource is in the region where it is
used. A certificate, a topic, a key or a stream is regional; an ARN of another region is accepted
by nothing at apply. Each ARN setting says where it is used (``arn(..., used_in=...)`` in
:mod:`modules.config.checks`); this walks every section, so a new ARN setting is covered."""

from __future__ import annotations

from collections.abc import Iterator

from pydantic import BaseModel

from modules.config.checks import ArnCheck
from modules.core import aws_catalogue


def _arn_fields(settings: BaseModel) -> Iterator[tuple[str, str, ArnCheck]]:
    """(dotted name, value, its check) of each ARN setting that is set, top-level and in sections."""
    for name, info in type(settings).model_fields.items():
        value = getattr(settings, name)
        if isinstance(value, BaseModel):
            yield from ((f"{name}.{sub}", v, c) for sub, v, c in _arn_fields(value))
            continue
        for meta in info.metadata:
            if isinstance(meta, ArnCheck) and isinstance(value, str) and value.startswith("arn:"):
                yield name, value, meta


def _setting(settings: BaseModel, dotted: str) -> object:
    value: object = settings
    for part in dotted.split("."):
        value = getattr(value, part)
    return value


def arn_region_problems(settings: BaseModel) -> list[str]:
    """Each ARN whose region (or partition) is not that of the setting naming where it is used."""
    out: list[str] = []
    for name, value, rule in _arn_fields(settings):
        used = _setting(settings, rule.used_in)
        partition, region = value.split(":")[1], value.split(":")[3]
        if not isinstance(used, str) or not used:
            continue  # not used (ha_failover.secondary_region unset): its own rules say so
        if region != used:
            out.append(
                f"{name} = {value!r}: must be an ARN of {rule.used_in} = {used!r}, where it is used, not of "
                f"{region!r} (a resource of {rule.service} is regional: give one in {used})"
            )
        elif partition != aws_catalogue.partition_of(used):
            out.append(
                f"{name} = {value!r}: partition {partition!r}, but {rule.used_in} = {used!r} is in "
                f"{aws_catalogue.partition_of(used)!r}"
            )
    return out
