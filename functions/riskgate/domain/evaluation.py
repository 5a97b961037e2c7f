"""Security status of an image from its findings: one pure function for the API and the evaluator."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from riskgate.domain.findings import Finding, FindingKind, Severity

# The built-in rule until assurance policies exist; named like a policy so verdicts keep their shape.
DEFAULT_POLICY_ID = "default"
DEFAULT_POLICY_NAME = "Default: critical vulnerabilities, malware, sensitive data"
# A verdict names the findings that made a condition fail; more than this many would bloat responses.
MAX_FINDINGS_PER_REASON = 20


@dataclass(frozen=True)
class Reason:
    policy_id: str
    policy_name: str
    condition: str
    findings: list[dict[str, Any]]
    total: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "policy_id": self.policy_id,
            "policy_name": self.policy_name,
            "condition": self.condition,
            "findings": self.findings,
            "findings_total": self.total,
        }


@dataclass(frozen=True)
class Verdict:
    status: str
    block: bool
    reasons: list[Reason] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "block": self.block,
            "reasons": [reason.as_dict() for reason in self.reasons],
        }


def finding_summary(finding: Finding) -> dict[str, Any]:
    return {
        "kind": finding.kind.value,
        "id": finding.finding_id,
        "severity": finding.severity.value,
        "package": finding.package,
        "installed_version": finding.installed_version,
        "fixed_version": finding.fixed_version,
        "location": finding.location,
    }


_CONDITIONS: tuple[tuple[str, Any], ...] = (
    (
        "critical_vulnerability",
        lambda f: f.kind is FindingKind.VULNERABILITY and f.severity is Severity.CRITICAL,
    ),
    ("malware", lambda f: f.kind is FindingKind.MALWARE),
    ("sensitive_data", lambda f: f.kind is FindingKind.SENSITIVE_DATA),
)


def evaluate(findings: Iterable[Finding]) -> Verdict:
    """Any critical vulnerability, any malware or any sensitive data → non-compliant and blocked."""
    findings = list(findings)
    reasons: list[Reason] = []
    for condition, holds in _CONDITIONS:
        matching = sorted((f for f in findings if holds(f)), key=lambda f: (f.severity.rank, f.finding_id))
        if matching:
            reasons.append(
                Reason(
                    policy_id=DEFAULT_POLICY_ID,
                    policy_name=DEFAULT_POLICY_NAME,
                    condition=condition,
                    findings=[finding_summary(f) for f in matching[:MAX_FINDINGS_PER_REASON]],
                    total=len(matching),
                )
            )
    if reasons:
        return Verdict(status="non_compliant", block=True, reasons=reasons)
    return Verdict(status="compliant", block=False)
