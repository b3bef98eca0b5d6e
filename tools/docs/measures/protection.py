"""Who can reach a stack and what is kept encrypted: each load balancer's exposure (TLS, WAF,
rate limit, auth) and each data store's encryption at rest."""

from __future__ import annotations

from modules.policy.document import Resource, StackDocument
from modules.policy.rule import blocks
from modules.policy.rules import encrypted
from tools.docs.measures.row import Row, path_cell


def exposure(doc: StackDocument) -> Row:
    """Each load balancer: internal or public; for a public one its TLS, WAF, rate limit and auth."""
    lbs = doc.of_type("aws_lb")
    if not lbs:
        return Row("exposure", "n/a", "no load balancer")
    details = []
    for lb in lbs:
        if lb.body.get("internal") in (True, "true"):
            details.append(f"{path_cell(doc, lb)}: internal")
            continue
        listeners = doc.referencing(lb, "aws_lb_listener", key="load_balancer_arn")
        tls = sorted({str(x.body.get("ssl_policy")) for x in listeners if x.body.get("protocol") == "HTTPS"})
        acls = [
            acl
            for assoc in doc.referencing(lb, "aws_wafv2_web_acl_association", key="resource_arn")
            for acl in doc.referenced(assoc.body.get("web_acl_arn"), "aws_wafv2_web_acl")
        ]
        rules = {str(r.get("name")): r for acl in acls for r in (acl.body.get("rule") or [])}
        rate = rules.get("rate-per-ip", {}).get("statement", {}).get("rate_based_statement", {}).get("limit")
        auth = "bearer JWT" if "bearer-token-required" in rules else "**none**"
        limit = f"{rate}/5 min per IP" if rate else "**none**"
        details.append(
            f"{path_cell(doc, lb)}: **public**, TLS {', '.join(tls) or '**none**'}, "
            f"WAF {'yes' if acls else '**no**'}, rate limit {limit}, auth {auth}"
        )
    public = sum(1 for lb in lbs if lb.body.get("internal") not in (True, "true"))
    return Row("exposure", "public" if public else "internal", "; ".join(details))


def _encryption_of(doc: StackDocument, res: Resource) -> str | None:
    """How a data store is encrypted at rest ("" = not stated), None if not a data store."""
    if res.type == "aws_s3_bucket":
        for c in doc.companions(res, "aws_s3_bucket_server_side_encryption_configuration"):
            algo = c.get("rule.apply_server_side_encryption_by_default.sse_algorithm")
            return {"aws:kms": "KMS", "AES256": "SSE-S3"}.get(str(algo), str(algo))
        return ""
    if res.type in ("aws_kinesis_stream", "aws_sqs_queue", "aws_sns_topic", "aws_dynamodb_table"):
        if not encrypted(res):
            return ""
        return "SSE-SQS" if res.type == "aws_sqs_queue" and not res.body.get("kms_master_key_id") else "KMS"
    if res.type == "aws_cloudwatch_log_group":
        return "KMS" if res.body.get("kms_key_id") else "service default"
    if res.type == "aws_ecr_repository":
        return "KMS" if res.get("encryption_configuration.encryption_type") == "KMS" else "AES256"
    if res.type == "aws_launch_template":
        volumes = blocks(res.body.get("block_device_mappings"))
        ok = volumes and all(
            str(ebs.get("encrypted")).lower() == "true" for v in volumes for ebs in blocks(v.get("ebs")) or [{}]
        )
        return "EBS encrypted" if ok else ""
    return None


def encryption(doc: StackDocument) -> Row:
    stores = [(res, how) for res in doc if (how := _encryption_of(doc, res)) is not None]
    if not stores:
        return Row("encryption coverage", "n/a", "no data stores")
    done = [f"{path_cell(doc, r)} {how}" for r, how in stores if how]
    none = [f"**{path_cell(doc, r)} unencrypted**" for r, how in stores if not how]
    kms = sum(1 for _, how in stores if how in ("KMS", "EBS encrypted"))
    return Row(
        "encryption coverage",
        f"{len(done)} of {len(stores)} data stores ({kms} with KMS)",
        "; ".join([*done, *none]),
    )
