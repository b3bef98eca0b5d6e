"""The one stack base: AWS provider with default tags, S3 remote state, the resilience policy.

Every stack of the app derives from :class:`BaseStack`, so that these hold everywhere:

* the AWS provider runs in ``settings.region`` and tags every resource with
  ``project``, ``environment``, ``stack`` and ``managed-by`` (plus ``settings.tags``);
* ``required_providers.aws`` is ``hashicorp/aws`` at the pinned version (the bindings
  write a bare ``aws``, which registry mirrors and OpenTofu cannot resolve);
* state lives in the S3 bucket of the ``state`` stack under
  ``<key_prefix>/<environment>/<stack>.tfstate``, encrypted, with S3-native locking
  (``use_lockfile``; Terraform >= 1.10), unless the stack asks for local state;
* with ``settings.account_id`` set, a caller-identity postcondition fails the plan of any
  stack run with another account's credentials, before any change, naming ``account_id``;
* the resilience policy (:mod:`modules.policy`) runs on the stack's JSON at synth; the JSON says
  whether the environment is protected (``"//": {"protected": ...}``, a comment Terraform ignores);
* stores of data are protected, or go with their data on destroy, by :func:`store_teardown`;
* what a stack offers to tools and tests is declared here, not found by ``getattr``: its
  :class:`~modules.stack.contract.Observability` (alarm specs, alarms, dashboard), its alarm
  topic, its chaos experiments and its fault claims (``faults.py`` in its folder);
* with ``settings.emulator_endpoint`` set, and only then, the provider and backend
  point at the emulator and :mod:`modules.stack.emulator` adjustments are applied, after the
  policy has seen the real-AWS form.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

from cdktf import LocalBackend, S3Backend, TerraformDataSource, TerraformResource, TerraformStack
from cdktf_cdktf_provider_aws.cloudwatch_dashboard import CloudwatchDashboard
from cdktf_cdktf_provider_aws.provider import AwsProvider, AwsProviderDefaultTags
from constructs import Construct

from modules.blocks.alarm_topic import TopicHandle
from modules.blocks.alarms import AlarmSpec
from modules.blocks.caller_identity import account_pin
from modules.blocks.chaos import Chaos
from modules.blocks.teardown import Teardown, apply_teardown
from modules.config import Settings
from modules.config.environments import local_state_file
from modules.core.versions import AWS_PROVIDER_SOURCE, AWS_PROVIDER_VERSION, REQUIRED_TERRAFORM
from modules.policy.check import ResiliencePolicy
from modules.policy.document import PROTECTED_MARKER
from modules.stack import emulator
from modules.stack.contract import Observability
from modules.stack.faults import FaultClaims, claims_in_package

MANAGED_BY = "cdktf"

Backend = Literal["s3", "local"]


def state_key(settings: Settings, stack_name: str) -> str:
    return f"{settings.state.key_prefix}/{settings.environment}/{stack_name}.tfstate"


def local_state_path(settings: Settings, stack_name: str) -> str:
    """Local state lives in the project root, never in the regenerated ``cdktf.out``, in a file of
    the environment's own (:func:`~modules.config.environments.local_state_file`).

    Against the emulator it stays in the stack's own working directory, so an emulator
    run can never touch the real bootstrap state.
    """
    if settings.emulated:
        return emulator.local_state_path(stack_name)
    return str(local_state_file(settings.environment, stack_name))


class BaseStack(TerraformStack):
    """A stack with the project's provider, tags and remote state.

    ``backend="local"`` is for the bootstrap ``state`` stack only: the bucket that
    would hold its state does not exist before it is applied.

    A stack sets what it builds of the declared contract: ``observability`` (what its
    ``observe()`` returns), ``alarm_topic`` (where its alarms go: a stack that reads another's topic
    deploys after it), ``chaos`` (its experiments,
    None when it has none or ``chaos.enabled`` is off). ``fault_claims`` are read from its
    folder's ``faults.py``.
    """

    observability: Observability
    alarm_topic: TopicHandle | None
    chaos: Chaos | None

    def __init__(self, scope: Construct, name: str, *, settings: Settings, backend: Backend = "s3") -> None:
        super().__init__(scope, name)
        self.settings = settings
        self.stack_name = name
        self.backend: Backend = backend
        # Other stacks this one reads at plan time (by data source), declared by the stack itself:
        # deployed before it.
        self.uses_stacks: set[str] = set()
        self.provider = AwsProvider(
            self,
            "aws",
            region=settings.region,
            default_tags=[AwsProviderDefaultTags(tags=self.default_tags())],
            **(self._emulator_provider_config() if settings.emulated else {}),
        )
        self.add_override("terraform.required_providers.aws.source", AWS_PROVIDER_SOURCE)
        self.add_override("terraform.required_providers.aws.version", AWS_PROVIDER_VERSION)
        self.add_override("terraform.required_version", REQUIRED_TERRAFORM)
        if settings.account_id:
            account_pin(self, settings.account_id, "account_id", settings.environment)
        # For the policy (modules/policy/document.py): a JSON comment, which Terraform ignores, so
        # no resource's tags or plan change with it.
        self.add_override(f"//.{PROTECTED_MARKER}", settings.is_protected)
        if backend == "s3":
            self._use_s3_backend()
        else:
            LocalBackend(self, path=local_state_path(settings, name))
        self.resilience_policy = ResiliencePolicy(self)
        self.observability = Observability()
        self.alarm_topic = None
        self.chaos = None

    @classmethod
    def wanted(cls, settings: Settings) -> bool:
        """Whether the app builds this stack with ``settings``: every stack but those built on
        demand (the registry's ``on_demand``), which say when."""
        return True

    @property
    def alarm_specs(self) -> Mapping[str, Sequence[AlarmSpec]]:
        """The stack's alarm specs, by the prefix that names their alarms."""
        return self.observability.specs

    @property
    def dashboard(self) -> CloudwatchDashboard | None:
        return self.observability.dashboard

    @property
    def fault_claims(self) -> FaultClaims:
        """The faults the stack claims to survive: ``FAULT_CLAIMS`` of ``faults.py`` beside its ``stack.py``."""
        return claims_in_package(type(self).__module__.rpartition(".")[0])

    def region_provider(self, alias: str, region: str) -> AwsProvider:
        """Another AWS provider like the default one (tags, emulator pointing) in ``region``."""
        return AwsProvider(
            self,
            f"aws-{alias}",
            alias=alias,
            region=region,
            default_tags=[AwsProviderDefaultTags(tags=self.default_tags())],
            **(self._emulator_provider_config() if self.settings.emulated else {}),
        )

    def move_to_region(self, scope: Construct, alias: str, region: str) -> AwsProvider:
        """Every resource and data source under ``scope`` managed by a provider in ``region``
        (:meth:`region_provider`): call it once ``scope`` is complete."""
        provider = self.region_provider(alias, region)
        for node in scope.node.find_all():
            if isinstance(node, TerraformResource | TerraformDataSource):
                node.provider = provider
        return provider

    def default_tags(self) -> dict[str, str]:
        return {
            **self.settings.tags,
            "project": self.settings.project,
            "environment": self.settings.environment,
            "stack": self.stack_name,
            "managed-by": MANAGED_BY,
        }

    def protect_stores(self, *resources: TerraformResource, expendable: bool = False) -> None:
        protect_stores(self.settings, *resources, expendable=expendable)

    def finalize(self) -> None:
        """Called once the stack is built, before ``app.synth()``: a stack whose alarms notify
        another stack's topic deploys after it; the resilience policy judges the stack, then the
        emulator adjustments (if any) change it.

        In that order, so the policy always evaluates the real-AWS form and the JSON
        written is the emulator's. Not as cdktf aspects: cdktf calls an aspect for every
        construct of the stack, each call a round trip from the jsii kernel to Python
        (about 500 for the app, ~1 s of every synth), to act on the stack alone.
        """
        if self.alarm_topic is not None and self.alarm_topic.from_stack:
            self.uses_stacks.add(self.alarm_topic.from_stack)
        self.resilience_policy.evaluate()
        if self.settings.emulated:
            emulator.apply_adjustments(self, self.settings.is_protected)

    def _emulator_provider_config(self) -> dict[str, Any]:
        return {**emulator.provider_config(self.settings.emulator_endpoint), **emulator.provider_adjustments()}

    def _use_s3_backend(self) -> None:
        S3Backend(
            self,
            bucket=self.settings.state.bucket,
            key=state_key(self.settings, self.stack_name),
            region=self.settings.region,
            encrypt=True,
        )
        # cdktf's S3Backend has no use_lockfile yet.
        self.add_override("terraform.backend.s3.use_lockfile", True)
        if self.settings.emulated:
            for key, value in emulator.backend_config(self.settings.emulator_endpoint).items():
                self.add_override(f"terraform.backend.s3.{key}", value)


def store_teardown(settings: Settings, *, expendable: bool = False) -> Teardown:
    """How a destroy treats a store of data in this environment: the one place that decides.

    Unprotected (``settings.is_protected`` false: by default every environment but ``prod``):
    the store goes with its data, so a teardown works as configured. Protected: refused
    (``prevent_destroy``, deletion protection; rules ``prod-stateful-protected`` and
    ``prod-no-force-destroy``), except an ``expendable`` store (logs that expire, an artifact
    every deploy uploads again), which a destroy removes only once it is empty.
    """
    if not settings.is_protected:
        return Teardown.WITH_DATA
    return Teardown.WHEN_EMPTY if expendable else Teardown.REFUSED


def protect_stores(settings: Settings, *resources: TerraformResource, expendable: bool = False) -> None:
    """:func:`store_teardown` written on ``resources`` (stores a stack builds without a block)."""
    apply_teardown(store_teardown(settings, expendable=expendable), *resources)
