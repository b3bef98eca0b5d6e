"""Alarms and dashboards: one typed spec per alarm, one dashboard per architecture stack that
shows every alarm's metric, rollouts guarded by exactly the alarms flagged to guard them, and
every architecture folder shaped the same way."""

from __future__ import annotations

import ast
import json
import math
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from modules.app import STACKS, STATE_STACK, build_app
from modules.blocks.alarms import AlarmSpec, Metric, MetricMath
from modules.blocks.dashboard import DashboardProps, Graph, dashboard_body
from modules.core.paths import PROJECT_ROOT
from modules.registry import STACKS as REGISTERED
from modules.stack.base import BaseStack
from tests.conftest import StackDoc, load_stacks, resources, settings_from

ARCHITECTURES = PROJECT_ROOT / "modules" / "architectures"
# The state stack is the bootstrap bucket of every other stack's state, written only by
# Terraform runs, whose person sees a failure at once; no rollout, nothing to page anyone
# about: no alarms, so no observability.py and no dashboard.
WATCHED_STACKS = [name for name in STACKS if name != STATE_STACK]
PACKAGES = {entry.name: entry for entry in REGISTERED}

ERRORS = Metric(namespace="AWS/Lambda", name="Errors", dimensions={"FunctionName": "f"})


def spec(**overrides: Any) -> AlarmSpec:
    fields: dict[str, Any] = {
        "key": "errors",
        "metric": ERRORS,
        "statistic": "Sum",
        "threshold": 0,
        "description": "the function fails: read its log",
    }
    return AlarmSpec(**(fields | overrides))


# --- AlarmSpec ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("threshold", math.nan),
        ("threshold", math.inf),
        ("threshold", "5"),
        ("threshold", True),
        ("periods", 0),
        ("periods", 1441),  # evaluation periods x one minute must fit in a day
        ("periods", 2.5),
        ("datapoints", 0),
        ("comparison", "GreaterThan"),
        ("missing", "zero"),
        ("statistic", "Median"),
        ("description", " "),
        ("key", "Errors_Count"),
    ],
)
def test_alarm_spec_refuses_a_bad_field_naming_it(field: str, value: object) -> None:
    with pytest.raises(ValueError, match=rf"^AlarmSpec '[^']+': {field}\b"):
        spec(**{field: value})


def test_alarm_spec_refuses_more_datapoints_than_periods() -> None:
    with pytest.raises(ValueError, match=r"datapoints=4: must be 1-3"):
        spec(periods=3, datapoints=4)


def test_alarm_spec_names_every_problem_at_once() -> None:
    with pytest.raises(ValueError) as refused:
        spec(threshold=math.nan, periods=0, description="")
    assert all(f in str(refused.value) for f in ("threshold=nan", "periods=0", "description")), refused.value


def test_metric_math_carries_its_own_statistic() -> None:
    math_metric = MetricMath(
        id="missing",
        expression="desired - running",
        label="tasks missing",
        metrics={"desired": ERRORS, "running": ERRORS},
        statistic="Average",
    )
    with pytest.raises(ValueError, match="statistic='Sum': must be empty with metric math"):
        spec(metric=math_metric)
    assert spec(metric=math_metric, statistic="").metrics() == (ERRORS, ERRORS)


def test_percentiles_are_statistics() -> None:
    assert spec(statistic="p99").statistic == "p99"
    assert spec(statistic="p99.9").statistic == "p99.9"


def test_alarm_name_is_the_prefix_and_the_name_or_the_key() -> None:
    assert spec().alarm_name("app") == "app-errors"
    assert spec(name="errors-high").alarm_name("app") == "app-errors-high"


# --- dashboard --------------------------------------------------------------------------------


def test_a_dashboard_that_hides_an_alarm_is_refused_naming_the_alarm() -> None:
    throttles = Metric(namespace="AWS/Lambda", name="Throttles", dimensions={"FunctionName": "f"})
    with pytest.raises(ValueError, match=r"'errors' reads AWS/Lambda Errors.*no graph shows"):
        DashboardProps(name="d", region="us-east-1", graphs=[Graph(title="t", lines=[throttles])], alarms=[spec()])


def test_a_graph_with_an_unknown_statistic_is_refused_naming_it() -> None:
    with pytest.raises(ValueError, match=r"Graph 't': stat='Mean'"):
        Graph(title="t", lines=[ERRORS], stat="Mean")


def test_a_dashboard_with_an_unknown_layout_is_refused_naming_it() -> None:
    with pytest.raises(ValueError, match=r"layout='masonry'"):
        DashboardProps(name="d", region="r", graphs=[Graph(title="t", lines=[ERRORS])], layout="masonry")  # type: ignore[arg-type]


