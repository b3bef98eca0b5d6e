"""A WAF web ACL in front of a regional resource (an ALB): managed rules, a per-IP rate
limit, a body-size limit, an optional bearer-token gate, and logs to an encrypted group."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cdktf_cdktf_provider_aws.cloudwatch_log_group import CloudwatchLogGroup
from cdktf_cdktf_provider_aws.wafv2_web_acl import (
    Wafv2WebAcl,
    Wafv2WebAclDefaultAction,
    Wafv2WebAclDefaultActionAllow,
    Wafv2WebAclRule,
    Wafv2WebAclRuleAction,
    Wafv2WebAclRuleActionBlock,
    Wafv2WebAclRuleOverrideAction,
    Wafv2WebAclRuleOverrideActionNone,
    Wafv2WebAclRuleVisibilityConfig,
    Wafv2WebAclVisibilityConfig,
)
from cdktf_cdktf_provider_aws.wafv2_web_acl_association import Wafv2WebAclAssociation
from cdktf_cdktf_provider_aws.wafv2_web_acl_logging_configuration import (
    Wafv2WebAclLoggingConfiguration,
    Wafv2WebAclLoggingConfigurationRedactedFields,
    Wafv2WebAclLoggingConfigurationRedactedFieldsSingleHeader,
)
from constructs import Construct

from modules.core.input_rules import KmsKeyArn, LogRetentionDays, MaxBodyBytes, WafRateLimit
from modules.core.props_check import field_problems

# AWS managed rule groups (free with the web ACL, charged per rule like ours).
MANAGED_RULE_GROUPS = (
    "AWSManagedRulesCommonRuleSet",
    "AWSManagedRulesKnownBadInputsRuleSet",
    "AWSManagedRulesAnonymousIpList",  # Tor and anonymizing proxies: no rotating past the per-IP limit
)
# The Common set blocks bodies over 8 KB (what WAF can inspect at an ALB); the server's
# own limit is larger, so that rule only counts and ``body-size`` enforces the real limit.
# The AnonymousIpList's hosting-provider list would block API clients that run in a cloud.
COUNTED_MANAGED_RULES = {
    "AWSManagedRulesCommonRuleSet": ("SizeRestrictions_BODY",),
    "AWSManagedRulesAnonymousIpList": ("HostingProviderIPList",),
}
LOG_GROUP_PREFIX = "aws-waf-logs-"  # WAF delivers only to log groups named like this


def greater_than_pattern(limit: int) -> str:
    """A regex matching the decimal integers greater than ``limit`` (a Content-Length).

    WAF sees at most the first 8 KB of a body at an ALB, so a size limit above that can only
    be read from the header; the server refuses a body without Content-Length (411).
    """
    digits = str(limit)
    alternatives = [f"[1-9][0-9]{{{len(digits)},}}"]  # more digits
    for i, d in enumerate(digits):
        if d != "9":
            rest = len(digits) - i - 1
            higher = "9" if d == "8" else f"[{int(d) + 1}-9]"
            alternatives.append(digits[:i] + higher + (f"[0-9]{{{rest}}}" if rest else ""))
    return "^0*(" + "|".join(alternatives) + ")$"


@dataclass(frozen=True, kw_only=True)
class WebAclProps:
    name: str  # of the ACL, its metrics and (with the prefix) its log group
    resource_arn: str  # what the ACL protects (an ALB ARN)
    logs_kms_key_arn: KmsKeyArn  # its policy must admit logs.<region>.amazonaws.com
    rate_limit_per_5min: WafRateLimit = 1000  # per client IP
    max_body_bytes: MaxBodyBytes = 1024 * 1024  # the server's limit: larger bodies never reach it
    require_bearer_token: bool = True  # refuse requests without ``Authorization: Bearer`` before they reach a target
    log_retention_days: LogRetentionDays = 365

    def __post_init__(self) -> None:
        problems = field_problems(self)
        if not 1 <= len(self.name) <= 128 - len(LOG_GROUP_PREFIX):
            problems.append(f"name={self.name!r}: 1-{128 - len(LOG_GROUP_PREFIX)} characters")
        if problems:
            raise ValueError("WebAclProps: " + "; ".join(problems))


def _visibility(metric: str) -> Wafv2WebAclRuleVisibilityConfig:
    return Wafv2WebAclRuleVisibilityConfig(
        cloudwatch_metrics_enabled=True, sampled_requests_enabled=True, metric_name=metric
    )


def _block(name: str, priority: int, statement: dict[str, Any]) -> Wafv2WebAclRule:
    return Wafv2WebAclRule(
        name=name,
        priority=priority,
        action=Wafv2WebAclRuleAction(block=Wafv2WebAclRuleActionBlock()),
        statement=statement,
        visibility_config=_visibility(name),
    )


def _header(name: str) -> dict[str, Any]:
    return {"single_header": {"name": name}}


class WebAcl(Construct):
    """A regional WAF web ACL associated with ``resource_arn``.

    Defaults that matter, in rule order: a client IP over ``rate_limit_per_5min`` requests
    in 5 minutes is blocked (0); a Content-Length over ``max_body_bytes`` is blocked (1); a
    request without a bearer token is blocked (2, the server verifies the token itself);
    AWS's Common (OWASP top 10; its 8 KB body rule only counts), KnownBadInputs (Log4j,
    exploit paths) and AnonymousIpList (Tor, anonymizing proxies; its hosting-provider rule
    only counts) rule groups (10, 20, 30). Everything else is allowed. Every request is
    logged, the ``authorization`` header redacted, to ``aws-waf-logs-<name>`` (KMS,
    ``log_retention_days``); CloudWatch metrics and sampled requests per rule.
    """

    def __init__(self, scope: Construct, id: str, props: WebAclProps) -> None:
        super().__init__(scope, id)
        text = [{"priority": 0, "type": "NONE"}]
        rules = [
            _block(
                "rate-per-ip",
                0,
                {"rate_based_statement": {"limit": props.rate_limit_per_5min, "aggregate_key_type": "IP"}},
            ),
            _block(
                "body-size",
                1,
                {
                    "regex_match_statement": {
                        "regex_string": greater_than_pattern(props.max_body_bytes),
                        "field_to_match": _header("content-length"),
                        "text_transformation": text,
                    }
                },
            ),
        ]
        if props.require_bearer_token:
            bearer = {
                "byte_match_statement": {
                    "positional_constraint": "STARTS_WITH",
                    "search_string": "bearer ",
                    "field_to_match": _header("authorization"),
                    "text_transformation": [{"priority": 0, "type": "LOWERCASE"}],
                }
            }
            rules.append(_block("bearer-token-required", 2, {"not_statement": {"statement": [bearer]}}))
        for priority, group in zip((10, 20, 30), MANAGED_RULE_GROUPS, strict=True):
            statement: dict[str, Any] = {"vendor_name": "AWS", "name": group}
            counted = COUNTED_MANAGED_RULES.get(group, ())
            if counted:
                statement["rule_action_override"] = [{"name": rule, "action_to_use": {"count": {}}} for rule in counted]
            rules.append(
                Wafv2WebAclRule(
                    name=group,
                    priority=priority,
                    override_action=Wafv2WebAclRuleOverrideAction(none=Wafv2WebAclRuleOverrideActionNone()),
                    statement={"managed_rule_group_statement": statement},
                    visibility_config=_visibility(group),
                )
            )
        self.web_acl = Wafv2WebAcl(
            self,
            "acl",
            name=props.name,
            description=f"rate limit, body size, managed rules for {props.name}",
            scope="REGIONAL",
            default_action=Wafv2WebAclDefaultAction(allow=Wafv2WebAclDefaultActionAllow()),
            rule=rules,
            visibility_config=Wafv2WebAclVisibilityConfig(
                cloudwatch_metrics_enabled=True, sampled_requests_enabled=True, metric_name=props.name
            ),
        )
        self.association = Wafv2WebAclAssociation(
            self, "association", resource_arn=props.resource_arn, web_acl_arn=self.web_acl.arn
        )
        self.log_group = CloudwatchLogGroup(
            self,
            "logs",
            name=f"{LOG_GROUP_PREFIX}{props.name}",
            retention_in_days=props.log_retention_days,
            kms_key_id=props.logs_kms_key_arn,
        )
        self.logging = Wafv2WebAclLoggingConfiguration(
            self,
            "logging",
            resource_arn=self.web_acl.arn,
            log_destination_configs=[self.log_group.arn],
            # Bearer tokens are credentials: never in the logs.
            redacted_fields=[
                Wafv2WebAclLoggingConfigurationRedactedFields(
                    single_header=Wafv2WebAclLoggingConfigurationRedactedFieldsSingleHeader(name="authorization")
                )
            ],
        )
