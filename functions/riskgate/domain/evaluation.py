"""Security status of an image from its findings and the assurance policies that apply to it.

One pure function for the API and the evaluator. Which policies apply to an image is decided before
(`riskgate.domain.policies.applicable`); here every given policy is evaluated.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Any

from riskgate.domain.findings import Finding, FindingKind, Severity
from riskgate.domain.policies import (
    DEFAULT_POLICY,
    VULNERABILITY_CONDITIONS,
    AssurancePolicy,
    PolicyConditions,
)

# A verdict names the findings that made a condition fail; more than this many would bloat responses.
MAX_FINDINGS_PER_REASON = 20


@dataclass(frozen=True)
class Reason:
    """One failed condition of one policy. `would_block` is set only for dry-run policies."""

    policy_id: str
    policy_name: str
    condition: str
    findings: list[dict[str, Any]]
    total: int
    policy_version: int | None = None
    would_block: bool | None = None

    def as_dict(self) -> dict[str, Any]:
        result: dict[str, Any] = {
            "policy_id": self.policy_id,
            "policy_name": self.policy_name,
            "policy_version": self.policy_version,
            "condition": self.condition,
            "findings": self.findings,
            "findings_total": self.total,
        }
        if self.would_block is not None:
            result["would_block"] = self.would_block
        return result


@dataclass(frozen=True)
class Verdict:
    status: str
    block: bool
    reasons: list[Reason] = field(default_factory=list)
    # What dry-run policies would have said; never part of status or block.
    dry_run: list[Reason] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "block": self.block,
            "reasons": [reason.as_dict() for reason in self.reasons],
            "dry_run": [reason.as_dict() for reason in self.dry_run],
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


def evaluate(findings: Iterable[Finding], policies: Sequence[AssurancePolicy] = (DEFAULT_POLICY,)) -> Verdict:
    """Non-compliant when any enforced policy fails; blocked when one of those has `block_ci`.

    Every failed condition of a failing policy is one reason, with the findings that made it fail.
    Dry-run policies are evaluated the same way but only reported under `dry_run`; disabled ones are
    skipped. The caller passes the policies whose scope contains the image (`policies.applicable`);
    when the argument is left out, the default policy (critical vulnerability, malware or sensitive data →
    non-compliant and blocked) applies.
    """
    findings = list(findings)
    reasons: list[Reason] = []
    dry_run: list[Reason] = []
    block = False
    for policy in policies:
        if not policy.enabled:
            continue
        failures = [
            (condition, matching)
            for condition, matching, fails in _conditions(policy.conditions, findings)
            if fails
        ]
        if not failures:
            continue
        if policy.enforced:
            block = block or policy.blocks_ci
            reasons.extend(_reason(policy, condition, matching, None) for condition, matching in failures)
        else:
            dry_run.extend(
                _reason(policy, condition, matching, policy.blocks_ci) for condition, matching in failures
            )
    return Verdict(
        status="non_compliant" if reasons else "compliant", block=block, reasons=reasons, dry_run=dry_run
    )


def _reason(
    policy: AssurancePolicy, condition: str, matching: list[Finding], would_block: bool | None
) -> Reason:
    ordered = sorted(matching, key=lambda f: (f.severity.rank, f.finding_id))
    return Reason(
        policy_id=policy.id,
        policy_name=policy.name,
        policy_version=policy.version,
        condition=condition,
        findings=[finding_summary(f) for f in ordered[:MAX_FINDINGS_PER_REASON]],
        total=len(ordered),
        would_block=would_block,
    )


def _conditions(
    conditions: PolicyConditions, findings: list[Finding]
) -> Iterable[tuple[str, list[Finding], bool]]:
    """Each set condition: its name, the findings it counts, and whether it fails."""
    vulnerabilities = [
        f
        for f in findings
        if f.kind is FindingKind.VULNERABILITY and (f.fixable or not conditions.fixable_only)
    ]
    for name in conditions.set_conditions():
        pool = vulnerabilities if name in VULNERABILITY_CONDITIONS else findings
        holds = _predicate(conditions, name)
        matching = [f for f in pool if holds(f)]
        limit = conditions.max_count if name == "severity_at_least" else 0
        yield name, matching, len(matching) > limit


def _predicate(conditions: PolicyConditions, name: str) -> Callable[[Finding], bool]:
    """Whether one finding counts for the condition `name`, which `conditions` sets."""
    c = conditions
    if name == "severity_at_least" and c.severity_at_least is not None:
        return _at_least(c.severity_at_least)
    if name == "cvss_at_least" and c.cvss_at_least is not None:
        threshold = c.cvss_at_least
        return lambda f: f.cvss_score is not None and f.cvss_score >= threshold
    if name == "vulnerability_ids":
        denied = {vid.casefold() for vid in c.vulnerability_ids}
        return lambda f: f.finding_id.casefold() in denied
    if name == "packages":
        globs = [glob.casefold() for glob in c.packages]
        return lambda f: f.package is not None and any(fnmatchcase(f.package.casefold(), g) for g in globs)
    if name == "malware":
        return lambda f: f.kind is FindingKind.MALWARE
    if name == "sensitive_data":
        return lambda f: f.kind is FindingKind.SENSITIVE_DATA
    if name == "misconfiguration_severity_at_least" and c.misconfiguration_severity_at_least is not None:
        at_least = _at_least(c.misconfiguration_severity_at_least)
        return lambda f: f.kind is FindingKind.MISCONFIGURATION and at_least(f)
    raise ValueError(f"condition {name} is unknown or not set")


def _at_least(threshold: Severity) -> Callable[[Finding], bool]:
    return lambda f: f.severity.rank <= threshold.rank
