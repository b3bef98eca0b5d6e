"""The model-serving stack's ECR repository: immutable tags, scan on push, KMS, and a
lifecycle that keeps the images a rollback needs."""

from __future__ import annotations

import json

from cdktf_cdktf_provider_aws.ecr_lifecycle_policy import EcrLifecyclePolicy
from cdktf_cdktf_provider_aws.ecr_repository import (
    EcrRepository,
    EcrRepositoryEncryptionConfiguration,
    EcrRepositoryImageScanningConfiguration,
)
from constructs import Construct

from modules.config import Settings
from modules.stack.base import protect_stores


def image_repository(scope: Construct, settings: Settings, kms_key_arn: str) -> EcrRepository:
    """The repository the deploy pushes the model server's image to, and its lifecycle, in
    ``scope`` (the stack: their ids are Terraform addresses)."""
    repository = EcrRepository(
        scope,
        "repository",
        name=f"{settings.name_prefix}/model-server",
        image_tag_mutability="IMMUTABLE",
        image_scanning_configuration=EcrRepositoryImageScanningConfiguration(scan_on_push=True),
        encryption_configuration=[EcrRepositoryEncryptionConfiguration(encryption_type="KMS", kms_key=kms_key_arn)],
    )
    # The running tasks' image lives here: without it no task can start again. Unprotected, a
    # destroy deletes it with its images (force_delete).
    protect_stores(settings, repository)
    kept = settings.serving.images_kept
    EcrLifecyclePolicy(
        scope,
        "repository-lifecycle",
        repository=repository.name,
        policy=json.dumps(
            {
                "rules": [
                    {
                        "rulePriority": 1,
                        "description": "untagged layers of failed pushes",
                        "selection": {
                            "tagStatus": "untagged",
                            "countType": "sinceImagePushed",
                            "countUnit": "days",
                            "countNumber": 1,
                        },
                        "action": {"type": "expire"},
                    },
                    {
                        "rulePriority": 2,
                        "description": f"keep the newest {kept} images (rollback targets)",
                        "selection": {"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": kept},
                        "action": {"type": "expire"},
                    },
                ]
            }
        ),
    )
    return repository
