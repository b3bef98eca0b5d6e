"""Shared fixtures: one jsii process per test session, synths shared by every test."""

from __future__ import annotations

import json
import os
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

from modules.config import Settings, load_settings
from modules.config.settings import EXPOSED_STACKS
from tools.harness.moto_server import MotoServer

PROJECT_ROOT = Path(__file__).resolve().parent.parent
EMULATOR_URL = "http://127.0.0.1:4566"  # never contacted by synth-only tests

StackDoc = dict[str, Any]


def settings_from(env: dict[str, str] | None = None) -> Settings:
    """Settings from the embedded defaults plus ``env``, ignoring the developer's own."""
    return load_settings(environ=env or {}, settings_file=None)


def load_stacks(outdir: Path) -> dict[str, StackDoc]:
    return {p.parent.name: json.loads(p.read_text()) for p in sorted(outdir.glob("stacks/*/cdk.tf.json"))}


def resources(doc: StackDoc, rtype: str) -> list[dict[str, Any]]:
    """Every resource of ``rtype`` in a synthesized stack."""
    return list(doc.get("resource", {}).get(rtype, {}).values())


def one(doc: StackDoc, rtype: str) -> dict[str, Any]:
    found = resources(doc, rtype)
    assert len(found) == 1, f"expected exactly one {rtype}, found {len(found)}"
    return found[0]


def stack_doc(stack: Any) -> StackDoc:
    """A ``cdktf.TerraformStack``'s JSON as ``cdktf synth`` writes it, with each element's
    ``//`` metadata (its construct path). ``Testing.synth`` strips that metadata, and
    ``Testing.full_synth`` refuses a stack without a provider: a block's own test stack has none."""
    import cdktf

    cdktf.Testing.synth(stack)  # runs the stack's aspects, as a synth does
    return json.loads(json.dumps(stack.to_terraform()))  # type: ignore[no-any-return]


def by_path(doc: StackDoc, rtype: str, path: str) -> dict[str, Any]:
    """The one resource of ``rtype`` (``data.<type>`` for a data source) whose construct path
    is ``<stack>/<path>``."""
    kind, _, dtype = rtype.partition(".")
    elements = doc.get("data", {}).get(dtype, {}).values() if kind == "data" and dtype else resources(doc, rtype)
    found = [r for r in elements if r["//"]["metadata"]["path"].split("/", 1)[1] == path]
    assert len(found) == 1, f"{rtype} at {path}: {len(found)} found"
    return found[0]


def private_subnet_refs(doc: StackDoc) -> set[str]:
    """How ``doc`` names its private subnets: its own (``per_stack``) or looked up (``shared``, ``existing``)."""
    own = {f"${{aws_subnet.{n}.id}}" for n in doc.get("resource", {}).get("aws_subnet", {}) if "private" in n}
    return own | {f"${{data.aws_subnet.{n}.id}}" for n in doc.get("data", {}).get("aws_subnet", {}) if "private" in n}


def ref(resource: dict[str, Any], rtype: str, attribute: str) -> str:
    """The Terraform expression another element uses for ``resource``'s ``attribute``."""
    return "${" + f"{rtype}.{resource['//']['metadata']['uniqueId']}.{attribute}" + "}"


@pytest.fixture(scope="session")
def default_settings() -> Settings:
    return settings_from()


