"""Run the Terraform CLI on synthesized stacks, offline when a provider mirror exists.

Terraform reads its CLI configuration from ``TF_CLI_CONFIG_FILE`` or ``~/.terraformrc``.
This module never edits that file. When it already configures ``provider_installation``
it is used as is; otherwise a generated config (the user's content, if any, plus a
``filesystem_mirror`` for the providers found on disk and a shared ``plugin_cache_dir``)
is passed to the Terraform processes started here, and only to them.
"""

from __future__ import annotations

import json
import os
import platform
import re
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from modules.config import Settings
from modules.core.paths import PROJECT_ROOT
from modules.core.versions import AWS_PROVIDER_VERSION

CACHE_DIR = PROJECT_ROOT / ".cache" / "terraform"
PROVIDER = "registry.terraform.io/hashicorp/aws"


def platform_dir() -> str:
    machine = platform.machine().lower()
    arch = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(machine, machine)
    return f"{sys.platform}_{arch}"


def _has_provider(mirror: Path) -> bool:
    return (mirror / PROVIDER / AWS_PROVIDER_VERSION / platform_dir()).is_dir()


def mirror_candidates() -> list[Path]:
    """Where a provider mirror is looked for: Terraform's implicit local mirror
    directories, then package-manager style locations under /opt and /usr."""
    home = Path.home()
    xdg = os.environ.get("XDG_DATA_HOME", str(home / ".local" / "share"))
    data_dirs = os.environ.get("XDG_DATA_DIRS", "/usr/local/share:/usr/share").split(":")
    candidates = [home / ".terraform.d" / "plugins", Path(xdg) / "terraform" / "plugins"]
    candidates += [Path(d) / "terraform" / "plugins" for d in data_dirs if d]
    for root in (Path("/opt"), Path("/usr/local/lib"), Path("/usr/lib")):
        if root.is_dir():
            candidates += sorted(p for p in root.iterdir() if p.is_dir())
    return candidates


def find_provider_mirror(settings: Settings) -> Path | None:
    """The configured mirror (``tooling.provider_mirror``), or the first one found."""
    if settings.tooling.provider_mirror:
        return Path(settings.tooling.provider_mirror)
    return next((c for c in mirror_candidates() if _has_provider(c)), None)


def user_cli_config() -> Path | None:
    path = os.environ.get("TF_CLI_CONFIG_FILE") or str(Path.home() / ".terraformrc")
    return Path(path) if Path(path).is_file() else None


def cli_config_text(user_config: str, mirror: Path | None, plugin_cache: Path) -> str:
    """The CLI config for our Terraform processes (pure, for tests)."""
    parts = [user_config.rstrip()] if user_config.strip() else []
    if not re.search(r"^\s*plugin_cache_dir\s*=", user_config, re.M):
        parts.append(f'plugin_cache_dir = "{plugin_cache}"')
    if mirror is not None and not re.search(r"^\s*provider_installation\s*\{", user_config, re.M):
        parts.append(
            "provider_installation {\n"
            f'  filesystem_mirror {{\n    path    = "{mirror}"\n    include = ["{PROVIDER}"]\n  }}\n'
            f'  direct {{\n    exclude = ["{PROVIDER}"]\n  }}\n'
            "}"
        )
    return "\n".join(parts) + "\n"


@dataclass
class Terraform:
    """The Terraform CLI with this project's CLI config and provider cache."""

    settings: Settings
    binary: str = "terraform"
    extra_env: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if shutil.which(self.binary) is None:
            raise FileNotFoundError(f"{self.binary!r} not found on PATH: install Terraform (see .terraform-version)")
        CACHE_DIR.mkdir(parents=True, exist_ok=True)
        plugin_cache = CACHE_DIR / "plugin-cache"
        plugin_cache.mkdir(exist_ok=True)
        user = user_cli_config()
        self.mirror = find_provider_mirror(self.settings)
        config = CACHE_DIR / "terraformrc"
        # Written whole and renamed into place: test workers build Terraform objects while
        # others run `terraform init`, which would otherwise read a truncated file, find no
        # mirror, and go to the (unreachable) registry.
        staged = config.with_name(f"terraformrc.{os.getpid()}.{id(self)}")
        staged.write_text(cli_config_text(user.read_text() if user else "", self.mirror, plugin_cache))
        os.replace(staged, config)
        self.env = {
            **os.environ,
            "TF_CLI_CONFIG_FILE": str(config),
            "TF_IN_AUTOMATION": "1",
            "TF_INPUT": "0",
            "CHECKPOINT_DISABLE": "1",
            **self.extra_env,
        }
        # The plugin cache is shared between stacks; tell Terraform it may link from it
        # even where a lock file does not list the checksum yet.
        self.env["TF_PLUGIN_CACHE_MAY_BREAK_DEPENDENCY_LOCK_FILE"] = "true"

    def run(
        self, stack_dir: Path, *args: str, check: bool = True, timeout: float = 1800
    ) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [self.binary, *args, "-no-color"] if args[0] not in ("version",) else [self.binary, *args],
            cwd=stack_dir,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if check and proc.returncode != 0:
            raise TerraformError(stack_dir.name, args, proc)
        return proc


