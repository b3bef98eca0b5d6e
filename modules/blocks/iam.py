"""IAM policy documents as the JSON strings Terraform takes, written one way everywhere."""

from __future__ import annotations

import json
from typing import Any


def policy_document(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def allow(sid: str, actions: list[str], resources: list[str] | str, **extra: Any) -> dict[str, Any]:
    """One Allow statement; ``extra`` adds e.g. a ``Condition``."""
    return {"Sid": sid, "Effect": "Allow", "Action": actions, "Resource": resources, **extra}


def assume_role_policy(service: str, condition: dict[str, Any] | None = None) -> str:
    """The trust policy of a role that only ``service`` (e.g. ``lambda.amazonaws.com``) may assume;
    ``condition`` narrows it (e.g. to the account, against confused deputies)."""
    statement: dict[str, Any] = {"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}
    if condition is not None:
        statement["Condition"] = condition
    return policy_document(statement)


def s3_object_read(uri: str, sid: str | None = None) -> dict[str, Any] | None:
    """GetObject on the one object an ``s3://bucket/key`` URI names (a model a server loads at
    start); None for any other URI (a path in the image or on the instance)."""
    if not uri.startswith("s3://"):
        return None
    bucket, _, key = uri[5:].partition("/")
    statement: dict[str, Any] = {"Sid": sid} if sid else {}
    return {**statement, "Effect": "Allow", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{bucket}/{key}"}