def test_dimension_order_does_not_hide_a_metric() -> None:
    """The same dimensions in another order are the same metric; another value is not."""
    two = Metric(namespace="N", name="M", dimensions={"A": "1", "B": "2"})
    swapped = Metric(namespace="N", name="M", dimensions={"B": "2", "A": "1"})
    other = Metric(namespace="N", name="M", dimensions={"A": "1", "B": "3"})
    graphs = [Graph(title="t", lines=[swapped])]
    props = DashboardProps(name="d", region="r", graphs=graphs, alarms=[spec(metric=two)])
    assert [s.metric for s in props.alarms] == [two]
    with pytest.raises(ValueError, match=r"'errors' reads N M \{'A': '1', 'B': '3'\}, which no graph shows"):
        DashboardProps(name="d", region="r", graphs=graphs, alarms=[spec(metric=other)])


def test_grid_layout_places_graphs_left_to_right_then_down() -> None:
    graphs = [Graph(title=str(i), lines=[ERRORS], width=8) for i in range(4)]
    body = json.loads(dashboard_body(DashboardProps(name="d", region="r", graphs=graphs, layout="grid")))
    assert [(w["x"], w["y"]) for w in body["widgets"]] == [(0, 0), (8, 0), (16, 0), (0, 6)]


# --- every stack, synthesized -----------------------------------------------------------------


class Built:
    """The app built and synthesized once: the stacks' objects (their specs) and their JSON."""

    def __init__(self, outdir: Path, env: dict[str, str] | None = None, only: list[str] | None = None) -> None:
        app = build_app(settings_from(env), outdir, only)
        app.synth()
        self.stacks = {c.node.id: c for c in app.node.children if isinstance(c, BaseStack)}
        self.docs = load_stacks(outdir)

    def specs(self, stack: str) -> Mapping[str, Sequence[AlarmSpec]]:
        return self.stacks[stack].alarm_specs

    def guard_names(self, stack: str) -> list[str]:
        return [s.alarm_name(prefix) for prefix, specs in self.specs(stack).items() for s in specs if s.guards_rollout]


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    """The defaults and an alarm address: the `alarms` stack (built only with subscribers) is there too."""
    return Built(tmp_path_factory.mktemp("alarms") / "cdktf.out", {"RAI_ALARMS_EMAILS": "oncall@example.com"})


@pytest.fixture(scope="module")
def variant(tmp_path_factory: pytest.TempPathFactory) -> Built:
    """The delivery, fleet kind and region options that change which alarms exist or guard."""
    env = {
        "RAI_EVENT_PROCESSING_DELIVERY": "direct",
        "RAI_STREAM_FLEET_KIND": "asg",
        "RAI_HA_FAILOVER_SECONDARY_REGION": "us-west-2",
        "RAI_HA_FAILOVER_SECONDARY_ZONE_IDS": "usw2-az1,usw2-az2,usw2-az3",
    }
    only = ["stream-analytics", "ha-failover", "event-processing"]
    return Built(tmp_path_factory.mktemp("alarms-variant") / "cdktf.out", env, only)


def alarms(doc: StackDoc) -> list[dict[str, Any]]:
    return resources(doc, "aws_cloudwatch_metric_alarm")


def alarm_metrics(alarm: dict[str, Any]) -> Iterator[tuple[str, str, frozenset[tuple[str, str]]]]:
    if "metric_query" in alarm:
        for query in alarm["metric_query"]:
            if "metric" in query:
                m = query["metric"]
                yield m["namespace"], m["metric_name"], frozenset(m.get("dimensions", {}).items())
    else:
        yield alarm["namespace"], alarm["metric_name"], frozenset(alarm.get("dimensions", {}).items())


def dashboard_metrics(doc: StackDoc) -> set[tuple[str, str, frozenset[tuple[str, str]]]]:
    (board,) = resources(doc, "aws_cloudwatch_dashboard")
    shown = set()
    for widget in json.loads(board["dashboard_body"])["widgets"]:
        for line in widget["properties"].get("metrics", []):  # an alarm status widget draws no metric
            namespace, name, *rest = (x for x in line if not isinstance(x, dict))
            shown.add((namespace, name, frozenset(zip(rest[::2], rest[1::2], strict=True))))
    return shown


@pytest.mark.parametrize("stack", WATCHED_STACKS)
def test_every_architecture_stack_has_its_dashboard_at_a_fixed_address(built: Built, stack: str) -> None:
    # <stack>/dashboard: one Terraform address per stack, the same in every stack.
    paths = [d["//"]["metadata"]["path"] for d in resources(built.docs[stack], "aws_cloudwatch_dashboard")]
    assert paths == [f"{stack}/dashboard"]


@pytest.mark.parametrize("stack", WATCHED_STACKS)
def test_every_alarm_of_a_stack_is_on_its_dashboard(built: Built, variant: Built, stack: str) -> None:
    # A person paged by an alarm must find what it reads on the stack's dashboard.
    for docs in (built.docs, variant.docs):
        if stack not in docs:
            continue
        shown = dashboard_metrics(docs[stack])
        hidden = {a["alarm_name"]: m for a in alarms(docs[stack]) for m in alarm_metrics(a) if m not in shown}
        assert alarms(docs[stack]) and not hidden, hidden


