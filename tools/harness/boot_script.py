"""Run an instance boot script (user data) on this machine, safely, and see what it did.

The script is rendered with ``root`` (see :func:`modules.blocks.instance_template.user_data`), so
everything it writes lands under a temporary folder. The system commands it calls are
replaced by recording stand-ins first on ``PATH``: the package manager, user management,
``chown``, ``systemctl``, the Python that installs requirements, the CloudWatch agent, and
the AWS CLI, whose ``s3 cp`` copies from a local folder standing in for S3. Everything else
(bash, mkdir, cat, ``python3 -m zipfile``) is real.
"""

from __future__ import annotations

import os
import shlex
import stat
import subprocess
from dataclasses import dataclass
from pathlib import Path

AGENT_HOME = "opt/aws/amazon-cloudwatch-agent"
# What an AL2023 image (plus the CloudWatch agent package) already has.
IMAGE_DIRS = ("tmp", "etc/systemd/system", f"{AGENT_HOME}/bin", f"{AGENT_HOME}/etc", "var/log")
RECORDED = ("dnf", "useradd", "chown", "systemctl", "python3.11")
FAILING = ("id",)  # `id <user>` fails: the service user does not exist yet

_RECORD = 'printf "%s\\t%s\\t%s\\n" "$(basename "$0")" "$PWD" "$*" >> {log}\n'
_AWS = """if [ "$1 $2" = "s3 cp" ]; then
  uri="${{5#s3://}}"
  cp {s3}/"$uri" "$6"
fi
"""


@dataclass(frozen=True)
class Call:
    command: str
    cwd: str
    args: str


@dataclass(frozen=True)
class BootRun:
    returncode: int
    stdout: str
    stderr: str
    calls: list[Call]

    def called(self, command: str) -> list[str]:
        return [c.args for c in self.calls if c.command == command]


def _standin(path: Path, body: str) -> None:
    path.write_text("#!/bin/bash\n" + body)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)


def prepare(root: Path, s3: Path, work: Path) -> tuple[Path, Path]:
    """The image's folders under ``root`` and the stand-ins in ``work``: (bin folder, log)."""
    for d in IMAGE_DIRS:
        (root / d).mkdir(parents=True, exist_ok=True)
    bin_dir = work / "bin"
    bin_dir.mkdir(parents=True, exist_ok=True)
    log = work / "calls.tsv"
    record = _RECORD.format(log=shlex.quote(str(log)))
    for name in RECORDED:
        _standin(bin_dir / name, record)
    for name in FAILING:
        _standin(bin_dir / name, record + "exit 1\n")
    _standin(bin_dir / "aws", record + _AWS.format(s3=shlex.quote(str(s3))))
    _standin(root / AGENT_HOME / "bin" / "amazon-cloudwatch-agent-ctl", record)
    return bin_dir, log


def run_boot_script(script: str, root: Path, s3: Path, work: Path, timeout_s: float = 60) -> BootRun:
    """Run ``script`` (rendered with ``root``) with stand-ins; ``s3/<bucket>/<key>`` serves ``aws s3 cp``."""
    bin_dir, log = prepare(root, s3, work)
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    proc = subprocess.run(
        ["bash", "-s"],
        input=script,
        text=True,
        capture_output=True,
        env=env,
        cwd=work,
        timeout=timeout_s,
        check=False,
    )
    lines = log.read_text().splitlines() if log.exists() else []
    calls = [Call(*line.split("\t", 2)) for line in lines]
    return BootRun(proc.returncode, proc.stdout, proc.stderr, calls)


def unit_settings(unit_text: str) -> dict[str, str]:
    """``Key=value`` lines of a systemd unit (the last one wins, as systemd does for these)."""
    return dict(line.split("=", 1) for line in unit_text.splitlines() if "=" in line and not line.startswith("#"))
