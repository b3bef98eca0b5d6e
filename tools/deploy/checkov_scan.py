"""Security scan: checkov over every synthesized stack, offline, with scoped waivers.

checkov's own skips are global (a skipped check is skipped for every resource), so
waivers live in ``pyproject.toml`` under ``[[tool.checkov-waivers]]``, each scoped to a
stack and a resource address pattern and carrying its reason. A failure without a
waiver fails the scan; so does a waiver that no longer matches any failure.

checkov runs from its own environment, ``.cache/checkov`` (``tools/checkov/Pipfile.lock``,
synced by ``make setup``): its exact pins (boto3, packaging) cannot share the project's.

``python -m tools.deploy.checkov_scan [outdir]`` (``make checkov``).
"""

from __future__ import annotations

import fnmatch
import json
import subprocess
import sys
import tempfile
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modules.core.paths import PROJECT_ROOT

CHECKOV = PROJECT_ROOT / ".cache" / "checkov" / "bin" / "checkov"


@dataclass(frozen=True)
class Waiver:
    check: str
    stack: str  # fnmatch pattern on the stack name; several separated by ","
    resource: str  # fnmatch pattern on "<type>.<name>"
    reason: str
    # Non-default settings under which the waived resource exists (e.g. "stream.fleet_kind =
    # asg"): a default-settings scan cannot see it, so it does not count as stale there.
    variant: str = ""

    def covers(self, finding: Finding) -> bool:
        return (
            self.check == finding.check
            and any(fnmatch.fnmatch(finding.stack, s.strip()) for s in self.stack.split(","))
            and fnmatch.fnmatch(finding.resource, self.resource)
        )


@dataclass(frozen=True)
class Finding:
    check: str
    stack: str
    resource: str
    title: str

    def __str__(self) -> str:
        return f"[{self.stack}] {self.check} {self.resource}: {self.title}"


@dataclass
class ScanResult:
    passed: int
    failures: list[Finding]
    waived: list[tuple[Finding, Waiver]]
    stale_waivers: list[Waiver]

    @property
    def ok(self) -> bool:
        return not self.failures and not self.stale_waivers


def load_waivers(pyproject: Path = PROJECT_ROOT / "pyproject.toml") -> list[Waiver]:
    data = tomllib.loads(pyproject.read_text())
    entries = data.get("tool", {}).get("checkov-waivers", [])
    waivers = []
    for i, entry in enumerate(entries):
        missing = [k for k in ("check", "stack", "resource", "reason") if not str(entry.get(k, "")).strip()]
        if missing:
            raise ValueError(f"tool.checkov-waivers[{i}] in {pyproject}: missing {', '.join(missing)}")
        waivers.append(
            Waiver(entry["check"], entry["stack"], entry["resource"], entry["reason"], entry.get("variant", ""))
        )
    return waivers


def _scannable_copy(stack_json: Path, dest: Path) -> None:
    doc = json.loads(stack_json.read_text())
    # checkov's terraform_json parser crashes on a string-valued `terraform` entry
    # (`required_version`); it carries nothing a security check reads.
    doc.get("terraform", {}).pop("required_version", None)
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text(json.dumps(doc))


def run_checkov(outdir: Path) -> list[dict[str, Any]]:
    """checkov's JSON reports for every stack under ``outdir``."""
    stacks = sorted(outdir.glob("stacks/*/cdk.tf.json"))
    if not stacks:
        raise FileNotFoundError(f"no synthesized stacks under {outdir}: run `make synth` first")
    if not CHECKOV.is_file():
        raise FileNotFoundError(f"{CHECKOV} is missing: `make setup` installs it from tools/checkov/Pipfile.lock")
    with tempfile.TemporaryDirectory(prefix="checkov-") as tmp:
        for path in stacks:
            _scannable_copy(path, Path(tmp) / path.parent.name / "cdk.tf.json")
        proc = subprocess.run(
            [
                str(CHECKOV),
                "-d",
                tmp,
                "--framework",
                "terraform_json",
                "--skip-download",
                "--compact",
                "--output",
                "json",
            ],
            capture_output=True,
            text=True,
            timeout=900,
        )
    if proc.returncode not in (0, 1):
        raise RuntimeError(f"checkov exited {proc.returncode}:\n{proc.stderr[-4000:]}")
    reports = json.loads(proc.stdout) if proc.stdout.strip() else []
    reports = reports if isinstance(reports, list) else [reports]
    for report in reports:
        if report.get("summary", {}).get("parsing_errors"):
            raise RuntimeError(f"checkov could not parse: {report['results'].get('parsing_errors')}")
    return reports


def scan(outdir: Path, waivers: Sequence[Waiver]) -> ScanResult:
    reports = run_checkov(outdir)
    passed = 0
    findings: list[Finding] = []
    for report in reports:
        results = report.get("results", {})
        passed += len(results.get("passed_checks", []))
        for f in results.get("failed_checks", []):
            stack = Path(f["file_path"]).parent.name
            findings.append(Finding(f["check_id"], stack, f["resource"], f["check_name"]))
    failures, waived, used = [], [], set()
    for finding in findings:
        waiver = next((w for w in waivers if w.covers(finding)), None)
        if waiver is None:
            failures.append(finding)
        else:
            waived.append((finding, waiver))
            used.add(waiver)
    return ScanResult(passed, failures, waived, [w for w in waivers if w not in used and not w.variant])


def main(argv: Sequence[str]) -> int:
    from tools.synth_output import current_outdir

    outdir = Path(argv[1]) if len(argv) > 1 else current_outdir()
    result = scan(outdir, load_waivers())
    for finding, waiver in result.waived:
        print(f"waived  {finding}\n        reason: {waiver.reason}")
    for finding in result.failures:
        print(f"FAILED  {finding}")
    for waiver in result.stale_waivers:
        print(f"STALE   waiver {waiver.check} [{waiver.stack}] {waiver.resource}: matches no failure; remove it")
    print(
        f"checkov: {result.passed} passed, {len(result.failures)} failed, "
        f"{len(result.waived)} waived, {len(result.stale_waivers)} stale waiver(s)"
    )
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
