"""IAM policy documents as the JSON strings Terraform takes, written one way everywhere."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from modules.core.input_rules import s3_object_uri_problem


def policy_document(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def allow(
    sid: str | None,
    actions: str | Sequence[str],
    resources: str | Sequence[str] | None = None,
    *,
    principal: Mapping[str, Any] | None = None,
    condition: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """One Allow statement, its keys always in this order: ``Sid`` (when given), ``Effect``,
    ``Principal`` (resource and trust policies), ``Action``, ``Resource`` (none in a trust
    policy), ``Condition`` (when given). A single action or resource stays a string.

    IAM refuses a statement without an action or, when it has resources, without one, but
    only at apply (MalformedPolicyDocument): refused here, by name."""
    problems = []
    if not actions or any(not action for action in ([actions] if isinstance(actions, str) else actions)):
        problems.append(f"actions={actions!r}: must be one or more non-empty actions, e.g. s3:GetObject")
    if resources is not None and (
        not resources or any(not r for r in ([resources] if isinstance(resources, str) else resources))
    ):
        problems.append(f"resources={resources!r}: must be one or more non-empty ARNs or '*', or None (a trust policy)")
    if problems:
        raise ValueError(f"allow({sid!r}): " + "; ".join(problems))
    statement: dict[str, Any] = {"Sid": sid} if sid else {}
    statement["Effect"] = "Allow"
    if principal:
        statement["Principal"] = dict(principal)
    statement["Action"] = actions if isinstance(actions, str) else list(actions)
    if resources is not None:
        statement["Resource"] = resources if isinstance(resources, str) else list(resources)
    if condition:
        statement["Condition"] = dict(condition)
    return statement


def assume_role_policy(service: str, condition: dict[str, Any] | None = None) -> str:
    """The trust policy of a role that only ``service`` (e.g. ``lambda.amazonaws.com``) may assume;
    ``condition`` narrows it (e.g. to the account, against confused deputies)."""
    return policy_document(allow(None, "sts:AssumeRole", principal={"Service": service}, condition=condition))


def s3_object_read(uri: str, sid: str | None = None) -> dict[str, Any] | None:
    """GetObject on the one object an ``s3://bucket/key`` URI names (a model a server loads at
    start); None for any other URI (a path in the image or on the instance)."""
    if not uri.startswith("s3://"):
        return None
    if found := s3_object_uri_problem(uri):
        raise ValueError(f"s3_object_read: uri={uri!r}: must be {found}")
    bucket, _, key = uri[5:].partition("/")
    return allow(sid, "s3:GetObject", f"arn:aws:s3:::{bucket}/{key}")
