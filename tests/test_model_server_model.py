"""The model server's parts in-process: an ONNX model described by its own metadata, the
checks that stop a bad model at start, the protocol's request checks, and the dynamic
batcher (stacking, splitting back, and a failing request that fails alone)."""

from __future__ import annotations

import asyncio
import hashlib
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from model_server import model as model_lib
from model_server.batcher import Batcher
from model_server.protocol import InferRequest, ProtocolError, encode, parse


@pytest.fixture(scope="module")
def wine_onnx(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import train  # handlers/model_server/train.py

    pipeline, _ = train.build()
    path = tmp_path_factory.mktemp("m") / "wine.onnx"
    path.write_bytes(train.export(pipeline, 13, "wine"))
    return path


def test_metadata_comes_from_the_model(wine_onnx: Path) -> None:
    model = model_lib.load(str(wine_onnx), "wine")
    assert model.metadata() == {
        "name": "wine",
        "versions": ["1"],
        "platform": "onnxruntime_onnx",
        "inputs": [{"name": "input", "datatype": "FP32", "shape": [-1, 13]}],
        "outputs": [
            {"name": "label", "datatype": "INT64", "shape": [-1]},
            {"name": "probabilities", "datatype": "FP32", "shape": [-1, 3]},
        ],
    }
    assert model.batchable and model_lib.default_name("s3://b/models/wine.onnx") == "wine"


def test_sha256_mismatch_bad_bytes_and_missing_files_are_model_errors(wine_onnx: Path, tmp_path: Path) -> None:
    good = hashlib.sha256(wine_onnx.read_bytes()).hexdigest()
    assert model_lib.load(str(wine_onnx), "w", sha256=good.upper()).name == "w"
    with pytest.raises(model_lib.ModelError, match=f"SHA-256 is {good}"):
        model_lib.load(str(wine_onnx), "w", sha256="f" * 64)
    (tmp_path / "x.onnx").write_bytes(b"garbage")
    with pytest.raises(model_lib.ModelError, match="onnxruntime cannot load it"):
        model_lib.load(str(tmp_path / "x.onnx"), "x")
    with pytest.raises(model_lib.ModelError, match="model path"):
        model_lib.load(str(tmp_path / "absent.onnx"), "x")
    with pytest.raises(model_lib.ModelError, match="s3://bucket/key"):
        model_lib.load("s3://only-bucket", "x")


def test_a_zipmap_classifier_is_refused_with_the_fix_named(tmp_path: Path) -> None:
    from skl2onnx import to_onnx
    from sklearn.datasets import load_iris
    from sklearn.tree import DecisionTreeClassifier

    data = load_iris()
    clf = DecisionTreeClassifier(max_depth=2).fit(data.data, data.target)
    onx = to_onnx(clf, data.data[:1].astype(np.float32), target_opset=17)  # ZipMap output: a map
    (tmp_path / "zip.onnx").write_bytes(onx.SerializeToString())
    with pytest.raises(model_lib.ModelError, match="zipmap"):
        model_lib.load(str(tmp_path / "zip.onnx"), "zip")


def body(data: Any, shape: list[int], datatype: str = "FP32") -> bytes:
    import json

    return json.dumps({"inputs": [{"name": "input", "shape": shape, "datatype": datatype, "data": data}]}).encode()


def test_parse_accepts_flat_and_nested_data_and_binary_tensors(wine_onnx: Path) -> None:
    model = model_lib.load(str(wine_onnx), "wine")
    rows = np.arange(26, dtype=np.float32).reshape(2, 13)
    flat = parse(body(rows.ravel().tolist(), [2, 13]), None, model, 10)
    nested = parse(body(rows.tolist(), [2, 13]), None, model, 10)
    assert flat.rows == nested.rows == 2 and np.array_equal(flat.inputs["input"], nested.inputs["input"])
    import json

    tensor = {"name": "input", "shape": [2, 13], "datatype": "FP32", "parameters": {"binary_data_size": rows.nbytes}}
    wanted = [{"name": "probabilities", "parameters": {"binary_data": True}}]
    head = json.dumps({"inputs": [tensor], "outputs": wanted}).encode()
    binary = parse(head + rows.tobytes(), str(len(head)), model, 10)
    assert np.array_equal(binary.inputs["input"], rows) and binary.binary_outputs == {"probabilities"}
    content, headers = encode(model, binary, model.run(binary.inputs, binary.outputs))
    n = int(headers["Inference-Header-Content-Length"])
    proba = np.frombuffer(content[n:], dtype=np.float32).reshape(2, 3)
    assert np.allclose(proba, model.run({"input": rows})["probabilities"])
    with pytest.raises(ProtocolError, match="binary_data_size 104 is beyond the body"):
        parse(head + rows.tobytes()[:-4], str(len(head)), model, 10)


def test_parse_names_the_problem(wine_onnx: Path) -> None:
    model = model_lib.load(str(wine_onnx), "wine")
    with pytest.raises(ProtocolError, match="datatype 'INT64'; the model takes FP32"):
        parse(body([1] * 13, [1, 13], "INT64"), None, model, 10)
    with pytest.raises(ProtocolError, match="at most 10"):
        parse(body([1.0] * 143, [11, 13]), None, model, 10)
    with pytest.raises(ProtocolError, match="must be numbers, got True"):
        parse(body([True] * 13, [1, 13]), None, model, 10)


class Recorder:
    """A stand-in model: doubles its input, refuses a batch holding a row of -1s, and
    records each call's row count."""

    batchable = True

    def __init__(self) -> None:
        self.calls: list[int] = []

    def run(self, inputs: dict[str, Any], outputs: Any = None) -> dict[str, Any]:
        x = inputs["x"]
        self.calls.append(len(x))
        if (x == -1).all(axis=1).any():
            raise ValueError("poisoned row")
        return {"y": x * 2}


def request(rows: Any) -> InferRequest:
    x = np.asarray(rows, dtype=np.float32)
    return InferRequest({"x": x}, ["y"], rows=len(x))


def test_batcher_stacks_waiting_requests_and_splits_the_answers() -> None:
    async def go() -> tuple[list[Any], list[int]]:
        recorder = Recorder()
        batcher = Batcher(recorder, max_rows=64, max_delay_s=0.05)  # type: ignore[arg-type]
        batcher.start()
        requests = [request([[i, i]] * (i % 3 + 1)) for i in range(10)]
        results = await asyncio.gather(*(batcher.infer(r) for r in requests))
        await batcher.stop()
        return [(r.inputs["x"], out["y"]) for r, out in zip(requests, results, strict=True)], recorder.calls

    pairs, calls = asyncio.run(go())
    assert all(np.array_equal(y, x * 2) for x, y in pairs)
    assert sum(calls) == sum(len(x) for x, _ in pairs) and len(calls) < 10, calls


def test_a_failing_request_fails_alone_in_its_batch() -> None:
    async def go() -> list[Any]:
        batcher = Batcher(Recorder(), max_rows=64, max_delay_s=0.05)  # type: ignore[arg-type]
        batcher.start()
        requests = [request([[1, 2]]), request([[-1, -1]]), request([[3, 4], [5, 6]])]
        results = await asyncio.gather(*(batcher.infer(r) for r in requests), return_exceptions=True)
        await batcher.stop()
        return results

    ok1, bad, ok2 = asyncio.run(go())
    assert isinstance(bad, ValueError) and "poisoned" in str(bad)
    assert isinstance(ok1, dict) and ok1["y"].tolist() == [[2, 4]]
    assert isinstance(ok2, dict) and ok2["y"].tolist() == [[6, 8], [10, 12]]


def test_max_rows_bounds_a_stacked_call() -> None:
    async def go() -> list[int]:
        recorder = Recorder()
        batcher = Batcher(recorder, max_rows=4, max_delay_s=0.05)  # type: ignore[arg-type]
        batcher.start()
        await asyncio.gather(*(batcher.infer(request([[1, 1]] * 3)) for _ in range(4)))
        await batcher.stop()
        return recorder.calls

    assert asyncio.run(go()) == [3, 3, 3, 3]


def test_with_a_worker_per_core_every_request_is_answered_in_bursts_and_alone() -> None:
    """Two workers: a burst is stacked and split back right, and requests that then come one
    at a time each wake an idle worker (a lost wake-up would hang here)."""

    async def go() -> tuple[list[Any], list[Any]]:
        batcher = Batcher(Recorder(), max_rows=64, max_delay_s=0, threads=2)  # type: ignore[arg-type]
        batcher.start()
        burst = await asyncio.wait_for(asyncio.gather(*(batcher.infer(request([[i, i]])) for i in range(10))), 5)
        alone = [await asyncio.wait_for(batcher.infer(request([[i, -i]])), 5) for i in range(5)]
        await batcher.stop()
        return burst, alone

    burst, alone = asyncio.run(go())
    assert [r["y"].tolist() for r in burst] == [[[2 * i, 2 * i]] for i in range(10)]
    assert [r["y"].tolist() for r in alone] == [[[2 * i, -2 * i]] for i in range(5)]


class ThreadRecorder(Recorder):
    """Records which thread ran each model call."""

    def __init__(self) -> None:
        super().__init__()
        self.threads: list[str] = []

    def run(self, inputs: dict[str, Any], outputs: Any = None) -> dict[str, Any]:
        self.threads.append(threading.current_thread().name)
        return super().run(inputs, outputs)


def test_without_batching_a_lone_call_runs_on_the_loop_and_calls_read_together_run_on_the_threads() -> None:
    """A call alone (one client) runs inline: no thread hop. Calls that arrive in the same turn
    of the loop (many clients, read in one go) must not run inline one after another on the
    loop's core: they go to the model threads, beside the loop (this ran them all inline and
    held the server to one core at 16 clients)."""

    async def go() -> list[str]:
        recorder = ThreadRecorder()
        batcher = Batcher(recorder, max_rows=0, max_delay_s=0, threads=2)  # type: ignore[arg-type]
        batcher.start()
        await batcher.infer(request([[1, 1]]))  # times the model: unknown until then, so on a thread
        for _ in range(3):
            await batcher.infer(request([[1, 1]]))
        await asyncio.gather(*(batcher.infer(request([[i, i]])) for i in range(6)))
        await batcher.stop()
        return recorder.threads

    threads = asyncio.run(go())
    loop_thread = threading.main_thread().name
    assert threads[0] != loop_thread and threads[1:4] == [loop_thread] * 3, threads
    assert loop_thread not in threads[4:], threads