class TerraformError(RuntimeError):
    def __init__(self, stack: str, args: Sequence[str], proc: subprocess.CompletedProcess[str]) -> None:
        self.stack, self.proc = stack, proc
        output = f"{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
        super().__init__(f"[{stack}] terraform {' '.join(args)} exited {proc.returncode}\n{output}")


# --- offline validation ----------------------------------------------------------------


@dataclass(frozen=True)
class Diagnostic:
    stack: str
    severity: str
    summary: str
    detail: str
    address: str

    def __str__(self) -> str:
        where = f" at {self.address}" if self.address else ""
        detail = f": {self.detail}" if self.detail else ""
        return f"[{self.stack}] {self.severity}{where}: {self.summary}{detail}"


def _address(diag: Mapping[str, object]) -> str:
    """The resource address (from the snippet's context) and file:line, when known."""
    parts = []
    snippet = diag.get("snippet")
    if diag.get("address"):
        parts.append(str(diag["address"]))
    elif isinstance(snippet, Mapping) and snippet.get("context"):
        parts.append(str(snippet["context"]).removeprefix("resource."))
    rng = diag.get("range")
    if isinstance(rng, Mapping):
        start = rng.get("start")
        line = start.get("line") if isinstance(start, Mapping) else None
        parts.append(f"({rng.get('filename', '')}:{line})")
    return " ".join(parts)


def validate_stack(tf: Terraform, stack_dir: Path) -> list[Diagnostic]:
    """``init -backend=false`` + ``validate -json``; every diagnostic, errors and warnings."""
    stack = stack_dir.name
    init = tf.run(stack_dir, "init", "-backend=false", "-input=false", check=False)
    if init.returncode != 0:
        return [Diagnostic(stack, "error", "terraform init failed", (init.stderr or init.stdout).strip(), "")]
    proc = tf.run(stack_dir, "validate", "-json", check=False)
    try:
        result = json.loads(proc.stdout)
    except json.JSONDecodeError:
        return [Diagnostic(stack, "error", "terraform validate gave no JSON", proc.stderr.strip(), "")]
    return [
        Diagnostic(stack, d.get("severity", "error"), d.get("summary", ""), d.get("detail", ""), _address(d))
        for d in result.get("diagnostics", [])
    ]


def validate_all(tf: Terraform, stack_dirs: Sequence[Path], workers: int = 2) -> dict[str, list[Diagnostic]]:
    """Diagnostics of every stack (all of them, not only the first invalid one)."""
    with ThreadPoolExecutor(max_workers=workers) as pool:
        results = pool.map(lambda d: (d.name, validate_stack(tf, d)), stack_dirs)
        return dict(results)


def stack_dirs(outdir: Path) -> list[Path]:
    return sorted(p.parent for p in outdir.glob("stacks/*/cdk.tf.json"))


def main(argv: Sequence[str]) -> int:
    """``python -m tools.deploy.terraform [outdir]``: validate every synthesized stack."""
    from modules.config import SettingsError, load_settings
    from modules.config.environments import synth_outdir

    try:
        settings = load_settings()
    except SettingsError as exc:
        print(exc, file=sys.stderr)
        return 2
    outdir = Path(argv[1]) if len(argv) > 1 else synth_outdir(settings.environment)
    dirs = stack_dirs(outdir)
    if not dirs:
        print(f"no synthesized stacks under {outdir}: run `make synth` first", file=sys.stderr)
        return 2
    tf = Terraform(settings)
    print(f"provider mirror: {tf.mirror or 'none found, using the registry'}")
    results = validate_all(tf, dirs)
    invalid = 0
    for stack, diags in results.items():
        errors = [d for d in diags if d.severity == "error"]
        invalid += bool(errors)
        verdict = "INVALID" if errors else "valid"
        print(f"{stack}: {verdict} ({len(errors)} error(s), {len(diags) - len(errors)} warning(s))")
        for d in diags:
            print(f"  {d}")
    print(f"{len(results) - invalid} of {len(results)} stack(s) valid")
    return 1 if invalid else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
