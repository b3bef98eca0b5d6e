"""An in-process DynamoDB table for the stream worker's lease table, with AWS's semantics on
the calls the worker makes, and the capacity units each call consumes.

Only what the worker uses: PutItem, GetItem, UpdateItem, DeleteItem, Scan (paged at 1 MB,
consistent or not). Condition expressions are ``AND``-joined terms of ``name = :value``,
``attribute_exists(name)`` and ``attribute_not_exists(name)``; update expressions are
``SET name = :value | name = name + :value, ...`` and ``REMOVE name, ...``. Anything else
raises ``ValueError``: the fake never guesses. ``tests/test_fake_aws_matches_moto.py`` holds
these answers to the emulator's.

Capacity, as DynamoDB bills it (developer guide, "Read/write capacity mode"): a write is
``ceil(max(old, new item size) / 1 KB)`` write units, also when its condition fails; a
GetItem ``ceil(size / 4 KB)`` read units (half if eventually consistent); a Scan page the
sum of the sizes of the items it read, rounded up to 4 KB, whatever it returns.
"""

from __future__ import annotations

import copy
import math
import re
import threading
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from botocore.exceptions import ClientError

Item = dict[str, dict[str, Any]]
PAGE_BYTES = 1024 * 1024


def client_error(code: str, message: str, operation: str, status: int = 400) -> ClientError:
    return ClientError(
        {"Error": {"Code": code, "Message": message}, "ResponseMetadata": {"HTTPStatusCode": status}}, operation
    )


def value_size(value: dict[str, Any]) -> int:
    """Bytes of one attribute value as DynamoDB counts them."""
    kind, raw = next(iter(value.items()))
    if kind == "S":
        return len(str(raw).encode())
    if kind == "N":
        digits = str(raw).lstrip("-").replace(".", "").lstrip("0") or "0"
        return (len(digits) + 1) // 2 + 1
    if kind == "B":
        return len(raw)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "L":
        return 3 + sum(value_size(v) + 1 for v in raw)
    if kind == "M":
        return 3 + sum(len(k.encode()) + value_size(v) + 1 for k, v in raw.items())
    raise ValueError(f"attribute type {kind!r} is not modelled")


def item_size(item: Item | None) -> int:
    return sum(len(name.encode()) + value_size(value) for name, value in (item or {}).items())


def copy_item(item: Item) -> Item:
    """A copy of ``item`` (values are flat, or lists of flat values: what the worker writes)."""
    return {k: {"L": [dict(x) for x in v["L"]]} if "L" in v else dict(v) for k, v in item.items()}


def _number(value: dict[str, Any]) -> Any:
    return Decimal(value["N"]) if "N" in value else value


def _resolve(token: str, names: dict[str, str]) -> str:
    token = token.strip()
    if token.startswith("#"):
        if token not in names:
            raise ValueError(f"expression name {token} has no ExpressionAttributeNames entry")
        return names[token]
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", token):
        raise ValueError(f"unsupported attribute name {token!r}")
    return token


def condition_holds(item: Item | None, expression: str, names: dict[str, str], values: dict[str, Any]) -> bool:
    """``expression`` evaluated on ``item`` (None: no item)."""
    for term in re.split(r"\s+AND\s+", expression.strip()):
        term = term.strip()
        function = re.fullmatch(r"(attribute_exists|attribute_not_exists)\(\s*([#\w]+)\s*\)", term)
        if function:
            present = item is not None and _resolve(function.group(2), names) in item
            if present != (function.group(1) == "attribute_exists"):
                return False
            continue
        compare = re.fullmatch(r"([#\w]+)\s*=\s*(:\w+)", term)
        if not compare:
            raise ValueError(f"unsupported condition term {term!r}")
        actual = (item or {}).get(_resolve(compare.group(1), names))
        if actual is None or _number(actual) != _number(values[compare.group(2)]):
            return False
    return True


def apply_update(item: Item, expression: str, names: dict[str, str], values: dict[str, Any]) -> None:
    """``SET`` and ``REMOVE`` clauses of ``expression`` applied to ``item`` in place."""
    clauses = re.split(r"\b(SET|REMOVE)\b", expression.strip())
    if clauses[0].strip():
        raise ValueError(f"unsupported update expression {expression!r}")
    for verb, body in zip(clauses[1::2], clauses[2::2], strict=True):
        for action in body.split(","):
            if verb == "REMOVE":
                item.pop(_resolve(action, names), None)
                continue
            target, _, source = action.partition("=")
            parts = [p.strip() for p in source.split("+")]
            if len(parts) == 1 and parts[0].startswith(":"):
                item[_resolve(target, names)] = copy.deepcopy(values[parts[0]])
            elif len(parts) == 2 and parts[1].startswith(":"):
                base = item.get(_resolve(parts[0], names))
                if base is None:
                    raise client_error("ValidationException", "operand of + is missing", "UpdateItem")
                total = Decimal(base["N"]) + Decimal(values[parts[1]]["N"])
                item[_resolve(target, names)] = {"N": str(total)}
            else:
                raise ValueError(f"unsupported SET action {action!r}")


