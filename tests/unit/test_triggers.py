"""Which triggers an image's judged findings and verdict fire, on real reports."""

from __future__ import annotations

from pathlib import Path

from riskgate.domain.evaluation import evaluate
from riskgate.domain.findings import Finding, FindingKind, Severity
from riskgate.domain.parsers import decode_report, parse_report
from riskgate.domain.policies import DEFAULT_POLICY
from riskgate.domain.triggers import MAX_FINDINGS_PER_EVENT, ImageTrigger, image_triggers
from tests.support.fixture_readme import MAX_BYTES

SECRETS = "trivy/golden_secrets.json"  # a repository with exposed secrets, no vulnerabilities
STRETCH = "trivy/golden-v0.20.0_debian-stretch.json"  # many vulnerabilities, criticals among them


def findings_of(scanner_fixtures: Path, relative: str) -> list[Finding]:
    return parse_report(decode_report((scanner_fixtures / relative).read_bytes(), None, MAX_BYTES)).findings


def test_exposed_secrets_fire_sensitive_data_and_non_compliance(scanner_fixtures: Path) -> None:
    findings = findings_of(scanner_fixtures, SECRETS)
    secrets = [f for f in findings if f.kind is FindingKind.SENSITIVE_DATA]
    assert secrets
    fired = {f.trigger: f for f in image_triggers(findings, evaluate(findings, [DEFAULT_POLICY]))}
    assert set(fired) == {ImageTrigger.SENSITIVE_DATA, ImageTrigger.NON_COMPLIANT}
    assert len(fired[ImageTrigger.SENSITIVE_DATA].findings) == len(secrets)


def test_criticals_fire_with_the_most_severe_first_and_a_stable_fingerprint(scanner_fixtures: Path) -> None:
    findings = findings_of(scanner_fixtures, STRETCH)
    verdict = evaluate(findings, [DEFAULT_POLICY])
    fired = {f.trigger: f for f in image_triggers(findings, verdict)}
    critical = fired[ImageTrigger.CRITICAL_VULNERABILITIES]
    expected = [
        f for f in findings if f.kind is FindingKind.VULNERABILITY and f.severity is Severity.CRITICAL
    ]
    assert len(critical.findings) == len(expected) > MAX_FINDINGS_PER_EVENT
    again = {f.trigger: f for f in image_triggers(list(reversed(findings)), verdict)}
    assert again[ImageTrigger.CRITICAL_VULNERABILITIES].fingerprint == critical.fingerprint
    fewer = [f for f in findings if f is not expected[0]]
    changed = {f.trigger: f for f in image_triggers(fewer, evaluate(fewer, [DEFAULT_POLICY]))}
    assert changed[ImageTrigger.CRITICAL_VULNERABILITIES].fingerprint != critical.fingerprint


def test_a_compliant_image_without_criticals_fires_nothing(scanner_fixtures: Path) -> None:
    findings = [f for f in findings_of(scanner_fixtures, STRETCH) if f.severity is not Severity.CRITICAL]
    assert image_triggers(findings, evaluate(findings, [DEFAULT_POLICY])) == []
