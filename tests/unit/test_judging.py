"""Judging a stored image with acceptances (riskgate.services.evaluation) over an in-memory store and a
real report: what is stored, when the stored verdict still answers, until-fixed acceptances ended."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from riskgate.domain.acceptances import (
    AcceptancePeriod,
    AcceptanceScope,
    AcceptanceStatus,
    AcceptedFinding,
    RiskAcceptance,
    ScopeKind,
)
from riskgate.domain.findings import Finding, FindingKind, Severity
from riskgate.domain.parsers import decode_report, parse_report
from riskgate.domain.policies import DEFAULT_POLICY
from riskgate.services.evaluation import current_verdict, evaluate_image
from tests.support.fixture_readme import MAX_BYTES

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
IMAGE_ID = "img-00000000000000000001"
# Trivy on debian buster: a critical vulnerability, so non-compliant under the default policy.
REPORT = "trivy/golden_debian-buster.json"


class MemoryStore:
    def __init__(self, findings: list[Finding]) -> None:
        self.findings = findings
        self.image: dict[str, Any] = {
            "image_id": IMAGE_ID,
            "registry": "docker.io",
            "repository": "library/debian",
            "tags": {"buster"},
            "current_scan_id": "scan-1",
        }
        self.events: list[dict[str, Any]] = []

    def get_image(self, image_id: str) -> dict[str, Any] | None:
        return dict(self.image) if image_id == IMAGE_ID else None

    def iter_findings(self, scan_id: str) -> Iterator[Finding]:
        assert scan_id == "scan-1"
        return iter(self.findings)

    def store_evaluation(
        self,
        image_id: str,
        scan_id: str,
        status: str,
        verdict: dict[str, Any],
        evaluated_at: str,
        policies: list[dict[str, Any]] | None = None,
        acceptances: list[dict[str, Any]] | None = None,
        accepted: int = 0,
        events: list[dict[str, Any]] | None = None,
        trigger_fingerprints: dict[str, str] | None = None,
    ) -> bool:
        self.events += events or []
        self.image.update(trigger_fingerprints=trigger_fingerprints)
        self.image.update(
            status=status,
            verdict=verdict,
            evaluated_scan_id=scan_id,
            evaluated_at=evaluated_at,
            policies=policies,
            acceptances=acceptances,
            accepted_count=accepted,
        )
        return True


@pytest.fixture
def findings(scanner_fixtures: Path) -> list[Finding]:
    raw = (scanner_fixtures / REPORT).read_bytes()
    return parse_report(decode_report(raw, None, MAX_BYTES)).findings


def criticals(findings: list[Finding]) -> set[str]:
    return {
        f.finding_id
        for f in findings
        if f.kind is FindingKind.VULNERABILITY and f.severity is Severity.CRITICAL
    }


def accepting(
    finding_id: str,
    *,
    period: AcceptancePeriod = AcceptancePeriod.DAYS_30,
    status: AcceptanceStatus = AcceptanceStatus.ACTIVE,
    expires_at: datetime | None = None,
    acceptance_id: str | None = None,
) -> RiskAcceptance:
    if expires_at is None and period is AcceptancePeriod.DAYS_30:
        expires_at = NOW + timedelta(days=30)
    return RiskAcceptance(
        id=acceptance_id or f"acc-{finding_id.lower()}",
        finding=AcceptedFinding(FindingKind.VULNERABILITY, finding_id),
        scope=AcceptanceScope(ScopeKind.IMAGE, image_id=IMAGE_ID),
        period=period,
        reason="not reachable",
        status=status,
        accepted_at=NOW - timedelta(days=1),
        accepted_by="usr-alice",
        expires_at=expires_at,
    )


def policies(image: Mapping[str, Any]) -> list[Any]:
    return [DEFAULT_POLICY]


def test_accepting_every_critical_makes_the_image_compliant_and_is_recorded(findings: list[Finding]) -> None:
    store = MemoryStore(findings)
    ids = criticals(findings)
    assert ids, "the fixture must have critical vulnerabilities"
    accepted = [accepting(vid) for vid in sorted(ids)]
    evaluation = evaluate_image(
        store, IMAGE_ID, policies_for=policies, acceptances_for=lambda image: accepted, now=NOW
    )
    assert evaluation is not None
    assert evaluation.status == "compliant"
    expected = sum(1 for f in findings if f.finding_id in ids)
    assert store.image["accepted_count"] == expected
    assert {r["acceptance_id"] for r in store.image["acceptances"]} == {a.id for a in accepted}
    assert sum(r["findings"] for r in store.image["acceptances"]) == expected


def test_without_acceptances_the_same_image_is_non_compliant(findings: list[Finding]) -> None:
    store = MemoryStore(findings)
    evaluation = evaluate_image(store, IMAGE_ID, policies_for=policies, now=NOW)
    assert evaluation is not None
    assert evaluation.status == "non_compliant"
    assert store.image["accepted_count"] == 0


def test_an_acceptance_past_its_end_counts_for_nothing_before_the_checker_ran(
    findings: list[Finding],
) -> None:
    store = MemoryStore(findings)
    lapsed = [accepting(vid, expires_at=NOW - timedelta(seconds=1)) for vid in criticals(findings)]
    evaluation = evaluate_image(
        store, IMAGE_ID, policies_for=policies, acceptances_for=lambda image: lapsed, now=NOW
    )
    assert evaluation is not None
    assert evaluation.status == "non_compliant"


def test_the_stored_verdict_answers_only_while_the_same_acceptances_are_in_force(
    findings: list[Finding],
) -> None:
    store = MemoryStore(findings)
    accepted = [accepting(vid) for vid in sorted(criticals(findings))]
    evaluate_image(store, IMAGE_ID, policies_for=policies, acceptances_for=lambda image: accepted, now=NOW)
    image = store.get_image(IMAGE_ID)
    assert image is not None
    same = current_verdict(store, image, policies, lambda image: accepted, NOW)
    assert same.verdict["status"] == "compliant"
    assert same.evaluated_at == image["evaluated_at"]  # answered from the stored verdict
    later = NOW + timedelta(days=31)  # every acceptance has ended; nothing re-evaluated yet
    fresh = current_verdict(store, image, policies, lambda image: accepted, later)
    assert fresh.verdict["status"] == "non_compliant"
    assert fresh.acceptances == []


def test_until_fixed_acceptances_whose_fix_appeared_are_handed_over_after_storing() -> None:
    fixable = Finding(
        FindingKind.VULNERABILITY,
        "CVE-2019-14697",
        Severity.CRITICAL,
        package="musl",
        installed_version="1.1.22-r2",
        fixed_version="1.1.22-r3",
    )
    store = MemoryStore([fixable])
    until_fixed = accepting("CVE-2019-14697", period=AcceptancePeriod.UNTIL_FIXED)
    ended: list[str] = []
    evaluation = evaluate_image(
        store,
        IMAGE_ID,
        policies_for=policies,
        acceptances_for=lambda image: [until_fixed],
        now=NOW,
        on_fix_available=lambda acceptance: ended.append(acceptance.id),
    )
    assert evaluation is not None
    assert evaluation.status == "non_compliant"  # the fix ends the acceptance: the finding counts
    assert ended == [until_fixed.id]


def test_an_evaluation_of_a_new_scan_records_its_trigger_events(findings: list[Finding]) -> None:
    store = MemoryStore(findings)
    evaluate_image(store, IMAGE_ID, policies_for=policies, now=NOW)
    fired = {event["type"]: event for event in store.events}
    assert set(fired) == {"critical_vulnerabilities", "non_compliant"}
    critical = fired["critical_vulnerabilities"]
    assert critical["subject"] == {"type": "image", "id": IMAGE_ID}
    assert [f["id"] for f in critical["findings"]] == sorted(criticals(findings))
    assert critical["occurred_at"] == "2026-11-22T12:00:00.000000Z"
    assert fired["non_compliant"]["verdict"] == {"status": "non_compliant", "block": True}


def test_judging_the_same_scan_again_fires_only_what_changed(findings: list[Finding]) -> None:
    store = MemoryStore(findings)
    evaluate_image(store, IMAGE_ID, policies_for=policies, now=NOW)
    store.events.clear()
    evaluate_image(store, IMAGE_ID, policies_for=policies, now=NOW, force=True)
    assert store.events == []  # a policy elsewhere changed: nothing new to tell
    accepted = [accepting(vid) for vid in sorted(criticals(findings))]
    evaluate_image(
        store, IMAGE_ID, policies_for=policies, acceptances_for=lambda image: accepted, now=NOW, force=True
    )
    assert store.events == []  # compliant now: nothing fires
    evaluate_image(store, IMAGE_ID, policies_for=policies, now=NOW, force=True)  # the acceptances revoked
    assert {event["type"] for event in store.events} == {"critical_vulnerabilities", "non_compliant"}