def shared_synth(
    tmp_path_factory: pytest.TempPathFactory, name: str, env: dict[str, str], only: list[str] | None = None
) -> Path:
    """The stacks synthesized with ``env`` once per test session, shared by the pytest-xdist
    workers: the first worker to ask synthesizes under a lock, the others read its output.
    (Each worker synthesizing every variant it needs took minutes of the 2 cores.) Readers
    only: a test that changes a synthesized stack works on its own copy."""
    import fcntl
    import shutil

    from modules.app import synth

    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent  # the session's base directory, above every worker's own
    folder = root / f"synth-{name}"
    with open(root / f"synth-{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        if not (folder / "done").is_file():
            shutil.rmtree(folder, ignore_errors=True)  # a worker that failed half-way
            synth(settings_from(env), folder / "cdktf.out", only=only)
            (folder / "done").touch()
    return folder / "cdktf.out"


@pytest.fixture(scope="session")
def synth_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every stack synthesized once with the embedded defaults (real AWS)."""
    return shared_synth(tmp_path_factory, "default", {})


def every_stack(outdir: Path, *, on_demand: bool = False) -> dict[str, StackDoc]:
    """The JSON of a synth of every registered stack, asserted complete, so that a test looping
    over the stacks cannot pass on a synth that wrote fewer, or none. ``on_demand``: the settings
    asked for the stacks built on demand too (``alarms``; never with the defaults)."""
    from modules.registry import STACKS

    docs = load_stacks(outdir)
    expected = sorted(entry.name for entry in STACKS if on_demand or not entry.on_demand)
    assert sorted(docs) == expected, f"stacks synthesized in {outdir}: {sorted(docs)}"
    return docs


@pytest.fixture(scope="session")
def stacks(synth_dir: Path) -> dict[str, StackDoc]:
    return every_stack(synth_dir)


# A protected environment that is not called prod: protection is a setting, not a name.
# Protected (not by its name) and so with an alarm destination: e-mail, so that the `alarms`
# stack is built too, and judged like the others.
PROTECTED_ENV = {"RAI_PROTECTED": "true", "RAI_ALARMS_EMAILS": "oncall@example.com"}


@pytest.fixture(scope="session")
def protected_stacks(tmp_path_factory: pytest.TempPathFactory) -> dict[str, StackDoc]:
    """Every stack synthesized once for a protected environment (real AWS)."""
    return every_stack(shared_synth(tmp_path_factory, "protected", PROTECTED_ENV), on_demand=True)


EMULATOR_ENV = {"RAI_EMULATOR_ENDPOINT": EMULATOR_URL}


@pytest.fixture(scope="session")
def emulator_synth_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every stack synthesized for an emulator endpoint (nothing is contacted)."""
    return shared_synth(tmp_path_factory, "emulator", EMULATOR_ENV)


@pytest.fixture(scope="session")
def emulator_stacks(emulator_synth_dir: Path) -> dict[str, StackDoc]:
    return every_stack(emulator_synth_dir)


@pytest.fixture(scope="module")
def moto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MotoServer]:
    """A moto server (with the fixes of tools/harness/moto_fixes.py) for the test module that asks
    for it: started once for the module, shared by its tests (each names its own resources) and
    stopped with it, so no module sees another's state. A test that needs a server of its own
    starts it with ``MotoServer(tmp_path / "moto.log")``: its log is then in the test's
    ``tmp_path``, where a failed emulator test's report reads the refused calls."""
    with MotoServer(tmp_path_factory.mktemp("moto") / "moto.log") as server:
        yield server


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No RAI_ variables from the developer's shell leak into a test."""
    for name in list(os.environ):
        if name.startswith("RAI_"):
            monkeypatch.delenv(name)
    yield


# Where a protected environment's alarms go (it needs somewhere): the team's topic, so that no
# stack creates one and no `alarms` stack is built.
ONCALL_TOPIC_ARN = "arn:aws:sns:us-east-1:123456789012:oncall"
PROD_ALARMS = {"RAI_ALARMS_TOPIC_ARN": ONCALL_TOPIC_ARN}

# ``exposure = public`` with its requirements (the certificate need not exist for a synth).
PUBLIC_CERT = "arn:aws:acm:us-east-1:123456789012:certificate/0a1b2c3d-4e5f"
PUBLIC_ENV = {
    "RAI_LOAD_BALANCER_EXPOSURE": "public",
    "RAI_LOAD_BALANCER_CERTIFICATE_ARN": PUBLIC_CERT,
    "RAI_LOAD_BALANCER_JWT_ISSUER": "https://idp.example.com/tenant",
    "RAI_LOAD_BALANCER_JWT_AUDIENCE": "models",
    "RAI_LOAD_BALANCER_RATE_LIMIT_PER_5MIN": "500",
    "RAI_MODEL_SERVER_MAX_BODY_BYTES": "262144",
}


@pytest.fixture(scope="session")
def public_synth_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The stacks with a load balancer synthesized with :data:`PUBLIC_ENV` (real AWS)."""
    return shared_synth(tmp_path_factory, "public", PUBLIC_ENV, only=list(EXPOSED_STACKS))


@pytest.fixture(scope="session")
def public_stacks(public_synth_dir: Path) -> dict[str, StackDoc]:
    return load_stacks(public_synth_dir)


ONCALL_SECONDARY_TOPIC_ARN = "arn:aws:sns:us-west-2:123456789012:oncall"
FLEET_VARIANT_ENV = {
    "RAI_ENVIRONMENT": "prod",
    **PROD_ALARMS,
    "RAI_ALARMS_SECONDARY_TOPIC_ARN": ONCALL_SECONDARY_TOPIC_ARN,
    "RAI_LOAD_BALANCER_CERTIFICATE_ARN": "arn:aws:acm:us-east-1:123456789012:certificate/0a1b2c3d-4e5f",
    "RAI_HA_FAILOVER_SECONDARY_REGION": "us-west-2",
    "RAI_HA_FAILOVER_SECONDARY_ZONE_IDS": "usw2-az1,usw2-az2,usw2-az3",
    "RAI_HA_FAILOVER_HOSTED_ZONE_ID": "Z0123456789ABCDEFGHIJ",
    "RAI_HA_FAILOVER_RECORD_NAME": "models.example.com",
    "RAI_HA_FAILOVER_HEALTH_CHECK_INTERVAL_S": "5",
    "RAI_TARGET_GROUPS_ALLOWED_CIDRS": "10.0.0.0/8,192.168.0.0/16",
    "RAI_TARGET_GROUPS_WEIGHTS": "stable=50,canary=50",
    "RAI_TARGET_GROUPS_STICKINESS_S": "3600",
    "RAI_TARGET_GROUPS_CANARY_MODEL_URI": "s3://acme-models/wine/v2.onnx",
}


@pytest.fixture(scope="session")
def fleet_variant_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """ha-failover and target-groups with every optional feature on (one synth for both test files)."""
    return shared_synth(
        tmp_path_factory, "fleet-variant", FLEET_VARIANT_ENV, only=["network", "ha-failover", "target-groups"]
    )


@pytest.fixture(scope="session")
def fleet_variant(fleet_variant_dir: Path) -> dict[str, StackDoc]:
    return load_stacks(fleet_variant_dir)


# The stacks that use the network, in the two modes besides the default (`shared`).
NETWORK_USERS = ["model-serving", "ha-failover", "target-groups", "stream-analytics"]
EXISTING_NETWORK_ENV = {
    "RAI_NETWORK_MODE": "existing",
    "RAI_NETWORK_VPC_ID": "vpc-0a1b2c3d4e5f67890",
    "RAI_NETWORK_PRIVATE_SUBNET_IDS": "subnet-0000000000000000a,subnet-0000000000000000b,subnet-0000000000000000c",
}


@pytest.fixture(scope="session")
def per_stack_synth_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The network users with `network.mode = per_stack`: each builds its own VPC (main's form)."""
    return shared_synth(tmp_path_factory, "per-stack", {"RAI_NETWORK_MODE": "per_stack"}, only=NETWORK_USERS)


