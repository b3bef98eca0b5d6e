"""The golden set: a model answers its labelled sample right before the server says it is ready.

A wrong model (its labels in another order) never becomes ready, and says why on every
channel; a right one does; a golden set that cannot be used, a bad namespace and a model file
whose name CloudWatch would refuse stop the server at start with a message naming the problem.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from model_server import golden, golden_tool
from model_server.config import Config, ConfigError
from model_server.model import OnnxModel

from tests.test_model_server import ROW, model_path  # noqa: F401  # fixture
from tools.harness.model_server_process import READY, SERVER_DIR, ModelServerProcess, infer_body

BUNDLED = SERVER_DIR / "model_server" / "wine.golden.json"
LIVE = "/v2/health/live"
EMF = {"EMF_NAMESPACE": "Test/ModelServer", "EMF_INTERVAL_S": "1"}


def permuted(doc: dict[str, Any]) -> dict[str, Any]:
    """The same set with the classes renamed 0 -> 1 -> 2 -> 0: what a model retrained with its
    labels in another order answers."""
    outputs = doc["outputs"]
    return {
        **doc,
        "outputs": {
            "label": [(c + 1) % 3 for c in outputs["label"]],
            "probabilities": [[p[2], p[0], p[1]] for p in outputs["probabilities"]],
        },
    }


def model_with(folder: Path, model: Path, doc: dict[str, Any] | None) -> Path:
    """``folder/wine.onnx`` (a copy of ``model``) with ``doc`` as its golden set beside it."""
    folder.mkdir(exist_ok=True)
    target = folder / "wine.onnx"
    shutil.copy(model, target)
    if doc is not None:
        (folder / "wine.golden.json").write_text(json.dumps(doc))
    return target


class LiveServer(ModelServerProcess):
    """Started once it is live: whether it becomes ready is what the test checks."""

    def request(
        self, method: str, path: str, body: bytes | None = None, headers: Mapping[str, str] | None = None
    ) -> tuple[int, dict[str, str], bytes]:
        starting = path == READY and self.proc is not None and not getattr(self, "started", False)
        return super().request(method, LIVE if starting else path, body, headers)

    def start(self) -> LiveServer:
        super().start()
        self.started = True
        return self


def refused(env: Mapping[str, str], timeout_s: float = 30) -> tuple[int, str]:
    """Exit code and output of a server that must not start."""
    run_env = {**os.environ, "PYTHONPATH": str(SERVER_DIR), "PORT": "1", **env}
    done = subprocess.run(
        [sys.executable, "-m", "model_server"], env=run_env, capture_output=True, text=True, timeout=timeout_s
    )
    return done.returncode, done.stdout + done.stderr


# --- the real server -----------------------------------------------------------------------


@pytest.mark.slow
def test_the_right_model_passes_the_bundled_golden_set_and_becomes_ready(model_path: Path, tmp_path: Path) -> None:  # noqa: F811
    """The set shipped beside the bundled model is what train.py's model answers: the image's
    model passes it."""
    model = model_with(tmp_path / "right", model_path, json.loads(BUNDLED.read_text()))
    log = tmp_path / "server.log"
    with ModelServerProcess(str(model), {"GOLDEN_REQUIRED": "true"}, log) as srv:
        assert srv.request("GET", READY)[0] == 200
        assert json.loads(srv.request("GET", "/v2/models/wine/ready")[2]) == {"name": "wine", "ready": True}
        assert srv.infer([ROW])[0] == 200
    assert "12 rows answered within tolerance" in log.read_text()


@pytest.mark.slow
def test_a_wrong_model_never_becomes_ready_and_says_why(model_path: Path, tmp_path: Path) -> None:  # noqa: F811
    model = model_with(tmp_path / "wrong", model_path, permuted(json.loads(BUNDLED.read_text())))
    log = tmp_path / "server.log"
    with LiveServer(str(model), {**EMF, "GOLDEN_REQUIRED": "true"}, log) as srv:
        deadline = time.monotonic() + 2.5  # two EMF intervals: it stays unready
        while time.monotonic() < deadline:
            status, _, body = srv.request("GET", READY)
            assert status == 503
            time.sleep(0.2)
        reason = json.loads(body)["reason"]
        assert "golden set" in reason and "12 of 12 rows outside tolerance" in reason
        assert "row 0, output 'label': expected 1, got 0" in reason
        assert srv.request("GET", LIVE)[0] == 200, "alive: the deploy fails on readiness, no restart loop"
        model_ready = json.loads(srv.request("GET", "/v2/models/wine/ready")[2])
        assert model_ready["ready"] is False and model_ready["reason"] == reason
        status, _, body = srv.request("POST", srv.infer_path, infer_body([ROW]), {"Content-Type": "application/json"})
        assert status == 503 and reason in json.loads(body)["error"], "it never takes traffic"
        assert "model_golden_set_failed 1.0" in srv.request("GET", "/metrics")[2].decode()
    text = log.read_text()
    assert "wrong answer: row 0, output 'label': expected 1, got 0" in text
    docs = [json.loads(line) for line in text.splitlines() if line.startswith('{"_aws"') and "Requests" in line]
    assert docs and {d["GoldenSetFailed"] for d in docs} == {1}


@pytest.mark.slow
def test_the_server_refuses_to_start_with_a_bad_namespace_model_name_or_golden_set(
    model_path: Path,  # noqa: F811
    tmp_path: Path,
) -> None:
    model = model_with(tmp_path / "ok", model_path, json.loads(BUNDLED.read_text()))
    odd = tmp_path / "wïne v2.onnx"
    shutil.copy(model_path, odd)
    code, out = refused({"MODEL_URI": str(odd), "EMF_NAMESPACE": ":Team/Models"})
    assert code == 2, out
    assert "EMF_NAMESPACE=':Team/Models'" in out and "not blank, not starting with ':'" in out
    assert "the file's stem 'wïne v2'" in out and "rename the file or set MODEL_NAME" in out
    with pytest.raises(ConfigError, match="EMF_NAMESPACE='   ': expected a CloudWatch namespace"):
        Config.from_env({"EMF_NAMESPACE": "   "})
    code, out = refused({"MODEL_URI": str(model), "GOLDEN_SHA256": "0" * 64})
    assert code == 3 and "GOLDEN_SHA256 expects " + "0" * 64 in out
    code, out = refused({"MODEL_URI": str(model_path), "GOLDEN_REQUIRED": "true"})
    assert code == 3 and "wine.golden.json': not found; GOLDEN_REQUIRED=true" in out


# --- bad golden sets -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def wine_model(model_path: Path) -> OnnxModel:  # noqa: F811
    return OnnxModel(model_path.read_bytes(), "wine")


def problem(doc: Any, model: OnnxModel, sha256: str = "") -> str:
    with pytest.raises(golden.GoldenError) as refusal:
        golden.parse(json.dumps(doc).encode(), "s3://models/wine.golden.json", model, sha256)
    message = str(refusal.value)
    assert message.startswith("golden set 's3://models/wine.golden.json': ")
    return message


def test_each_bad_golden_set_is_refused_naming_what_is_wrong(wine_model: OnnxModel) -> None:
    good = json.loads(BUNDLED.read_text())
    rows = good["inputs"]["input"]
    assert "inputs ['features'] do not match the model's inputs ['input']" in problem(
        {**good, "inputs": {"features": rows}}, wine_model
    )
    assert "no rows" in problem(
        {**good, "inputs": {"input": []}, "outputs": {"label": []}, "tolerance": {}}, wine_model
    )
    assert "tolerance for 'probabilities' is -0.1: must be a number >= 0" in problem(
        {**good, "tolerance": {"probabilities": -0.1}}, wine_model
    )
    body = BUNDLED.read_bytes()
    actual = hashlib.sha256(body).hexdigest()
    with pytest.raises(golden.GoldenError, match=f"SHA-256 is {actual}, GOLDEN_SHA256 expects {'a' * 64}"):
        golden.parse(body, "wine.golden.json", wine_model, "a" * 64)
    assert golden.parse(body, "wine.golden.json", wine_model, actual).rows == 12
    assert "rows of shape [12]; the model's input has [-1, 13]" in problem(
        {**good, "inputs": {"input": [row[:12] for row in rows]}}, wine_model
    )
    assert "same number of rows" in problem({**good, "outputs": {"label": good["outputs"]["label"][:3]}}, wine_model)
    assert "output(s) ['score'] are not the model's" in problem({**good, "outputs": {"score": [1] * 12}}, wine_model)
    assert "unknown field(s) labels" in problem({**good, "labels": []}, wine_model)
    with pytest.raises(golden.GoldenError, match="not valid JSON"):
        golden.parse(b"{", "g.json", wine_model)


def test_a_missing_set_is_none_and_the_default_place_is_beside_the_model(tmp_path: Path) -> None:
    assert golden.beside("s3://acme-models/wine/v2.onnx") == "s3://acme-models/wine/v2.golden.json"
    assert golden.beside("/opt/models/wine.onnx") == "/opt/models/wine.golden.json"
    assert golden.fetch(str(tmp_path / "none.golden.json")) is None


# --- make golden ------------------------------------------------------------------------------


def test_make_golden_writes_a_set_the_model_passes(model_path: Path, tmp_path: Path, wine_model: OnnxModel) -> None:  # noqa: F811
    inputs = tmp_path / "rows.csv"
    inputs.write_text("alcohol,malic,...\n" + "\n".join(",".join(map(str, ROW)) for _ in range(3)) + "\n")
    out = tmp_path / "wine.golden.json"
    assert golden_tool.main([str(model_path), str(inputs), "--out", str(out), "--tolerance", "probabilities=0.01"]) == 0
    written = golden.parse(out.read_bytes(), str(out), wine_model)
    assert written.rows == 3 and written.tolerance == {"probabilities": 0.01}
    assert golden.check(written, wine_model) == []
    inputs.write_text("1,2,3\n")
    assert golden_tool.main([str(model_path), str(inputs), "--out", str(out)]) == 2
    inputs.write_text("")
    assert golden_tool.main([str(model_path), str(inputs), "--out", str(out)]) == 2


def test_bad_golden_variables_are_named() -> None:
    with pytest.raises(ConfigError) as refusal:
        Config.from_env({"GOLDEN_SHA256": "xyz", "GOLDEN_URI": " s3://a/b", "GOLDEN_REQUIRED": "maybe"})
    text = str(refusal.value)
    assert "GOLDEN_SHA256='xyz': expected 64 hex digits" in text
    assert "GOLDEN_URI=' s3://a/b': expected a path or s3://bucket/key" in text
    assert "GOLDEN_REQUIRED='maybe': expected true" in text
