"""A stack added the README's way ("Add a stack": its folder and one registry line) is seen by
everything that works on every stack: the settings, the synth and its deploy order, the
resilience policy, the scorecard and the diagrams.

The example (``tests/example_queue/``: settings.py, stack.py, observability.py) is registered
in a fresh interpreter, before anything reads the registry: the settings root takes its
sections from the registry when it is first imported.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from modules import registry
from modules.policy.document import load_outdir
from modules.registry import STACKS, Registered, settings_sections
from tests.conftest import PROJECT_ROOT
from tools.chaos import listing
from tools.docs import diagrams, pages, scorecard

EXAMPLE = Registered(
    "example-queue", "ExampleQueueStack", package="tests.example_queue", settings="ExampleQueueSettings"
)

# main.py, with the example's line appended to the registry.
MAIN_WITH_EXAMPLE = f"""
import sys
from modules import registry
registry.STACKS = (*registry.STACKS, registry.{EXAMPLE!r})
import main
sys.exit(main.main())
"""


def run_main(outdir: Path, **settings: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAI_")}
    env |= {"CDKTF_OUTDIR": str(outdir), "RAI_TOOLING_STACKS": "state,example-queue", **settings}
    env["RAI_SETTINGS_FILE"] = str(outdir.parent / "empty.toml")  # never the developer's settings.toml
    (outdir.parent / "empty.toml").write_text("")
    return subprocess.run(
        [sys.executable, "-c", MAIN_WITH_EXAMPLE],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture(scope="module")
def synthesized(tmp_path_factory: pytest.TempPathFactory) -> Path:
    outdir = tmp_path_factory.mktemp("example") / "cdktf.out"
    proc = run_main(outdir, RAI_EXAMPLE_QUEUE_MAX_RECEIVE_COUNT="3")
    assert proc.returncode == 0, proc.stderr[-3000:]
    return outdir


def test_its_settings_section_is_read_from_the_file_and_the_environment(synthesized: Path) -> None:
    """``[example_queue]`` / ``RAI_EXAMPLE_QUEUE_*`` exist because of the registry line alone:
    the value set in the environment reaches the queue's redrive policy."""
    jobs = json.loads((synthesized / "stacks/example-queue/cdk.tf.json").read_text())["resource"]["aws_sqs_queue"]
    redrive = [json.loads(q["redrive_policy"]) for q in jobs.values() if "redrive_policy" in q]
    assert [r["maxReceiveCount"] for r in redrive] == [3]


def test_a_bad_value_in_its_section_is_refused_naming_the_setting(tmp_path: Path) -> None:
    proc = run_main(tmp_path / "cdktf.out", RAI_EXAMPLE_QUEUE_MAX_RECEIVE_COUNT="0")
    assert proc.returncode == 2
    assert "example_queue.max_receive_count = 0 (from RAI_EXAMPLE_QUEUE_MAX_RECEIVE_COUNT)" in proc.stderr
    assert not (tmp_path / "cdktf.out").exists(), "nothing written"


def test_it_deploys_after_state_whose_bucket_holds_its_state(synthesized: Path) -> None:
    manifest = json.loads((synthesized / "manifest.json").read_text())["stacks"]
    assert manifest["example-queue"]["dependencies"] == ["state"]
    assert manifest["state"]["dependencies"] == []


def test_the_resilience_policy_checks_it(tmp_path: Path) -> None:
    """A queue without a DLQ breaks ``sqs-redrive``: the synth fails, naming the new stack."""
    proc = run_main(tmp_path / "cdktf.out", RAI_EXAMPLE_QUEUE_DEAD_LETTER="false")
    assert proc.returncode == 1
    assert "example-queue" in proc.stderr and "sqs-redrive" in proc.stderr, proc.stderr[-3000:]


