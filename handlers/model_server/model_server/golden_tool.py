"""Write a golden set from a model you trust (``make golden MODEL=... INPUTS=...``):

    python -m model_server.golden_tool MODEL INPUTS [--out PATH] [--tolerance NAME=ABS ...]

``INPUTS`` holds the rows: a ``.csv`` of numbers (one row per line, an optional header; a
model of one input) or a ``.json`` list of rows (one input) or object of input name -> rows.
The model answers them here, with the server's own code, and its answers become the expected
outputs: every output, exact for integer, bool and string outputs, within ``--tolerance``
(default 0.0001, absolute) for float ones. The set is written to ``<model stem>.golden.json``
beside the model unless ``--out`` says where, then read back and checked as the server
will at start.
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path
from typing import Any

import orjson

from model_server import golden
from model_server import model as model_lib

DEFAULT_FLOAT_TOLERANCE = 1e-4


def read_rows(path: Path, model: model_lib.OnnxModel) -> dict[str, Any]:
    """The rows of ``path`` per model input."""
    names = [s.name for s in model.inputs]
    if path.suffix == ".csv":
        lines = [row for row in csv.reader(path.read_text().splitlines()) if row]
        if lines and not _numeric(lines[0]):
            lines = lines[1:]  # a header
        rows: Any = [[float(v) for v in row] for row in lines]
    elif path.suffix == ".json":
        rows = orjson.loads(path.read_bytes())
    else:
        raise golden.GoldenError(f"INPUTS {str(path)!r}: expected a .csv or .json file of input rows")
    if isinstance(rows, dict):
        return rows
    if len(names) != 1:
        raise golden.GoldenError(
            f"INPUTS {str(path)!r}: the model takes {len(names)} inputs {names}: give a .json object of input -> rows"
        )
    return {names[0]: rows}


def _numeric(row: list[str]) -> bool:
    try:
        [float(v) for v in row]
    except ValueError:
        return False
    return True


def write(model_path: str, inputs_path: Path, out: str, tolerances: dict[str, float]) -> golden.GoldenSet:
    model = model_lib.load(model_path, model_lib.default_name(model_path))
    doc: dict[str, Any] = {
        "description": f"written from {Path(model_path).name} (make golden): the answers of a model known good",
        "inputs": read_rows(inputs_path, model),
    }
    wanted = [s.name for s in model.inputs]
    if any(not rows for rows in doc["inputs"].values()):
        raise golden.GoldenError(f"INPUTS {str(inputs_path)!r}: no rows: a golden set needs at least one")
    if sorted(doc["inputs"]) != sorted(wanted):
        raise golden.GoldenError(f"INPUTS give {sorted(doc['inputs'])}; the model takes {wanted}")
    inputs = {name: golden.as_array(rows, model.input_by_name[name], "input") for name, rows in doc["inputs"].items()}
    answers = model.run(inputs)
    doc["outputs"] = {name: array.tolist() for name, array in answers.items()}
    doc["tolerance"] = {
        s.name: tolerances.get(s.name, DEFAULT_FLOAT_TOLERANCE) for s in model.outputs if s.datatype.startswith("FP")
    }
    body = layout(doc)
    checked = golden.parse(body, out, model)
    if golden.check(checked, model):
        raise golden.GoldenError(f"{out}: the model does not answer its own golden set the same twice")
    Path(out).write_bytes(body)
    return checked


def layout(doc: dict[str, Any]) -> bytes:
    """JSON with one row per line: a set that reads (and diffs) row by row."""

    def column(name: str, value: Any) -> str:
        if not isinstance(value, list):
            return f"    {orjson.dumps(name).decode()}: {orjson.dumps(value).decode()}"
        rows = ",\n".join(f"      {orjson.dumps(row).decode()}" for row in value)
        return f"    {orjson.dumps(name).decode()}: [\n{rows}\n    ]"

    fields = []
    for key, value in doc.items():
        if isinstance(value, dict):
            inner = ",\n".join(column(name, v) for name, v in value.items())
            fields.append(f"  {orjson.dumps(key).decode()}: {{\n{inner}\n  }}")
        else:
            fields.append(f"  {orjson.dumps(key).decode()}: {orjson.dumps(value).decode()}")
    return ("{\n" + ",\n".join(fields) + "\n}\n").encode()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="make golden", description=__doc__.split("\n\n")[0])
    parser.add_argument("model", help="the trusted model (.onnx)")
    parser.add_argument("inputs", type=Path, help="its input rows (.csv or .json)")
    parser.add_argument("--out", help="where to write the set; default: <model stem>.golden.json beside the model")
    parser.add_argument("--tolerance", action="append", default=[], help="NAME=ABS, for a float output")
    args = parser.parse_args(argv)
    tolerances: dict[str, float] = {}
    for item in args.tolerance:
        name, _, value = item.partition("=")
        try:
            tolerances[name] = float(value)
        except ValueError:
            parser.error(f"--tolerance {item!r}: expected NAME=ABS, a number")
        if tolerances[name] < 0:
            parser.error(f"--tolerance {item!r}: a tolerance below zero accepts no answer")
    out = args.out or golden.beside(args.model)
    try:
        written = write(args.model, args.inputs, out, tolerances)
    except (golden.GoldenError, model_lib.ModelError, OSError, orjson.JSONDecodeError) as exc:
        print(f"make golden: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {out}: {written.rows} rows, outputs {sorted(written.expected)}, tolerance {written.tolerance}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
