"""The built-in rule, as a pure function."""

from __future__ import annotations

from riskgate.domain.evaluation import MAX_FINDINGS_PER_REASON, evaluate
from riskgate.domain.findings import Finding, FindingKind, Severity


def vuln(severity: Severity, vid: str = "CVE-1") -> Finding:
    return Finding(FindingKind.VULNERABILITY, vid, severity, package="p", installed_version="1")


def test_no_findings_is_compliant() -> None:
    verdict = evaluate([])
    assert verdict.as_dict() == {"status": "compliant", "block": False, "reasons": [], "dry_run": []}


def test_high_and_lower_vulnerabilities_and_misconfigurations_stay_compliant() -> None:
    findings = [vuln(s) for s in Severity if s is not Severity.CRITICAL]
    findings.append(Finding(FindingKind.MISCONFIGURATION, "DS-0002", Severity.CRITICAL))
    assert evaluate(findings).status == "compliant"


def test_critical_malware_and_secrets_each_block_with_their_reason() -> None:
    verdict = evaluate(
        [
            vuln(Severity.CRITICAL, "CVE-9"),
            Finding(FindingKind.MALWARE, "EICAR", Severity.HIGH),
            Finding(FindingKind.SENSITIVE_DATA, "aws-access-key-id", Severity.CRITICAL, location="app/.env"),
        ]
    )
    assert verdict.status == "non_compliant"
    assert verdict.block is True
    assert [r.condition for r in verdict.reasons] == ["severity_at_least", "malware", "sensitive_data"]
    assert verdict.reasons[0].findings[0]["id"] == "CVE-9"


def test_reasons_are_capped_but_count_everything() -> None:
    verdict = evaluate([vuln(Severity.CRITICAL, f"CVE-{i}") for i in range(50)])
    reason = verdict.reasons[0]
    assert len(reason.findings) == MAX_FINDINGS_PER_REASON
    assert reason.total == 50
