"""``[tooling]``: local tooling (offline validation, emulator); never changes the synthesized JSON."""

from __future__ import annotations

from pydantic import Field

from modules.config.checks import Mirror, Section, StackNames


class ToolingSettings(Section):
    """Local tooling (offline validation, emulator); never changes the synthesized JSON."""

    provider_mirror: Mirror = Field(
        default="",
        description="Terraform provider filesystem mirror for offline `terraform init`; "
        "empty = use the CLI config's, else search the usual places",
    )
    stacks: StackNames = Field(
        default=(),
        description="the stacks `main.py` (and so `cdktf synth/deploy/destroy`) builds, e.g. "
        "`state,event-processing`; empty = every stack",
    )
