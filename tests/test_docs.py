"""The docs a newcomer reads: a short README, links that lead somewhere, generated parts
that match the code. (docs/scorecard.md is checked by tests/test_scorecard.py and the
diagrams by tests/test_diagrams.py, against the session's default synth.)"""

from __future__ import annotations

from pathlib import Path

import pytest

from modules.registry import STACKS
from tests.conftest import PROJECT_ROOT
from tools.docs import links, pages

README_MAX_LINES = 250


def test_readme_is_read_in_ten_minutes() -> None:
    lines = (PROJECT_ROOT / "README.md").read_text().count("\n")
    assert lines <= README_MAX_LINES, f"README.md has {lines} lines (at most {README_MAX_LINES}): move detail to docs/"


def test_every_relative_link_and_anchor_resolves() -> None:
    checked = links.doc_pages()
    assert len(checked) > 10, "README, docs/ and the stack READMEs"
    assert links.broken_links(checked) == []


def test_every_project_path_the_docs_name_exists() -> None:
    """Renamed or deleted files must take their mentions (`tests/test_x.py`) with them."""
    assert links.missing_paths(links.doc_pages()) == []


def test_path_check_finds_a_gone_file_and_skips_placeholders(tmp_path: Path) -> None:
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_here.py").write_text("")
    page = tmp_path / "README.md"
    page.write_text("`tests/test_here.py` `tests/test_gone.py` `tests/test_<name>_stack.py` `tests/`\n")
    assert links.missing_paths([page], root=tmp_path) == ["README.md: tests/test_gone.py (no such file or folder)"]


def test_generated_parts_are_what_the_code_gives_now() -> None:
    assert pages.stale_pages() == [], "run `make docs` and commit the result"


def test_every_stack_has_a_readme_with_its_settings_alarms_faults_and_diagram() -> None:
    for entry in STACKS:
        stack, readme = entry.name, entry.folder / "README.md"
        assert readme.exists(), f"{stack}: no {readme.relative_to(PROJECT_ROOT)}"
        text = readme.read_text()
        for heading in ("## Settings", "## Alarms", "## Faults it survives", "## Diagram"):
            assert heading in text, f"{readme.relative_to(PROJECT_ROOT)}: no {heading!r} section"
        assert f"docs/diagrams/{stack}.svg" in text, f"{stack}: its README does not link its diagram"


def test_link_check_finds_a_missing_file_a_wrong_anchor_and_ignores_code(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.md").write_text(
        "# Page A\n\n## The `[serving]` section\n\n## Repeat\n\n## Repeat\n\n```sh\n# not a heading\n```\n"
    )
    page = tmp_path / "README.md"
    page.write_text(
        "[ok](docs/a.md#the-serving-section) [ok](docs/a.md#repeat-1) [ok](#top) [web](https://example.com/x)\n"
        "[![img](docs/a.md)](docs/a.md#page-a) `[in code](docs/none.md)`\n"
        "[gone](docs/none.md) [bad anchor](docs/a.md#not-a-heading) [code heading](docs/a.md#not-a-heading-1)\n"
        "```\n[in a fence](docs/none.md)\n```\n# Top\n"
    )
    assert links.broken_links([page], root=tmp_path) == [
        "README.md: docs/none.md (no such file)",
        "README.md: docs/a.md#not-a-heading (no heading with that anchor in a.md)",
        "README.md: docs/a.md#not-a-heading-1 (no heading with that anchor in a.md)",
    ]


def test_slugs_follow_githubs_rules() -> None:
    assert links.slug("Moving `state`'s own state into its bucket") == "moving-states-own-state-into-its-bucket"
    assert links.slug("`[event_processing]`") == "event_processing"
    assert links.slug("Model server (superseded by model-server-benchmark.md once it lands)") == (
        "model-server-superseded-by-model-server-benchmarkmd-once-it-lands"
    )
    assert links.slug("Proven on the [emulator](testing.md)") == "proven-on-the-emulator"


def test_a_page_that_lost_its_generated_part_is_an_error_naming_it() -> None:
    with pytest.raises(ValueError, match=r"docs/x.md: generated part\(s\) missing: \['settings-tables'\]"):
        pages.render("# Settings\n\nno markers here\n", ("settings-tables",), "docs/x.md")


def test_a_generated_part_is_rewritten_between_its_markers_and_the_prose_kept() -> None:
    stale = (
        "prose before\n<!-- BEGIN GENERATED emulator-adjustments (make docs) -->\nold table\n"
        "<!-- END GENERATED emulator-adjustments -->\nprose after\n"
    )
    fresh = pages.render(stale, ("emulator-adjustments",), "docs/testing.md")
    assert fresh.startswith("prose before\n") and fresh.endswith("prose after\n")
    assert "old table" not in fresh and "| applies to | change (emulator only) | why |" in fresh


def test_a_stacks_alarm_table_says_when_each_alarm_fires_from_its_spec() -> None:
    """The README alarm tables are the specs, rendered: threshold, minutes, missing data, rollout."""
    from modules.blocks.alarms import AlarmSpec, Metric
    from tools.docs.alarm_table import alarm_table

    dlq = Metric(namespace="AWS/SQS", name="ApproximateNumberOfMessagesVisible", dimensions={"QueueName": "q"})
    beat = Metric(namespace="X", name="Heartbeat")
    specs = [
        AlarmSpec(key="dlq-depth", metric=dlq, statistic="Maximum", threshold=0, description="jobs wait in the DLQ"),
        AlarmSpec(
            key="beats",
            metric=beat,
            statistic="Sum",
            threshold=1,
            comparison="LessThanThreshold",
            periods=3,
            missing="breaching",
            guards_rollout=True,
            description="no heartbeat",
        ),
    ]
    rows = alarm_table({"p": specs}).splitlines()
    assert rows[0] == "Alarms named `p-<alarm>`:"
    assert "| `dlq-depth` | Maximum of `ApproximateNumberOfMessagesVisible` > 0 in a minute | jobs wait" in rows[4]
    assert rows[5] == (
        "| `beats` | Sum of `Heartbeat` < 1 in 3 of 3 minutes, missing data = alarm | no heartbeat | yes |"
    )
    assert alarm_table({"p": []}).startswith("No alarm")


def test_the_layout_lists_every_file_and_refuses_one_it_cannot_describe(tmp_path: Path) -> None:
    """docs/layout.md is generated from the tree: every tracked source file has its line, and a
    file that says nothing of itself stops the generator, naming the file."""
    from tools.docs.layout import UndescribedFile, describe, layout, tracked_files

    names = [line.split()[0] for line in layout().splitlines()[1:-1]]
    for relative in tracked_files():
        if not relative.endswith("__init__.py"):
            assert relative.rsplit("/", 1)[-1] in names, relative
    silent = tmp_path / "silent.py"
    silent.write_text("x = 1\n")
    with pytest.raises(UndescribedFile, match=r"silent\.py: no module docstring"):
        describe(silent)
    with pytest.raises(UndescribedFile, match=r"data\.bin: add what it is to KINDS"):
        describe(tmp_path / "data.bin")
