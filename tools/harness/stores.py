"""Something in every store of a deployed stack before it is destroyed.

An empty bucket or repository proves nothing about a teardown: AWS (and the emulator) delete
those without ``force_destroy`` or ``force_delete``. Filled, a destroy passes only when the
stack is configured to remove its stores with their data, which is what an unprotected
environment's teardown promises.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

PROBE_KEY = "teardown-probe/object.txt"
PROBE_TAG = "teardown-probe"


@dataclass(frozen=True)
class Stores:
    """The buckets and image repositories a stack's Terraform state holds."""

    buckets: tuple[str, ...]
    repositories: tuple[str, ...]

    def __str__(self) -> str:
        return f"{len(self.buckets)} bucket(s), {len(self.repositories)} image repository(ies)"


def stores_in_state(state: dict[str, Any]) -> Stores:
    """The stores of a state file (``terraform state pull``): what is deployed, by name."""

    def names(rtype: str, attribute: str) -> tuple[str, ...]:
        return tuple(
            str(instance["attributes"][attribute])
            for resource in state.get("resources", [])
            if resource.get("mode") == "managed" and resource.get("type") == rtype
            for instance in resource.get("instances", [])
        )

    return Stores(names("aws_s3_bucket", "bucket"), names("aws_ecr_repository", "name"))


def probe_manifest() -> str:
    """The smallest image manifest the ECR API takes: an empty config, no layers."""
    config = b"{}"
    return json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
            "config": {
                "mediaType": "application/vnd.docker.container.image.v1+json",
                "size": len(config),
                "digest": f"sha256:{hashlib.sha256(config).hexdigest()}",
            },
            "layers": [],
        }
    )


def fill_stores(s3: Any, ecr: Any, stores: Stores) -> None:
    """Two versions of one object in each bucket (the buckets are versioned: a noncurrent
    version must go too) and one image in each repository."""
    for bucket in stores.buckets:
        for body in (b"first version\n", b"second version\n"):
            s3.put_object(Bucket=bucket, Key=PROBE_KEY, Body=body)
    for repository in stores.repositories:
        ecr.put_image(repositoryName=repository, imageManifest=probe_manifest(), imageTag=PROBE_TAG)