@pytest.mark.parametrize("stack", WATCHED_STACKS)
def test_every_alarm_is_built_from_a_spec(built: Built, variant: Built, stack: str) -> None:
    for b in (built, variant):
        if stack not in b.docs:
            continue
        named = sorted(s.alarm_name(prefix) for prefix, specs in b.specs(stack).items() for s in specs)
        assert sorted(a["alarm_name"] for a in alarms(b.docs[stack])) == named
        described = {a["alarm_name"]: a["alarm_description"] for a in alarms(b.docs[stack])}
        assert all(len(d) > 20 for d in described.values()), described


def test_state_stack_has_no_alarms(built: Built) -> None:
    assert not alarms(built.docs[STATE_STACK])


def test_ecs_deployment_rolls_back_on_the_rollout_guards(built: Built) -> None:
    (service,) = resources(built.docs["model-serving"], "aws_ecs_service")
    guards = built.guard_names("model-serving")
    assert guards and service["alarms"] == {"alarm_names": guards, "enable": True, "rollback": True}


def refresh_alarms(doc: StackDoc) -> dict[str, list[str]]:
    return {
        g["//"]["metadata"]["path"]: g["instance_refresh"]["preferences"]["alarm_specification"]["alarms"]
        for g in resources(doc, "aws_autoscaling_group")
    }


@pytest.mark.parametrize("stack", ["ha-failover", "target-groups"])
def test_instance_refresh_rolls_back_on_the_sites_rollout_guards(built: Built, variant: Built, stack: str) -> None:
    for b in (built, variant):
        if stack not in b.docs:
            continue
        wired = refresh_alarms(b.docs[stack])
        # Each group watches its own site's (ha) or its own target group's (target-groups) guards.
        assert sorted(n for names in wired.values() for n in names) == sorted(b.guard_names(stack)), wired
        if stack == "target-groups":
            assert all(f"-{path.split('/')[2]}-" in n for path, names in wired.items() for n in names), wired


def test_worker_refresh_rolls_back_on_the_stream_rollout_guards(variant: Built) -> None:
    (wired,) = refresh_alarms(variant.docs["stream-analytics"]).values()
    assert wired == variant.guard_names("stream-analytics") and len(wired) == 2


def test_canary_controller_aborts_on_the_canarys_rollout_guards(built: Built) -> None:
    functions = resources(built.docs["target-groups"], "aws_lambda_function")
    (controller,) = [f for f in functions if f["//"]["metadata"]["path"] == "target-groups/canary-controller/function"]
    canary = [n for n in built.guard_names("target-groups") if "-canary-" in n]
    assert canary and controller["environment"]["variables"]["CANARY_ALARMS"].split(",") == canary


@pytest.mark.parametrize("which", ["built", "variant"])
def test_lambda_canary_rolls_back_on_the_rollout_guards(built: Built, variant: Built, which: str) -> None:
    b = built if which == "built" else variant
    (group,) = resources(b.docs["event-processing"], "aws_codedeploy_deployment_group")
    keys = [s.key for specs in b.specs("event-processing").values() for s in specs if s.guards_rollout]
    assert keys and group["alarm_configuration"]["alarms"] == [
        f"${{aws_cloudwatch_metric_alarm.alarm-{key}.alarm_name}}" for key in keys
    ]


# --- the shape of every architecture folder -----------------------------------------------------


def imports(path: Path) -> set[str]:
    """Every module (and ``module.name``) that ``path`` imports, TYPE_CHECKING blocks too."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
    return found


@pytest.mark.parametrize("stack", WATCHED_STACKS)
def test_architecture_folder_has_stack_and_observability(stack: str) -> None:
    folder = PACKAGES[stack].folder
    assert (folder / "stack.py").is_file() and (folder / "observability.py").is_file()


@pytest.mark.parametrize("stack", WATCHED_STACKS)
def test_stack_py_builds_no_alarm_and_no_dashboard(stack: str) -> None:
    # Alarms and dashboards are observability.py's, built from AlarmSpecs.
    forbidden = {
        "cdktf_cdktf_provider_aws.cloudwatch_metric_alarm",
        "cdktf_cdktf_provider_aws.cloudwatch_dashboard",
        "modules.blocks.alarms.metric_alarms",
        "modules.blocks.dashboard.dashboard",
    }
    used = imports(PACKAGES[stack].folder / "stack.py")
    assert not used & forbidden, used & forbidden
    assert f"{PACKAGES[stack].package}.observability" in used


def test_no_module_imports_its_stack_py() -> None:
    # stack.py composes its siblings; a sibling importing it back is a circle.
    circles = [
        str(path.relative_to(PROJECT_ROOT))
        for path in ARCHITECTURES.glob("*/*.py")
        if path.name != "stack.py"
        and any(name.startswith(f"modules.architectures.{path.parent.name}.stack") for name in imports(path))
    ]
    assert not circles
