"""What a deploy needs, checked before it starts: one clear message per thing missing.

* the pinned cdktf CLI (``node_modules/``, from ``package-lock.json``) and Node to run it;
* Terraform;
* the programs the chosen stacks run on the deploying machine: every ``local-exec`` step of the
  synthesized JSON names them (model-serving's image build runs ``docker`` and the ``aws`` CLI,
  event-processing's CodeDeploy shift the ``aws`` CLI); Docker must also be running;
* AWS credentials (``sts get-caller-identity``), and, with ``account_id`` set, that they are
  of that account.

Every check takes what it looks at (the ``PATH``, the synthesized stacks, a caller-identity
function), so tests run them on fake executables and fake accounts.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from modules.config import Settings
from modules.core.paths import PROJECT_ROOT

CDKTF_CLI = PROJECT_ROOT / "node_modules" / ".bin" / "cdktf"
# The programs a `local-exec` step may run that a machine may lack, and what each is for.
PROGRAMS = {
    "docker": "https://docs.docker.com/engine/install/ (and start it)",
    "aws": "the AWS CLI v2: https://docs.aws.amazon.com/cli/latest/userguide/getting-started-install.html",
}
_WORD = re.compile(r"(?<![\w./$-])(" + "|".join(PROGRAMS) + r")(?=\s)")

StackDoc = Mapping[str, Any]


def local_exec_steps(doc: StackDoc) -> Iterator[tuple[str, str]]:
    """(resource address, command) of every ``local-exec`` provisioner of a stack's JSON."""
    for rtype, resources in doc.get("resource", {}).items():
        for name, body in resources.items():
            if body.get("count") == 0:  # left out (the emulator's adjustments): never runs
                continue
            for provisioner in body.get("provisioner", []):
                step = provisioner.get("local-exec")
                if step is not None:
                    yield f"{rtype}.{name}", str(step.get("command", ""))


def needed_programs(docs: Mapping[str, StackDoc]) -> dict[str, list[str]]:
    """Each program of :data:`PROGRAMS` the stacks' ``local-exec`` steps run -> ``stack: address`` of each step."""
    needed: dict[str, list[str]] = {}
    for stack, doc in docs.items():
        for address, command in local_exec_steps(doc):
            for program in sorted(set(_WORD.findall(command))):
                needed.setdefault(program, []).append(f"{stack}: {address}")
    return needed


def program_problems(needed: Mapping[str, list[str]], path: str | None = None) -> list[str]:
    """One message per needed program that is not on ``path`` (default ``$PATH``), or, for
    Docker, whose daemon does not answer."""
    problems = []
    for program, users in sorted(needed.items()):
        found = shutil.which(program, path=path)
        used_by = ", ".join(users)
        if found is None:
            problems.append(f"{program}: not found on PATH; needed by {used_by}. Install {PROGRAMS[program]}")
        elif program == "docker" and not _docker_answers(found, path):
            problems.append(
                f"docker: installed ({found}) but its daemon does not answer (`docker info` failed); needed by "
                f"{used_by}. Start Docker, or set serving.image_uri to deploy an image built elsewhere"
            )
    return problems


def _docker_answers(docker: str, path: str | None) -> bool:
    env = {**os.environ, **({"PATH": path} if path is not None else {})}
    try:
        proc = subprocess.run([docker, "info"], env=env, capture_output=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return proc.returncode == 0


def tool_problems(path: str | None = None, cli: Path | None = CDKTF_CLI) -> list[str]:
    """Terraform, and unless ``cli`` is None the cdktf CLI there and Node to run it."""
    problems = []
    if cli is not None and not cli.exists():
        problems.append(f"the cdktf CLI: {cli} is missing; `make setup` installs it (package-lock.json)")
    if cli is not None and shutil.which("node", path=path) is None:
        problems.append("node: not found on PATH; the cdktf CLI needs Node 20 (https://nodejs.org)")
    if shutil.which("terraform", path=path) is None:
        version = (PROJECT_ROOT / ".terraform-version").read_text().strip()
        problems.append(f"terraform: not found on PATH; install Terraform {version} (.terraform-version)")
    return problems


def caller_account(settings: Settings) -> str:
    """The account of the credentials the deploy will use (the emulator's, when emulated)."""
    from tools.deploy.clients import aws_client

    return str(aws_client("sts", settings).get_caller_identity()["Account"])


def account_problems(settings: Settings, who: Callable[[Settings], str] | None = None) -> list[str]:
    """No credentials, or credentials of another account than ``account_id`` pins (``who``:
    the account of the credentials, default :func:`caller_account`)."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        account = (who or caller_account)(settings)
    except (BotoCoreError, ClientError) as exc:
        return [
            f"AWS credentials: `sts get-caller-identity` failed ({exc}); set AWS_PROFILE, or "
            "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, for the account of this environment"
        ]
    if settings.account_id and account != settings.account_id:
        return [
            f"account_id: environment {settings.environment} is pinned to AWS account {settings.account_id}, "
            f"but the credentials are of account {account}; use credentials of {settings.account_id}, "
            "or change account_id"
        ]
    return []
