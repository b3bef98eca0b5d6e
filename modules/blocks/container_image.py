"""A container image built from a source folder and pushed to ECR by the deploy.

The tag is a hash of the folder's contents, so an unchanged folder means an unchanged
task definition (no redeploy), and a changed one means a new, immutable tag.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from cdktf import AssetType, DataResource, LocalExecProvisioner, TerraformAsset
from constructs import Construct

# Files that do not change the image: caches, editor and test leftovers, built artifacts.
IGNORED_DIRS = frozenset({"__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache"})
IGNORED_SUFFIXES = (".pyc", ".pyo")
IGNORED_FILES = frozenset({"wine.onnx"})  # the default model is built inside the image


def source_files(folder: Path) -> list[Path]:
    return sorted(
        p
        for p in folder.rglob("*")
        if p.is_file()
        and not IGNORED_DIRS.intersection(p.relative_to(folder).parts)
        and not p.name.endswith(IGNORED_SUFFIXES)
        and p.name not in IGNORED_FILES
    )


def folder_hash(folder: Path) -> str:
    """SHA-256 over every source file's relative path and bytes (32 hex characters)."""
    digest = hashlib.sha256()
    for path in source_files(folder):
        digest.update(path.relative_to(folder).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()[:32]


# Runs in the synthesized stack directory at apply time. ECR tags are immutable: an image
# already pushed under this hash (e.g. after a revert) is reused, never pushed again.
BUILD_SCRIPT = """set -euo pipefail
if aws ecr describe-images --region "$REGION" --repository-name "$REPOSITORY" \
    --image-ids imageTag="$TAG" >/dev/null 2>&1; then
  echo "image $REPOSITORY:$TAG exists; not rebuilding"
  exit 0
fi
REGISTRY=$(echo "$REPOSITORY_URL" | cut -d/ -f1)
aws ecr get-login-password --region "$REGION" | docker login --username AWS --password-stdin "$REGISTRY"
docker build --pull --platform "$PLATFORM" --tag "$REPOSITORY_URL:$TAG" "$CONTEXT"
docker push "$REPOSITORY_URL:$TAG"
"""


@dataclass(frozen=True, kw_only=True)
class ContainerImageProps:
    source_dir: Path  # holds the Dockerfile
    repository_name: str
    repository_url: str
    region: str
    platform: str = "linux/amd64"  # Fargate X86_64

    def __post_init__(self) -> None:
        problems = []
        if not (self.source_dir / "Dockerfile").is_file():
            problems.append(f"source_dir={self.source_dir}: has no Dockerfile")
        if not self.platform.startswith("linux/"):
            problems.append(f"platform={self.platform!r}: must be linux/amd64 or linux/arm64")
        if problems:
            raise ValueError("ContainerImageProps: " + "; ".join(problems))


class ContainerImage(Construct):
    """The image of ``source_dir`` in ECR, tagged with the folder's hash.

    The build-and-push step is a ``terraform_data`` resource whose replacement is
    triggered by the hash alone: an apply with an unchanged folder runs no docker at all.
    Depend on :attr:`build` (the task definition does) so no task references a tag that
    is not pushed yet.
    """

    def __init__(self, scope: Construct, id: str, props: ContainerImageProps) -> None:
        super().__init__(scope, id)
        self.tag = folder_hash(props.source_dir)
        self.asset = TerraformAsset(
            self, "context", path=str(props.source_dir), type=AssetType.DIRECTORY, asset_hash=self.tag
        )
        self.uri = f"{props.repository_url}:{self.tag}"
        self.build = DataResource(
            self,
            "build",
            triggers_replace={"tag": self.tag, "repository": props.repository_url},
            input={"image": self.uri},
            provisioners=[
                LocalExecProvisioner(
                    type="local-exec",
                    command=BUILD_SCRIPT,
                    interpreter=["bash", "-c"],
                    environment={
                        "REGION": props.region,
                        "REPOSITORY": props.repository_name,
                        "REPOSITORY_URL": props.repository_url,
                        "TAG": self.tag,
                        "CONTEXT": self.asset.path,
                        "PLATFORM": props.platform,
                    },
                )
            ],
        )
