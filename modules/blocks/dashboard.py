"""A stack's CloudWatch dashboard from typed graphs, refusing one that hides an alarm.

Every stack builds its dashboard here, from the metrics of its :class:`AlarmSpec` s and the
graphs its ``observability.py`` lists: a person paged by an alarm finds its metric on the
stack's dashboard.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, get_args

from cdktf_cdktf_provider_aws.cloudwatch_dashboard import CloudwatchDashboard
from constructs import Construct

from modules.blocks.alarms import PERIOD_S, AlarmSpec, Metric, statistic_problem

GRID_COLUMNS = 24  # CloudWatch's dashboard grid
STATUS_HEIGHT = 3  # an alarm status widget's rows
Layout = Literal["flow", "grid"]
View = Literal["timeSeries", ""]


@dataclass(frozen=True, kw_only=True)
class Line:
    """A metric on a graph drawn with its own statistic instead of the graph's."""

    metric: Metric
    stat: str

    def __post_init__(self) -> None:
        if problem := statistic_problem(self.stat):
            raise ValueError(f"Line {self.metric.namespace} {self.metric.name}: stat={self.stat!r}: {problem}")


@dataclass(frozen=True, kw_only=True)
class Graph:
    """A time-series widget: ``lines`` over one-minute periods, by ``stat`` unless a line says
    otherwise; ``region`` empty: the dashboard's."""

    title: str
    lines: Sequence[Metric | Line]
    stat: str = "Sum"
    region: str = ""
    width: int = 12
    height: int = 6

    def __post_init__(self) -> None:
        problems = []
        if not self.title:
            problems.append("title: must not be empty")
        if not self.lines:
            problems.append("lines: must draw at least one metric")
        if problem := statistic_problem(self.stat):
            problems.append(f"stat={self.stat!r}: {problem}")
        if not 1 <= self.width <= GRID_COLUMNS:
            problems.append(f"width={self.width}: must be 1-{GRID_COLUMNS}")
        if not 1 <= self.height <= 1000:
            problems.append(f"height={self.height}: must be 1-1000")
        if problems:
            raise ValueError(f"Graph {self.title!r}: " + "; ".join(problems))

    def metrics(self) -> tuple[Metric, ...]:
        return tuple(line.metric if isinstance(line, Line) else line for line in self.lines)


@dataclass(frozen=True, kw_only=True)
class AlarmStatus:
    """An alarm status widget: the state of ``alarm_arns``, under a title that says what their
    ALARM means; drawn first, full width."""

    title: str
    alarm_arns: Sequence[str]

    def __post_init__(self) -> None:
        if not self.title or not self.alarm_arns:
            raise ValueError(f"AlarmStatus {self.title!r}: needs a title and at least one alarm")


@dataclass(frozen=True, kw_only=True)
class DashboardProps:
    name: str
    region: str
    graphs: Sequence[Graph]
    # Every metric these alarms read must be on a graph, or the dashboard is refused.
    alarms: Sequence[AlarmSpec] = ()
    # Layout: "flow" lets CloudWatch place the widgets in order; "grid" places them
    # explicitly, left to right and top to bottom.
    layout: Layout = "flow"
    view: View = ""  # "": CloudWatch's default (a time series)
    # Every line ends with its options object, {} when it has none (the form the
    # model-serving dashboard was deployed with: a change would show in every plan).
    line_options: bool = False
    status: Sequence[AlarmStatus] = ()

    def __post_init__(self) -> None:
        problems = []
        if not self.name:
            problems.append("name: must not be empty")
        if not self.region:
            problems.append("region: must not be empty")
        if not self.graphs:
            problems.append("graphs: a dashboard needs at least one graph")
        if self.layout not in get_args(Layout):
            problems.append(f"layout={self.layout!r}: must be one of {', '.join(get_args(Layout))}")
        if self.view not in get_args(View):
            problems.append(f"view={self.view!r}: must be timeSeries or empty (CloudWatch's default)")
        shown = {metric.identity() for graph in self.graphs for metric in graph.metrics()}
        for spec in self.alarms:
            for metric in spec.metrics():
                if metric.identity() not in shown:
                    problems.append(
                        f"alarms: {spec.key!r} reads {metric.namespace} {metric.name} "
                        f"{dict(metric.dimensions)}, which no graph shows"
                    )
        if problems:
            raise ValueError(f"DashboardProps {self.name!r}: " + "; ".join(problems))


def alarm_graph(spec: AlarmSpec, *, width: int = 12, height: int = 6) -> Graph:
    """A graph of the metrics one alarm reads, titled by its key, with its statistic."""
    stat = spec.statistic if isinstance(spec.metric, Metric) else spec.metric.statistic
    return Graph(title=spec.key, lines=spec.metrics(), stat=stat, width=width, height=height)


def dashboard_body(props: DashboardProps) -> str:
    """The dashboard's JSON body."""
    widgets: list[dict[str, Any]] = [
        {
            "type": "alarm",
            "width": GRID_COLUMNS,
            "height": STATUS_HEIGHT,
            "properties": {"title": status.title, "alarms": list(status.alarm_arns)},
            **({"x": 0, "y": STATUS_HEIGHT * i} if props.layout == "grid" else {}),
        }
        for i, status in enumerate(props.status)
    ]
    x, y, row_height = 0, STATUS_HEIGHT * len(props.status), 0
    for graph in props.graphs:
        properties: dict[str, Any] = {
            "title": graph.title,
            "region": graph.region or props.region,
            "stat": graph.stat,
            "period": PERIOD_S,
        }
        if props.view:
            properties["view"] = props.view
        properties["metrics"] = [_line(line, props.line_options) for line in graph.lines]
        widget: dict[str, Any] = {"type": "metric"}
        if props.layout == "grid":
            if x + graph.width > GRID_COLUMNS:
                x, y, row_height = 0, y + row_height, 0
            widget |= {"x": x, "y": y}
            x, row_height = x + graph.width, max(row_height, graph.height)
        widgets.append(widget | {"width": graph.width, "height": graph.height, "properties": properties})
    return json.dumps({"widgets": widgets})


def _line(line: Metric | Line, with_options: bool) -> list[Any]:
    metric = line.metric if isinstance(line, Line) else line
    drawn: list[Any] = [metric.namespace, metric.name, *(x for kv in metric.dimensions.items() for x in kv)]
    if isinstance(line, Line):
        drawn.append({"stat": line.stat})
    elif with_options:
        drawn.append({})
    return drawn


def dashboard(scope: Construct, props: DashboardProps, *, id: str = "dashboard") -> CloudwatchDashboard:
    """The dashboard, created directly in ``scope`` (every stack's is at ``<stack>/dashboard``:
    its Terraform address)."""
    return CloudwatchDashboard(scope, id, dashboard_name=props.name, dashboard_body=dashboard_body(props))
