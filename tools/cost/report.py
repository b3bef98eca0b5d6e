"""The fixed monthly cost of synthesized stacks: per stack and per resource kind, in markdown."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from modules.policy.document import StackDocument
from tools.cost.kinds import KINDS
from tools.cost.prices import PRICES_FILE, PriceTable
from tools.cost.rules import Charge


@dataclass(frozen=True)
class Line:
    kind: str
    price: str
    quantity: float
    monthly: float
    spot: bool


@dataclass(frozen=True)
class StackCost:
    name: str
    lines: tuple[Line, ...]
    elsewhere: int  # priced resources on another provider (region), priced at the table's region

    @property
    def total(self) -> float:
        return sum(line.monthly for line in self.lines)

    @property
    def spot(self) -> float:
        return sum(line.monthly for line in self.lines if line.spot)


class UnclassifiedError(ValueError):
    pass


def unclassified(docs: Iterable[StackDocument]) -> dict[str, list[str]]:
    """Resource type -> the stacks holding it, for each type :data:`KINDS` does not know."""
    found: dict[str, list[str]] = defaultdict(list)
    for doc in docs:
        for rtype in sorted({r.type for r in doc if r.type not in KINDS}):
            found[rtype].append(doc.name)
    return dict(found)


def unit_monthly(prices: PriceTable, key: str) -> float:
    if key.startswith("ec2:"):
        return prices.instance_hourly(key.removeprefix("ec2:"), "a charge") * prices.hours_per_month
    if key not in prices.fixed:
        raise ValueError(f"no price {key!r} under [fixed] in {PRICES_FILE}")
    return prices.monthly(key)


def stack_cost(doc: StackDocument, prices: PriceTable) -> StackCost:
    missing = unclassified([doc])
    if missing:
        raise UnclassifiedError(
            f"{doc.name}: resource type(s) {', '.join(sorted(missing))} are neither priced, usage-only nor free: "
            "classify each in tools/cost/kinds.py"
        )
    grouped: dict[tuple[str, str, bool], float] = defaultdict(float)
    elsewhere = 0
    for res in doc:
        rule = KINDS[res.type].rule
        charges: list[Charge] = rule(doc, res, prices) if rule else []
        elsewhere += bool(charges and res.body.get("provider"))
        copies = res.body.get("count", 1)
        if charges and (not isinstance(copies, int) or "for_each" in res.body):
            raise ValueError(f"{doc.name}: {res.address}: cannot count the copies of a `count`/`for_each` expression")
        for c in charges:
            grouped[(c.kind, c.price, c.spot)] += c.quantity * copies
    lines = tuple(
        Line(kind, price, qty, qty * unit_monthly(prices, price), spot)
        for (kind, price, spot), qty in grouped.items()
        if qty
    )
    lines = tuple(sorted(lines, key=lambda line: (-line.monthly, line.kind, line.price)))
    return StackCost(doc.name, lines, elsewhere)


def money(usd: float) -> str:
    return f"${usd:,.2f}"


def _quantity(q: float) -> str:
    return f"{q:,.3f}".rstrip("0").rstrip(".")


def _usd(x: float) -> str:
    return f"${x:.2f}" if round(x, 2) == x else f"${x:g}"


def _unit_price(prices: PriceTable, key: str) -> str:
    if key.startswith("ec2:"):
        return f"{_usd(prices.instance_hourly(key[4:], 'a charge'))}/hour ({key[4:]})"
    p = prices.fixed[key]
    return f"{_usd(p.usd)}/{p.per} ({p.unit})"


def totals_table(costs: list[StackCost]) -> list[str]:
    rows = ["| stack | fixed $/month | of which spot, at its on-demand ceiling |", "|---|--:|--:|"]
    rows += [f"| `{c.name}` | {money(c.total)} | {money(c.spot)} |" for c in costs]
    total, spot = sum(c.total for c in costs), sum(c.spot for c in costs)
    return [*rows, f"| **total** | **{money(total)}** | {money(spot)} |"]


def kind_table(costs: list[StackCost]) -> list[str]:
    """Resource kind x stack, $/month: where the money goes."""
    by_kind: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for c in costs:
        for line in c.lines:
            by_kind[line.kind][c.name] += line.monthly
    names = [c.name for c in costs]
    rows = ["| kind | " + " | ".join(f"`{n}`" for n in names) + " | total |", "|---|" + "--:|" * (len(names) + 1)]
    for kind, per in sorted(by_kind.items(), key=lambda kv: -sum(kv[1].values())):
        cells = [money(per[n]) if per.get(n) else "-" for n in names]
        rows.append(f"| {kind} | " + " | ".join(cells) + f" | {money(sum(per.values()))} |")
    return rows


def stack_table(cost: StackCost, prices: PriceTable) -> list[str]:
    rows = [f"#### `{cost.name}`: {money(cost.total)} a month", ""]
    if not cost.lines:
        return [*rows, "No fixed charge: everything here is paid by use."]
    rows += ["| kind | quantity | unit price | $/month |", "|---|--:|---|--:|"]
    rows += [
        f"| {ln.kind} | {_quantity(ln.quantity)} | {_unit_price(prices, ln.price)} | {money(ln.monthly)} |"
        for ln in cost.lines
    ]
    if cost.elsewhere:
        rows += ["", f"{cost.elsewhere} priced resource(s) live in another region, priced at {prices.region} rates."]
    return rows


def classification_table() -> list[str]:
    rows = ["| resource type | counted as | usage prices | note |", "|---|---|---|---|"]
    order = {"priced": 0, "usage-only": 1, "free": 2}
    for rtype, kind in sorted(KINDS.items(), key=lambda kv: (order[kv[1].category], kv[0])):
        usage = ", ".join(f"`{u}`" for u in kind.usage) or "-"
        rows.append(f"| `{rtype}` | {kind.category} | {usage} | {kind.note or '-'} |")
    return rows


def price_tables(prices: PriceTable) -> list[str]:
    rows = ["| fixed price | USD | per | what | page |", "|---|--:|---|---|---|"]
    rows += [
        f"| `{k}` | {p.usd:g} | {p.per} | {p.unit} | [{_page(p.page)}]({p.page}) |" for k, p in prices.fixed.items()
    ]
    rows += [
        f"| `ec2:{t}` | {p.usd:g} | hour | {p.unit}, on-demand, Linux | [{_page(p.page)}]({p.page}) |"
        for t, p in prices.ec2.items()
    ]
    rows += ["", "| usage price | USD | per | page |", "|---|--:|---|---|"]
    rows += [f"| `{k}` | {p.usd:g} | {p.unit} | [{_page(p.page)}]({p.page}) |" for k, p in prices.usage.items()]
    return rows


def _page(url: str) -> str:
    return url.removeprefix("https://aws.amazon.com/").strip("/") or url


def render(docs: Iterable[StackDocument], prices: PriceTable) -> str:
    """The generated part of docs/cost.md."""
    costs = [stack_cost(doc, prices) for doc in docs]
    parts = [
        f"Prices: `tools/cost/prices.toml`, {prices.region}, dated {prices.date}; "
        f"{prices.hours_per_month} hours a month.",
        "",
        "### Per stack",
        "",
        *totals_table(costs),
        "",
        "### Per resource kind ($/month)",
        "",
        *kind_table(costs),
        "",
        "### What each stack runs",
        "",
    ]
    for cost in costs:
        parts += [*stack_table(cost, prices), ""]
    parts += ["### Every resource type", "", *classification_table(), "", "### The prices", "", *price_tables(prices)]
    return "\n".join(parts)


def text_report(costs: list[StackCost], prices: PriceTable, source: str) -> str:
    """What ``make cost`` prints: the totals, then each stack's lines."""
    head = f"fixed monthly cost of {source} ({prices.region} list prices of {prices.date}, {PRICES_FILE.name})"
    parts = [head, "", *totals_table(costs), "", *kind_table(costs), ""]
    for cost in costs:
        parts += [*stack_table(cost, prices), ""]
    return "\n".join(parts)
