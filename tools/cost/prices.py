"""The dated price table (``tools/cost/prices.toml``), read into checked, typed prices."""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

PRICES_FILE = Path(__file__).with_name("prices.toml")


@dataclass(frozen=True, kw_only=True)
class Price:
    key: str
    usd: float
    per: Literal["hour", "month", "unit"]  # "unit": a usage price, per `unit`
    unit: str
    page: str


@dataclass(frozen=True, kw_only=True)
class PriceTable:
    region: str
    date: str
    hours_per_month: int
    fixed: Mapping[str, Price]
    usage: Mapping[str, Price]
    ec2: Mapping[str, Price]  # instance type -> on-demand hourly price
    ec2_page: str

    def monthly(self, key: str) -> float:
        """The month's cost of one unit of the fixed price ``key``."""
        price = self.fixed[key]
        return price.usd * (self.hours_per_month if price.per == "hour" else 1)

    def instance_hourly(self, instance_type: str, where: str) -> float:
        price = self.ec2.get(instance_type)
        if price is None:
            raise ValueError(
                f"{where}: no on-demand price for instance type {instance_type!r}: add it under [ec2.on_demand] "
                f"in {PRICES_FILE.name} (from {self.ec2_page})"
            )
        return price.usd


def _price(key: str, raw: Mapping[str, Any], per: str | None, problems: list[str]) -> Price | None:
    kind = per or raw.get("per")
    fields = all(f in raw for f in ("usd", "unit", "page"))
    if not fields or kind not in ("hour", "month", "unit") or not str(raw.get("page", "")).startswith("https://aws."):
        problems.append(f"{key}: needs usd, unit, per (hour or month) and page (an https://aws.amazon.com/ URL)")
        return None
    per_kind: Literal["hour", "month", "unit"] = "hour" if kind == "hour" else "month" if kind == "month" else "unit"
    return Price(key=key, usd=float(raw["usd"]), per=per_kind, unit=str(raw["unit"]), page=str(raw["page"]))


def load_prices(path: Path = PRICES_FILE) -> PriceTable:
    """The table at ``path``; an error names every malformed entry."""
    data = tomllib.loads(path.read_text())
    problems: list[str] = []
    fixed = {k: _price(f"fixed.{k}", v, None, problems) for k, v in data.get("fixed", {}).items()}
    usage = {k: _price(f"usage.{k}", v, "unit", problems) for k, v in data.get("usage", {}).items()}
    ec2_raw = data.get("ec2", {})
    ec2 = {
        t: _price(
            f"ec2.on_demand.{t}",
            {"usd": usd, "unit": f"{t} instance", "page": ec2_raw.get("page", "")},
            "hour",
            problems,
        )
        for t, usd in ec2_raw.get("on_demand", {}).items()
    }
    for field in ("region", "date", "hours_per_month"):
        if field not in data:
            problems.append(f"{field}: missing")
    if problems:
        raise ValueError(f"{path}: " + "; ".join(problems))
    return PriceTable(
        region=str(data["region"]),
        date=str(data["date"]),
        hours_per_month=int(data["hours_per_month"]),
        fixed={k: v for k, v in fixed.items() if v},
        usage={k: v for k, v in usage.items() if v},
        ec2={k: v for k, v in ec2.items() if v},
        ec2_page=str(ec2_raw.get("page", "")),
    )
