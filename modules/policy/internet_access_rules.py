"""Rules on what the internet can reach: no open ingress, and a public endpoint only with
TLS, a WAF rate rule and authentication."""

from __future__ import annotations

from typing import Any

from modules.policy.document import Resource, StackDocument
from modules.policy.rule import Rule, blocks, is_true

_ANYWHERE = ("0.0.0.0/0", "::/0")
_WEB_PORTS = (80, 443)


class NoOpenIngress(Rule):
    """No security group admits the whole internet, except to HTTP(S) on 80/443."""

    id = "open-ingress"
    summary = "no ingress from 0.0.0.0/0 or ::/0 except on ports 80/443"
    types = ("aws_security_group", "aws_vpc_security_group_ingress_rule", "aws_security_group_rule")

    def check(self, doc: StackDocument, res: Resource) -> list[str]:
        if res.type == "aws_vpc_security_group_ingress_rule":
            rules = [(res.body, [res.body.get("cidr_ipv4"), res.body.get("cidr_ipv6")])]
        elif res.type == "aws_security_group_rule":
            rules = [] if res.body.get("type") != "ingress" else [(res.body, _cidrs(res.body))]
        else:
            rules = [(block, _cidrs(block)) for block in blocks(res.body.get("ingress"))]
        problems = []
        for rule, cidrs in rules:
            open_to = [c for c in cidrs if c in _ANYWHERE]
            if open_to and not _web_port_only(rule):
                ports = f"{rule.get('from_port')}-{rule.get('to_port')}/{rule.get('ip_protocol', rule.get('protocol'))}"
                problems.append(f"ingress from {', '.join(open_to)} on {ports}")
        return problems


def _cidrs(block: dict[str, Any]) -> list[Any]:
    return [*(block.get("cidr_blocks") or []), *(block.get("ipv6_cidr_blocks") or [])]


def _web_port_only(rule: dict[str, Any]) -> bool:
    protocol = str(rule.get("ip_protocol", rule.get("protocol", "")))
    port = rule.get("from_port")
    return protocol in ("tcp", "6") and port == rule.get("to_port") and port in _WEB_PORTS


class PublicEndpointProtected(Rule):
    """An internet-facing listener serves only over TLS, behind a WAF web ACL (rate limit)
    and authentication (a bearer-token gate, verified by the server, or an ALB authenticate
    action). Plain HTTP may only redirect to HTTPS."""

    id = "public-endpoint-protected"
    summary = "internet-facing listeners: TLS only, a WAF web ACL with a rate limit, and authentication"
    types = ("aws_lb_listener",)

    def check(self, doc: StackDocument, res: Resource) -> list[str]:
        lbs = doc.referenced(res.body.get("load_balancer_arn"), "aws_lb")
        if not lbs or all(is_true(lb.body.get("internal")) for lb in lbs):
            return []
        actions = blocks(res.body.get("default_action"))
        if res.body.get("protocol") != "HTTPS":
            redirects = all(
                a.get("type") == "redirect" and blocks(a.get("redirect"))[0].get("protocol") == "HTTPS" for a in actions
            )
            return [] if actions and redirects else ["plain HTTP from the internet (only a redirect to HTTPS may be)"]
        problems = []
        acls = [
            acl
            for lb in lbs
            for assoc in doc.referencing(lb, "aws_wafv2_web_acl_association", key="resource_arn")
            for acl in doc.referenced(assoc.body.get("web_acl_arn"), "aws_wafv2_web_acl")
        ]
        rules = [r for acl in acls for r in blocks(acl.body.get("rule"))]
        if not any("rate_based_statement" in (blocks(r.get("statement")) or [{}])[0] for r in rules):
            problems.append("no WAF web ACL with a rate-based rule on its load balancer")
        authenticated = any(str(a.get("type", "")).startswith("authenticate") for a in actions) or any(
            r.get("name") == "bearer-token-required" for r in rules
        )
        if not authenticated:
            problems.append("no authentication: no bearer-token gate and no authenticate action")
        return problems