def test_the_scorecard_and_the_diagram_show_it(synthesized: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(registry, "STACKS", (*STACKS, EXAMPLE))
    docs = {doc.name: doc for doc in load_outdir(str(synthesized))}
    card = scorecard.render(docs.values())
    assert "### `example-queue`" in card
    section = card.split("### `example-queue`")[1]
    assert "| 1 of 1 asynchronous paths | queue `jobs/queue` -> DLQ after 3 receives |" in section
    assert "`dlq/queue` messages in the DLQ" in section, "its alarm counts in the alarm coverage"
    claim = "| Cut one AZ's private subnets off the network (the queue's consumers there are cut off) |"
    assert claim in section and "`alarm-dlq-depth`" in section.split(claim)[1].splitlines()[0], (
        "its fault claim (its own faults.py) is listed with its experiment and the alarm that stops it"
    )
    dot = diagrams.to_dot(diagrams.build(docs["example-queue"]))
    redrive = r'"aws_sqs_queue\.jobs_queue_\w+" -> "aws_sqs_queue\.dlq_queue_\w+" \[label="after 3 receives"'
    assert re.search(redrive, dot), "the diagram draws the redrive from the jobs queue to its DLQ"


def test_its_chaos_experiment_runs_on_its_own_subnet_stopped_by_its_own_alarm(synthesized: Path) -> None:
    """A stack with alarms and an experiment (``chaos.py``, ``faults.py`` in its folder) needs no
    edit of a central file: the template is built from its own claim and stopped by its own alarm,
    and the chaos tool lists it as ``make chaos RUN=`` takes it."""
    (doc,) = [d for d in load_outdir(str(synthesized)) if d.name == "example-queue"]
    (template,) = doc.of_type("aws_fis_experiment_template")
    assert template.body["description"].startswith("Cut one AZ's private subnets off the network")
    (stop,) = template.body["stop_condition"]
    assert re.fullmatch(r"\$\{aws_cloudwatch_metric_alarm\.alarm-dlq-depth\.arn\}", stop["value"]), stop
    (listed,) = listing.experiments(doc)
    assert listed.run_name == "example-queue/az-outage"
    assert listed.stop_alarms and "dlq-depth" in listed.stop_alarms[0]


# The example built with its registry line, its contract printed as the tools read it.
CONTRACT_OF_EXAMPLE = f"""
import json, sys
from pathlib import Path
from modules import registry
registry.STACKS = (*registry.STACKS, registry.{EXAMPLE!r})
from modules.app import build_app
from modules.config import load_settings
app = build_app(load_settings(environ={{}}, settings_file=None), Path(sys.argv[1]), ["example-queue"])
(stack,) = [c for c in app.node.children if c.node.id == "example-queue"]
print(json.dumps({{
    "specs": {{prefix: [s.key for s in specs] for prefix, specs in stack.alarm_specs.items()}},
    "dashboard": stack.dashboard is stack.observability.dashboard is not None,
    "topic": stack.alarm_topic is not None,
    "chaos": [e.key for e in stack.chaos.props.experiments] if stack.chaos else None,
    "claims": [c.experiment for c in stack.fault_claims],
}}))
"""


def test_the_stack_declares_its_contract(tmp_path: Path) -> None:
    """What tools and tests read from a stack is declared on the base, not found by getattr:
    its alarm specs, dashboard, alarm topic, chaos experiments and fault claims."""
    proc = subprocess.run(
        [sys.executable, "-c", CONTRACT_OF_EXAMPLE, str(tmp_path / "cdktf.out")],
        cwd=PROJECT_ROOT,
        env={k: v for k, v in os.environ.items() if not k.startswith("RAI_")},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    contract = json.loads(proc.stdout.strip().splitlines()[-1])
    assert contract == {
        "specs": {"resilient-ai-dev-example": ["dlq-depth"]},
        "dashboard": True,
        "topic": True,
        "chaos": ["az-outage"],
        "claims": ["az-outage"],
    }


def test_the_registry_names_what_is_wrong_with_a_line() -> None:
    with pytest.raises(ValueError, match="stack name 'Example_Queue'"):
        Registered("Example_Queue", "ExampleQueueStack")
    missing = Registered("example-queue", "ExampleQueueStack", package="tests.example_queue", settings="Nope")
    with pytest.raises(LookupError, match=r"'example-queue' names tests\.example_queue\.settings\.Nope"):
        settings_sections((missing,))


def test_the_readme_stack_table_shows_it_from_its_package_docstring(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pages, "STACKS", (*STACKS, EXAMPLE))
    row = pages.stack_table().splitlines()[-1]
    assert row.startswith("| [`example-queue`](tests/example_queue/README.md) | a queue of jobs with its dead-letter")


def test_the_stack_table_names_a_package_whose_docstring_does_not_say_what_it_is(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(pages, "STACKS", (Registered("example-queue", "ExampleQueueStack", package="tests"),))
    with pytest.raises(ValueError, match=r"tests: its docstring must start with 'The `example-queue` stack: '"):
        pages.stack_table()
