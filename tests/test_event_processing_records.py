"""The handler's pure part (handlers/event_processor/processing.py): schema, streaming, processing."""

from __future__ import annotations

import importlib
import json
import sys
from collections.abc import Iterator
from types import ModuleType

import pytest

from tests.conftest import PROJECT_ROOT

FOLDER = PROJECT_ROOT / "handlers" / "event_processor"


@pytest.fixture(scope="module")
def processing() -> Iterator[ModuleType]:
    sys.path.insert(0, str(FOLDER))
    try:
        yield importlib.import_module("processing")
    finally:
        sys.path.remove(str(FOLDER))


GOOD = {"id": "a", "timestamp": "2026-01-31T12:00:00Z", "text": "Great, reliable!", "values": [2, 4]}


def test_a_valid_record_passes(processing: ModuleType) -> None:
    assert processing.validate(GOOD) is None
    assert processing.validate({k: v for k, v in GOOD.items() if k != "values"}) is None, "values are optional"


@pytest.mark.parametrize(
    ("record", "named"),
    [
        ([GOOD], "JSON object"),
        ({**GOOD, "id": ""}, "'id'"),
        ({**GOOD, "id": 7}, "'id'"),
        ({**GOOD, "timestamp": "2026-01-31 12:00"}, "'timestamp'"),  # no UTC offset: ambiguous
        ({**GOOD, "timestamp": "yesterday"}, "'timestamp'"),
        ({**GOOD, "text": None}, "'text'"),
        ({**GOOD, "values": [1, True]}, "'values'"),
        ({**GOOD, "values": [1, float("nan")]}, "'values'"),
        ({**GOOD, "values": list(range(1001))}, "'values'"),
        ({**GOOD, "colour": "red"}, "unknown field 'colour'"),
    ],
)
def test_each_schema_violation_is_named(processing: ModuleType, record: object, named: str) -> None:
    problem = processing.validate(record)
    assert problem is not None and named in problem


def test_every_missing_field_is_named_at_once(processing: ModuleType) -> None:
    problem = processing.validate({})
    assert all(f"missing field '{f}'" in problem for f in ("id", "timestamp", "text"))


def test_processing_computes_features_and_a_model_prediction(processing: ModuleType) -> None:
    model = processing.Model.load(FOLDER / "model.json")
    out = processing.process(GOOD, model)
    assert (out["n_chars"], out["n_tokens"]) == (16, 2)
    assert out["values"] == {"count": 2, "mean": 3.0, "std": 1.0, "min": 2, "max": 4}
    assert out["sentiment"]["label"] == "positive" and out["sentiment"]["score"] > 0.5
    worse = processing.process({**GOOD, "text": "terrible and broken"}, model)
    assert worse["sentiment"]["label"] == "negative" and worse["sentiment"]["score"] < out["sentiment"]["score"]
    assert out["model"] == "lexicon-logreg@1"


def test_lines_are_split_across_chunk_boundaries(processing: ModuleType) -> None:
    data = b'{"a":1}\n{"b":22}\n\n{"c":333}'
    for size in (1, 2, 5, 100):
        chunks = [data[i : i + size] for i in range(0, len(data), size)]
        assert list(processing.lines(chunks, 100)) == [(1, b'{"a":1}'), (2, b'{"b":22}'), (3, b""), (4, b'{"c":333}')]


def test_an_overlong_line_is_rejected_before_it_is_buffered(processing: ModuleType) -> None:
    """Memory stays bounded: the reader stops once the limit is passed, not at the line's end."""
    consumed = []

    def endless() -> Iterator[bytes]:
        while True:
            consumed.append(1)
            yield b"x" * 1000

    with pytest.raises(processing.BadInput) as info:
        for _ in processing.lines(endless(), 10_000):
            pass
    assert info.value.reason == "record-too-large" and info.value.line == 1
    assert len(consumed) <= 11


def test_a_whole_document_or_json_lines(processing: ModuleType) -> None:
    doc = json.dumps([GOOD, GOOD], indent=2).encode()
    assert [n for n, _ in processing.records(doc, iter(()), True, 1 << 20)] == [1, 2]
    lines = b"\n".join(json.dumps(GOOD).encode() for _ in range(3))
    assert len(list(processing.records(lines, iter(()), True, 1 << 20))) == 3
    with pytest.raises(processing.BadInput) as info:
        list(processing.records(lines + b"\n{oops", iter(()), True, 1 << 20))
    assert (info.value.reason, info.value.line) == ("invalid-json", 4)


@pytest.mark.parametrize("values", [None, [1, 2.5, -3e-7, 10**6]])
def test_result_lines_are_the_json_of_the_result(processing: ModuleType, values: list[float] | None) -> None:
    model = processing.Model.load(FOLDER / "model.json")
    record = {**GOOD, "id": 'quote " and \\ and é'}
    if values is None:
        del record["values"]
    else:
        record["values"] = values
    result = processing.process(record, model)
    line = processing.result_line(result)
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    assert json.loads(line) == result