class FakeTable:
    """One table, hash key ``key_name``; every call atomic. ``on_call(operation,
    read_units, write_units)`` is told what each call consumed."""

    def __init__(self, name: str, key_name: str = "lease_key") -> None:
        self.name = name
        self.key_name = key_name
        self.items: dict[str, Item] = {}
        self.lock = threading.Lock()
        self.on_write: Callable[[Item | None, Item | None], None] = lambda old, new: None

    def _key(self, key: dict[str, Any]) -> str:
        return str(key[self.key_name]["S"])

    def _check(self, item: Item | None, kwargs: dict[str, Any], operation: str) -> None:
        condition = kwargs.get("ConditionExpression")
        names = kwargs.get("ExpressionAttributeNames", {})
        if condition and not condition_holds(item, condition, names, kwargs.get("ExpressionAttributeValues", {})):
            raise client_error("ConditionalCheckFailedException", "The conditional request failed", operation)

    def _write(self, key: str, new: Item | None, kwargs: dict[str, Any], operation: str) -> float:
        """Replace (None: delete) the item at ``key`` if the condition holds; the write units,
        which a failed condition consumes too (on the exception: ``consumed``). Under the lock."""
        old = self.items.get(key)
        units = write_units(old, new)
        try:
            self._check(old, kwargs, operation)
        except ClientError as exc:
            exc.consumed = (0.0, units)
            raise
        if new is None:
            self.items.pop(key, None)
        else:
            self.items[key] = new
        self.on_write(old, new)
        return units

    def put_item(self, kwargs: dict[str, Any]) -> tuple[dict[str, Any], float, float]:
        new = copy.deepcopy(kwargs["Item"])
        with self.lock:
            units = self._write(self._key(new), new, kwargs, "PutItem")
        return {}, 0.0, units

    def get_item(self, kwargs: dict[str, Any]) -> tuple[dict[str, Any], float, float]:
        with self.lock:
            found = self.items.get(self._key(kwargs["Key"]))
            item = copy_item(found) if found else None
        units = read_units(item_size(item), kwargs.get("ConsistentRead", False))
        return ({"Item": item} if item else {}), units, 0.0

    def delete_item(self, kwargs: dict[str, Any]) -> tuple[dict[str, Any], float, float]:
        with self.lock:
            units = self._write(self._key(kwargs["Key"]), None, kwargs, "DeleteItem")
        return {}, 0.0, units

    def update_item(self, kwargs: dict[str, Any]) -> tuple[dict[str, Any], float, float]:
        key = self._key(kwargs["Key"])
        with self.lock:
            old = self.items.get(key)
            new = copy.deepcopy(old) if old else copy.deepcopy(kwargs["Key"])
            names, values = kwargs.get("ExpressionAttributeNames", {}), kwargs.get("ExpressionAttributeValues", {})
            apply_update(new, kwargs["UpdateExpression"], names, values)
            units = self._write(key, new, kwargs, "UpdateItem")
        out = {"Attributes": copy_item(new)} if kwargs.get("ReturnValues") == "ALL_NEW" else {}
        return out, 0.0, units

    def scan(self, kwargs: dict[str, Any]) -> tuple[dict[str, Any], float, float]:
        with self.lock:
            keys = sorted(self.items)
            start = kwargs.get("ExclusiveStartKey")
            if start is not None:
                keys = [k for k in keys if k > self._key(start)]
            page: list[Item] = []
            size = 0
            for key in keys:
                if size >= PAGE_BYTES:
                    break
                page.append(copy_item(self.items[key]))
                size += item_size(self.items[key])
        out: dict[str, Any] = {"Items": page, "Count": len(page), "ScannedCount": len(page)}
        if page and len(page) < len(keys):
            out["LastEvaluatedKey"] = {self.key_name: page[-1][self.key_name]}
        return out, read_units(size, kwargs.get("ConsistentRead", False)), 0.0


def write_units(old: Item | None, new: Item | None) -> float:
    return float(max(1, math.ceil(max(item_size(old), item_size(new)) / 1024)))


def read_units(size: int, consistent: bool) -> float:
    units = float(max(1, math.ceil(size / 4096)))
    return units if consistent else units / 2
