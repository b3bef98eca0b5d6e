"""The fixed choices (Literal types) a setting and the block props it maps to share, defined once."""

from __future__ import annotations

from typing import Literal

NatMode = Literal["per_az", "shared", "none"]
# Where a stack's VPC comes from: the `network` stack, the stack itself, or the user.
NetworkMode = Literal["shared", "per_stack", "existing"]
SpotAllocation = Literal["capacity-optimized", "price-capacity-optimized"]