@pytest.fixture(scope="session")
def existing_synth_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The network users in the user's VPC (`network.mode = existing`), and the then empty `network` stack."""
    return shared_synth(tmp_path_factory, "existing", EXISTING_NETWORK_ENV, only=["network", *NETWORK_USERS])


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Under pytest-xdist (`make test`), longest first: emulator round trips (minutes each,
    mostly waiting on the emulator) and tests marked ``minutes`` (minutes of CPU, such as
    the stock-import synths), then the other slow tests, then the fast ones, so the long ones
    start at once on different workers instead of forming the tail."""
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        return

    def rank(item: pytest.Item) -> int:
        if item.get_closest_marker("minutes"):
            return 0
        if item.get_closest_marker("emulator"):
            return 1
        return 2 if item.get_closest_marker("slow") else 3

    items.sort(key=rank)  # stable: file order within a rank


def refused_emulator_calls(log_dir: Path, limit: int = 40) -> list[str]:
    """The emulator's answers other than 2xx/3xx in the moto logs under ``log_dir`` (one ``api``
    line per call: client port, action, status, time, ``replayed`` for a retry answered from its
    first attempt; tools/harness/moto_fixes.py), last first."""
    lines = []
    for log in sorted(log_dir.glob("moto*.log")):
        for line in log.read_text(errors="replace").splitlines():
            parts = line.removesuffix(" replayed").split()
            if parts[:1] == ["api"] and len(parts) >= 5 and not parts[-2].startswith(("2", "3")):
                lines.append(f"{log.name}: {line}")
    return lines[::-1][:limit]


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """A failed emulator test shows the calls the emulator refused (a create answered
    Duplicate, a delete answered NotFound): CI output is all a failed run leaves behind."""
    report = yield
    if call.when == "teardown" and CPU_START in item.stash:
        report.user_properties.append(("cpu_s", cpu_seconds() - item.stash[CPU_START]))
    tmp = getattr(item, "funcargs", {}).get("tmp_path")
    if call.when == "call" and report.failed and item.get_closest_marker("emulator") and isinstance(tmp, Path):
        refused = refused_emulator_calls(tmp)
        if refused:
            report.sections.append(("emulator calls refused (latest first)", "\n".join(refused)))
    return report


# Where the suite's CPU goes: on 2 cores `make test` is bound by CPU, not by waits, so the
# tests that cost the most CPU (their own and their child processes': Terraform, the
# emulator, the cdktf CLI) are what to trim. `make test` prints the top ones after --durations.
CPU_START = pytest.StashKey[float]()
CPU_REPORT_TOP = 8


def cpu_seconds() -> float:
    """CPU time of this process and of its children that have ended, user and system."""
    import resource

    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    item.stash[CPU_START] = cpu_seconds()


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    costs: list[tuple[float, str]] = [
        (float(value), report.nodeid)
        for reports in terminalreporter.stats.values()
        for report in reports
        if isinstance(report, pytest.TestReport) and report.when == "teardown"
        for key, value in report.user_properties
        if key == "cpu_s" and isinstance(value, int | float)
    ]
    if not costs:
        return
    total = sum(cost for cost, _ in costs)
    # jsii's node process lives as long as its worker: its synth CPU is not in these figures.
    title = f"most CPU (setup to teardown, with child processes that ended; {total:.0f} s in all)"
    terminalreporter.write_sep("=", title)
    for cost, nodeid in sorted(costs, reverse=True)[:CPU_REPORT_TOP]:
        terminalreporter.write_line(f"{cost:8.1f}s cpu  {nodeid}")
