"""Risk acceptance rules (riskgate.domain.acceptances): periods, being in force, what an acceptance
covers, where it applies, reminders, the one-in-force guard, staleness and the exports for scanners.

Plain unit tests, no AWS. Time is always the fixed `NOW` given to the functions. Where a real scanner
report is used, the expected figures are computed in the test from the raw JSON or the parsed findings,
never from the function under test.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from riskgate.clock import iso
from riskgate.domain.acceptance_exports import openvex, trivyignore
from riskgate.domain.acceptances import (
    AcceptancePeriod,
    AcceptanceScope,
    AcceptanceStatus,
    AcceptedFinding,
    RiskAcceptance,
    ScopeKind,
    apply_acceptances,
    expiry_for,
    guard_key,
    malware_acceptable,
    parse_repository,
    reminder_times,
    staleness,
    targets_for,
)
from riskgate.domain.access import ResourceSelector, ScopeDefinition
from riskgate.domain.errors import InvalidInput
from riskgate.domain.findings import Finding, FindingKind, Severity
from riskgate.domain.parsers import decode_report, parse_report
from tests.support.fixture_readme import MAX_BYTES

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
TINY = timedelta(microseconds=1)

# Trivy 0.20 on debian:stretch: CVE-2018-6485 is critical, unfixed, in three packages (libc-bin, libc6,
# multiarch-support); the report has 160 findings.
STRETCH = "trivy/golden-v0.20.0_debian-stretch.json"
STRETCH_CVE = "CVE-2018-6485"
# Trivy on a JRE 11 image: Spring4Shell, critical, with a fixed version.
SPRING4SHELL = "trivy/golden_spring4shell-jre11.json"
SPRING4SHELL_CVE = "CVE-2022-22965"

REGISTRY = "ghcr.io"
REPOSITORY = "acme/shop"
IMAGE_ID = "img-0123456789abcdef0123"
DIGEST = "sha256:" + "ab" * 32
TAGS = ("1.2.3", "latest")

VULN = FindingKind.VULNERABILITY
MALWARE = FindingKind.MALWARE

IMAGE_SCOPE = AcceptanceScope(ScopeKind.IMAGE, image_id=IMAGE_ID, registry=REGISTRY, repository=REPOSITORY)
REPOSITORY_SCOPE = AcceptanceScope(ScopeKind.REPOSITORY, registry=REGISTRY, repository=REPOSITORY)
GLOBAL_ALL_SCOPE = AcceptanceScope(ScopeKind.ALL, within=("global",))

_DEFAULT: Any = object()


def acceptance(
    finding_id: str = "CVE-2021-44228",
    *,
    kind: FindingKind = VULN,
    package: str | None = None,
    version: str | None = None,
    scope: AcceptanceScope = GLOBAL_ALL_SCOPE,
    period: AcceptancePeriod = AcceptancePeriod.DAYS_30,
    expires_at: datetime | None = _DEFAULT,
    status: AcceptanceStatus = AcceptanceStatus.ACTIVE,
    reason: str = "no exploit path: the service is not reachable from outside",
    acceptance_id: str = "acc-0000000000000001",
    accepted_by: str = "usr-alice",
    extra: Mapping[str, Any] | None = None,
) -> RiskAcceptance:
    if expires_at is _DEFAULT:
        expires_at = (
            NOW + timedelta(days=45) if period is AcceptancePeriod.CUSTOM else expiry_for(period, NOW, None)
        )
    return RiskAcceptance(
        id=acceptance_id,
        finding=AcceptedFinding(kind, finding_id, package, version),
        scope=scope,
        period=period,
        reason=reason,
        status=status,
        accepted_at=NOW - timedelta(days=1),
        accepted_by=accepted_by,
        expires_at=expires_at,
        extra=dict(extra or {}),
    )


def vuln(
    finding_id: str = "CVE-2021-44228",
    *,
    package: str | None = "log4j-core",
    installed: str | None = "2.14.1",
    fixed: str | None = None,
    severity: Severity = Severity.CRITICAL,
) -> Finding:
    return Finding(
        VULN, finding_id, severity, package=package, installed_version=installed, fixed_version=fixed
    )


def malware(severity: Severity, finding_id: str = "EICAR-Test-File") -> Finding:
    return Finding(MALWARE, finding_id, severity, location="/tmp/eicar.com")


def findings_of(scanner_fixtures: Path, relative: str) -> list[Finding]:
    raw = (scanner_fixtures / relative).read_bytes()
    return parse_report(decode_report(raw, None, MAX_BYTES)).findings


def raw_trivy_entries(scanner_fixtures: Path, relative: str, vulnerability_id: str) -> set[tuple[Any, ...]]:
    """The distinct (package, version, target) entries of one vulnerability id, read without parsers."""
    document = json.loads((scanner_fixtures / relative).read_text(encoding="utf-8"))
    return {
        (entry["PkgName"], entry.get("InstalledVersion"), result.get("Target"), entry.get("PkgPath"))
        for result in document.get("Results") or []
        for entry in result.get("Vulnerabilities") or []
        if entry["VulnerabilityID"] == vulnerability_id
    }


# --- periods -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("period", "days", "ends"),
    [
        ("30d", 30, datetime(2025, 7, 1, 12, tzinfo=UTC)),
        ("60d", 60, datetime(2025, 7, 31, 12, tzinfo=UTC)),
        ("90d", 90, datetime(2025, 8, 30, 12, tzinfo=UTC)),
    ],
)
def test_fixed_periods_end_that_many_days_after_now(period: str, days: int, ends: datetime) -> None:
    assert AcceptancePeriod(period).days == days
    assert expiry_for(AcceptancePeriod(period), NOW, None) == NOW + timedelta(days=days) == ends


@pytest.mark.parametrize("period", [AcceptancePeriod.INDEFINITE, AcceptancePeriod.UNTIL_FIXED])
def test_indefinite_and_until_fixed_have_no_end(period: AcceptancePeriod) -> None:
    assert expiry_for(period, NOW, None) is None


def test_custom_period_ends_at_the_given_time() -> None:
    until = NOW + timedelta(days=12, hours=3)
    assert expiry_for(AcceptancePeriod.CUSTOM, NOW, until) == until
    assert expiry_for(AcceptancePeriod.CUSTOM, NOW, NOW + TINY) == NOW + TINY


@pytest.mark.parametrize("until", [None, NOW, NOW - TINY, NOW - timedelta(days=3)])
def test_custom_period_needs_a_time_in_the_future(until: datetime | None) -> None:
    with pytest.raises(InvalidInput) as raised:
        expiry_for(AcceptancePeriod.CUSTOM, NOW, until)
    assert raised.value.details == [{"field": "expires_at"}]


@pytest.mark.parametrize(
    "period",
    [
        AcceptancePeriod.DAYS_30,
        AcceptancePeriod.DAYS_60,
        AcceptancePeriod.DAYS_90,
        AcceptancePeriod.INDEFINITE,
        AcceptancePeriod.UNTIL_FIXED,
    ],
)
def test_expires_at_is_refused_for_periods_other_than_custom(period: AcceptancePeriod) -> None:
    with pytest.raises(InvalidInput, match="only for period custom"):
        expiry_for(period, NOW, NOW + timedelta(days=10))


# --- in force and effective status ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expires_at", "expected"),
    [
        (None, True),
        (NOW + timedelta(days=1), True),
        (NOW + TINY, True),
        (NOW, False),  # the period has ended at its end, not a moment later
        (NOW - TINY, False),
        (NOW - timedelta(days=1), False),
    ],
)
def test_in_force_until_expires_at_is_reached(expires_at: datetime | None, expected: bool) -> None:
    accepted = acceptance(period=AcceptancePeriod.CUSTOM, expires_at=expires_at)
    assert accepted.in_force(NOW) is expected


@pytest.mark.parametrize("status", [AcceptanceStatus.REVOKED, AcceptanceStatus.EXPIRED])
@pytest.mark.parametrize("expires_at", [None, NOW + timedelta(days=10)])
def test_only_active_acceptances_are_in_force(status: AcceptanceStatus, expires_at: datetime | None) -> None:
    accepted = acceptance(period=AcceptancePeriod.CUSTOM, expires_at=expires_at, status=status)
    assert not accepted.in_force(NOW)
    assert accepted.effective_status(NOW) is status


def test_effective_status_is_expired_as_soon_as_the_period_ends() -> None:
    ends = NOW + timedelta(hours=1)
    accepted = acceptance(period=AcceptancePeriod.CUSTOM, expires_at=ends)
    assert accepted.status is AcceptanceStatus.ACTIVE
    assert accepted.effective_status(ends - TINY) is AcceptanceStatus.ACTIVE
    assert accepted.effective_status(ends) is AcceptanceStatus.EXPIRED
    assert accepted.effective_status(ends + timedelta(days=5)) is AcceptanceStatus.EXPIRED
    assert acceptance(period=AcceptancePeriod.INDEFINITE).effective_status(NOW) is AcceptanceStatus.ACTIVE


def test_a_revoked_acceptance_stays_revoked_after_its_period() -> None:
    revoked = acceptance(
        period=AcceptancePeriod.CUSTOM, expires_at=NOW - TINY, status=AcceptanceStatus.REVOKED
    )
    assert revoked.effective_status(NOW) is AcceptanceStatus.REVOKED


# --- what is accepted ---------------------------------------------------------------------------------


def test_accepted_finding_matches_the_id_without_case() -> None:
    finding = vuln("CVE-2021-44228")
    assert AcceptedFinding(VULN, "cve-2021-44228").matches(finding)
    assert AcceptedFinding(VULN, "CVE-2021-44228").matches(finding)
    assert not AcceptedFinding(VULN, "CVE-2021-44229").matches(finding)
    assert not AcceptedFinding(VULN, "CVE-2021-4422").matches(finding)


def test_accepted_finding_needs_the_same_kind() -> None:
    secret = Finding(FindingKind.SENSITIVE_DATA, "aws-access-key-id", Severity.CRITICAL, location="/app/.env")
    assert AcceptedFinding(FindingKind.SENSITIVE_DATA, "AWS-Access-Key-ID").matches(secret)
    assert not AcceptedFinding(VULN, "aws-access-key-id").matches(secret)
    assert not AcceptedFinding(MALWARE, "aws-access-key-id").matches(secret)


def test_accepted_finding_narrowed_to_a_package_and_version() -> None:
    finding = vuln(package="log4j-core", installed="2.14.1")
    assert AcceptedFinding(VULN, "CVE-2021-44228", package="LOG4J-core").matches(finding)
    assert AcceptedFinding(VULN, "CVE-2021-44228", package="log4j-core", version="2.14.1").matches(finding)
    assert not AcceptedFinding(VULN, "CVE-2021-44228", package="log4j-api").matches(finding)
    assert not AcceptedFinding(VULN, "CVE-2021-44228", package="log4j-core", version="2.15.0").matches(
        finding
    )
    assert not AcceptedFinding(VULN, "CVE-2021-44228", version="2.15.0").matches(finding)
    # A package-narrowed acceptance never matches a finding that names no package.
    assert not AcceptedFinding(VULN, "CVE-2021-44228", package="log4j-core").matches(vuln(package=None))


def test_accepted_finding_round_trips_through_its_stored_form() -> None:
    for accepted in (
        AcceptedFinding(VULN, "CVE-2021-44228"),
        AcceptedFinding(VULN, "CVE-2021-44228", package="log4j-core", version="2.14.1"),
        AcceptedFinding(MALWARE, "EICAR-Test-File"),
    ):
        assert AcceptedFinding.from_dict(accepted.as_dict()) == accepted


# --- apply_acceptances on a real report ----------------------------------------------------------------


def test_accepting_a_cve_takes_out_exactly_its_findings(scanner_fixtures: Path) -> None:
    findings = findings_of(scanner_fixtures, STRETCH)
    raw_entries = raw_trivy_entries(scanner_fixtures, STRETCH, STRETCH_CVE)
    with_id = [f for f in findings if f.finding_id == STRETCH_CVE]
    # The report is what the test assumes: one critical CVE in several packages, among many findings.
    assert len(raw_entries) == len(with_id) == 3
    assert {f.severity for f in with_id} == {Severity.CRITICAL}
    assert len(findings) > 100

    accepted = acceptance(STRETCH_CVE.lower())
    applied = apply_acceptances(findings, [accepted], NOW)

    assert len(applied.effective) == len(findings) - len(with_id)
    assert all(f.finding_id != STRETCH_CVE for f in applied.effective)
    assert [f for f, _ in applied.accepted] == with_id
    assert all(by is accepted for _, by in applied.accepted)
    assert applied.accepted_count == 3
    # Everything else is untouched and in order.
    assert applied.effective == [f for f in findings if f.finding_id != STRETCH_CVE]
    assert applied.fix_available == []
    assert applied.considered == [accepted]
    assert applied.record() == [
        {
            "acceptance_id": accepted.id,
            "expires_at": iso(NOW + timedelta(days=30)),
            "accepted_by": "usr-alice",
            "findings": 3,
        }
    ]


def test_accepting_a_cve_in_one_package_takes_out_only_that_one(scanner_fixtures: Path) -> None:
    findings = findings_of(scanner_fixtures, STRETCH)
    applied = apply_acceptances(findings, [acceptance(STRETCH_CVE, package="libc6")], NOW)
    assert [(f.finding_id, f.package) for f, _ in applied.accepted] == [(STRETCH_CVE, "libc6")]
    assert len(applied.effective) == len(findings) - 1


@pytest.mark.parametrize(
    "not_in_force",
    [
        acceptance(STRETCH_CVE, period=AcceptancePeriod.CUSTOM, expires_at=NOW),
        acceptance(STRETCH_CVE, period=AcceptancePeriod.CUSTOM, expires_at=NOW - timedelta(days=2)),
        acceptance(STRETCH_CVE, status=AcceptanceStatus.REVOKED),
        acceptance(STRETCH_CVE, status=AcceptanceStatus.EXPIRED, period=AcceptancePeriod.INDEFINITE),
    ],
    ids=["ends-now", "ended", "revoked", "expired"],
)
def test_an_acceptance_not_in_force_takes_nothing_out(
    scanner_fixtures: Path, not_in_force: RiskAcceptance
) -> None:
    findings = findings_of(scanner_fixtures, STRETCH)
    applied = apply_acceptances(findings, [not_in_force], NOW)
    assert applied.effective == findings
    assert applied.accepted == []
    assert applied.considered == []
    assert applied.record() == []


def test_record_counts_the_findings_each_acceptance_took(scanner_fixtures: Path) -> None:
    findings = findings_of(scanner_fixtures, STRETCH)
    expected_other = sum(1 for f in findings if f.finding_id == "CVE-2019-9169")
    assert expected_other == 3
    stretch = acceptance(STRETCH_CVE, acceptance_id="acc-b", period=AcceptancePeriod.INDEFINITE)
    other = acceptance("cve-2019-9169", acceptance_id="acc-a")
    unused = acceptance("CVE-1999-0001", acceptance_id="acc-c", accepted_by="usr-bob")
    revoked = acceptance("CVE-2019-12900", acceptance_id="acc-d", status=AcceptanceStatus.REVOKED)

    applied = apply_acceptances(findings, [stretch, unused, revoked, other], NOW)

    assert applied.accepted_count == 6
    assert len(applied.effective) == len(findings) - 6
    assert applied.record() == [
        {
            "acceptance_id": "acc-a",
            "expires_at": iso(NOW + timedelta(days=30)),
            "accepted_by": "usr-alice",
            "findings": 3,
        },
        {"acceptance_id": "acc-b", "expires_at": None, "accepted_by": "usr-alice", "findings": 3},
        {
            "acceptance_id": "acc-c",
            "expires_at": iso(NOW + timedelta(days=30)),
            "accepted_by": "usr-bob",
            "findings": 0,
        },
    ]


def test_a_finding_covered_twice_is_attributed_to_an_acceptance_without_end() -> None:
    dated = acceptance(acceptance_id="acc-a", period=AcceptancePeriod.DAYS_90)
    endless = acceptance(acceptance_id="acc-b", period=AcceptancePeriod.INDEFINITE)
    applied = apply_acceptances([vuln()], [dated, endless], NOW)
    assert [by.id for _, by in applied.accepted] == ["acc-b"]
    assert {r["acceptance_id"]: r["findings"] for r in applied.record()} == {"acc-a": 0, "acc-b": 1}


def test_a_finding_covered_twice_is_attributed_to_the_acceptance_ending_last() -> None:
    soon = acceptance(acceptance_id="acc-a", period=AcceptancePeriod.DAYS_30)
    later = acceptance(acceptance_id="acc-b", period=AcceptancePeriod.DAYS_90)
    applied = apply_acceptances([vuln()], [soon, later], NOW)
    assert [by.id for _, by in applied.accepted] == ["acc-b"]


# --- until_fixed ---------------------------------------------------------------------------------------


def test_until_fixed_does_not_cover_a_finding_with_a_fix(scanner_fixtures: Path) -> None:
    findings = findings_of(scanner_fixtures, SPRING4SHELL)
    spring = [f for f in findings if f.finding_id == SPRING4SHELL_CVE]
    assert len(spring) == 1
    assert spring[0].fixed_version

    until_fixed = acceptance(SPRING4SHELL_CVE, period=AcceptancePeriod.UNTIL_FIXED)
    assert not until_fixed.covers(spring[0])
    applied = apply_acceptances(findings, [until_fixed], NOW)
    assert applied.effective == findings
    assert applied.accepted == []
    assert applied.fix_available == [until_fixed]
    assert applied.record() == [
        {"acceptance_id": until_fixed.id, "expires_at": None, "accepted_by": "usr-alice", "findings": 0}
    ]

    # Any other period covers it, fix or not.
    for period in (AcceptancePeriod.DAYS_30, AcceptancePeriod.INDEFINITE):
        other = acceptance(SPRING4SHELL_CVE, period=period)
        assert other.covers(spring[0])
        applied = apply_acceptances(findings, [other], NOW)
        assert applied.accepted == [(spring[0], other)]
        assert applied.fix_available == []


def test_until_fixed_covers_a_finding_without_a_fix() -> None:
    until_fixed = acceptance(period=AcceptancePeriod.UNTIL_FIXED)
    unfixed = vuln(fixed=None)
    applied = apply_acceptances([unfixed], [until_fixed], NOW)
    assert applied.accepted == [(unfixed, until_fixed)]
    assert applied.effective == []
    assert applied.fix_available == []


def test_until_fixed_with_a_fix_in_one_package_only() -> None:
    until_fixed = acceptance(period=AcceptancePeriod.UNTIL_FIXED)
    unfixed = vuln(package="log4j-api", fixed=None)
    fixed = vuln(package="log4j-core", fixed="2.17.1")
    applied = apply_acceptances([unfixed, fixed], [until_fixed], NOW)
    assert applied.accepted == [(unfixed, until_fixed)]
    assert applied.effective == [fixed]
    assert applied.fix_available == [until_fixed]


def test_fix_available_names_only_until_fixed_acceptances_of_that_finding() -> None:
    fixed = vuln(package="log4j-core", fixed="2.17.1")
    other_package = acceptance(
        package="log4j-api", period=AcceptancePeriod.UNTIL_FIXED, acceptance_id="acc-a"
    )
    other_id = acceptance("CVE-2021-45046", period=AcceptancePeriod.UNTIL_FIXED, acceptance_id="acc-b")
    revoked = acceptance(
        period=AcceptancePeriod.UNTIL_FIXED, status=AcceptanceStatus.REVOKED, acceptance_id="acc-c"
    )
    applied = apply_acceptances([fixed], [other_package, other_id, revoked], NOW)
    assert applied.effective == [fixed]
    assert applied.fix_available == []


def test_a_fixed_finding_covered_by_another_acceptance_does_not_end_the_until_fixed_one() -> None:
    fixed = vuln(fixed="2.17.1")
    until_fixed = acceptance(period=AcceptancePeriod.UNTIL_FIXED, acceptance_id="acc-a")
    dated = acceptance(period=AcceptancePeriod.DAYS_30, acceptance_id="acc-b")
    applied = apply_acceptances([fixed], [until_fixed, dated], NOW)
    assert applied.accepted == [(fixed, dated)]
    assert applied.effective == []


# --- malware ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("severity", "covered"),
    [
        (Severity.CRITICAL, False),
        (Severity.HIGH, False),
        (Severity.MEDIUM, True),
        (Severity.LOW, True),
        (Severity.NEGLIGIBLE, True),
        (Severity.UNKNOWN, False),  # not known to be low
    ],
)
def test_malware_above_medium_is_never_covered(severity: Severity, covered: bool) -> None:
    assert malware_acceptable(severity) is covered
    found = malware(severity)
    for scope in (IMAGE_SCOPE, REPOSITORY_SCOPE, GLOBAL_ALL_SCOPE):
        for period in (AcceptancePeriod.INDEFINITE, AcceptancePeriod.DAYS_30):
            accepted = acceptance("eicar-test-file", kind=MALWARE, scope=scope, period=period)
            assert accepted.covers(found) is covered
    applied = apply_acceptances([found], [acceptance("EICAR-Test-File", kind=MALWARE)], NOW)
    assert applied.effective == ([] if covered else [found])
    assert applied.accepted_count == (1 if covered else 0)


def test_the_malware_rule_does_not_apply_to_vulnerabilities() -> None:
    assert acceptance().covers(vuln(severity=Severity.CRITICAL))
    assert acceptance().covers(vuln(severity=Severity.UNKNOWN))


# --- scopes ----------------------------------------------------------------------------------------------

SCOPES = {
    "team-acme": ScopeDefinition("team-acme", (ResourceSelector(registry="ghcr.io", repository="acme/*"),)),
    "releases": ScopeDefinition("releases", (ResourceSelector(repository="other/*", tag="v*"),)),
}


def test_an_image_scope_contains_that_image_only() -> None:
    assert IMAGE_SCOPE.contains(IMAGE_ID, REGISTRY, REPOSITORY, TAGS, SCOPES)
    assert not IMAGE_SCOPE.contains("img-ffffffffffffffffffff", REGISTRY, REPOSITORY, TAGS, SCOPES)


def test_a_repository_scope_contains_every_image_of_the_repository() -> None:
    assert REPOSITORY_SCOPE.contains("img-any", REGISTRY, REPOSITORY, (), SCOPES)
    assert REPOSITORY_SCOPE.contains("img-other", REGISTRY, REPOSITORY, ("9.9.9",), SCOPES)
    assert not REPOSITORY_SCOPE.contains("img-any", REGISTRY, "acme/shop-admin", (), SCOPES)
    assert not REPOSITORY_SCOPE.contains("img-any", "docker.io", REPOSITORY, (), SCOPES)


def test_an_all_scope_contains_the_images_of_its_within_scopes() -> None:
    team = AcceptanceScope(ScopeKind.ALL, within=("team-acme",))
    assert team.contains("img-1", "ghcr.io", "acme/shop", (), SCOPES)
    assert team.contains("img-2", "ghcr.io", "acme/billing", ("1.0",), SCOPES)
    assert not team.contains("img-3", "docker.io", "acme/shop", (), SCOPES)
    assert not team.contains("img-4", "ghcr.io", "other/shop", ("v1",), SCOPES)

    both = AcceptanceScope(ScopeKind.ALL, within=("team-acme", "releases"))
    assert both.contains("img-4", "ghcr.io", "other/shop", ("v1", "latest"), SCOPES)
    assert not both.contains("img-5", "ghcr.io", "other/shop", ("latest",), SCOPES)
    assert both.contains("img-1", "ghcr.io", "acme/shop", (), SCOPES)


def test_an_all_scope_within_global_contains_everything() -> None:
    assert GLOBAL_ALL_SCOPE.contains("img-x", "quay.io", "anyone/anything", (), {})
    assert AcceptanceScope(ScopeKind.ALL, within=("gone", "global")).contains(
        "img-x", "quay.io", "a/b", (), {}
    )


def test_a_scope_that_no_longer_exists_covers_nothing() -> None:
    gone = AcceptanceScope(ScopeKind.ALL, within=("deleted-scope",))
    assert not gone.contains("img-1", "ghcr.io", "acme/shop", TAGS, SCOPES)
    assert not gone.contains("img-1", "ghcr.io", "acme/shop", TAGS, {})
    assert not AcceptanceScope(ScopeKind.ALL, within=()).contains(
        "img-1", "ghcr.io", "acme/shop", TAGS, SCOPES
    )


def test_targets_name_each_scope_an_image_can_be_accepted_in() -> None:
    targets = targets_for(REGISTRY, REPOSITORY)
    assert IMAGE_SCOPE.target in targets
    assert REPOSITORY_SCOPE.target in targets
    assert GLOBAL_ALL_SCOPE.target in targets
    # An image's acceptances are kept with its repository's: one partition read for all its images.
    other_image = AcceptanceScope(
        ScopeKind.IMAGE, image_id="img-other", registry=REGISTRY, repository=REPOSITORY
    )
    assert other_image.target == IMAGE_SCOPE.target
    assert other_image.contains("img-other", REGISTRY, REPOSITORY, TAGS, {})
    assert not other_image.contains(IMAGE_ID, REGISTRY, REPOSITORY, TAGS, {})
    assert (
        AcceptanceScope(ScopeKind.REPOSITORY, registry=REGISTRY, repository="acme/other").target
        not in targets
    )


def test_scope_keys_tell_scopes_apart_where_targets_do_not() -> None:
    other_image = AcceptanceScope(
        ScopeKind.IMAGE, image_id="img-other", registry=REGISTRY, repository=REPOSITORY
    )
    keys = {IMAGE_SCOPE.key, other_image.key, REPOSITORY_SCOPE.key, GLOBAL_ALL_SCOPE.key}
    assert len(keys) == 4
    team_a = AcceptanceScope(ScopeKind.ALL, within=("team-a",))
    assert team_a.key != GLOBAL_ALL_SCOPE.key


@pytest.mark.parametrize(
    "scope", [IMAGE_SCOPE, REPOSITORY_SCOPE, AcceptanceScope(ScopeKind.ALL, within=("a", "b"))]
)
def test_scope_round_trips_through_its_stored_form(scope: AcceptanceScope) -> None:
    assert AcceptanceScope.from_dict(scope.as_dict(), REGISTRY, REPOSITORY) == scope


# --- reminders --------------------------------------------------------------------------------------------


def test_reminders_fall_7_and_1_days_before_the_end() -> None:
    ends = NOW + timedelta(days=30)
    assert reminder_times(ends, [7, 1], NOW) == [
        (7, ends - timedelta(days=7)),
        (1, ends - timedelta(days=1)),
    ]
    assert reminder_times(ends, [1, 7, 7], NOW) == reminder_times(ends, [7, 1], NOW)


def test_reminders_already_due_are_left_out() -> None:
    ends = NOW + timedelta(days=3)
    assert reminder_times(ends, [7, 1], NOW) == [(1, ends - timedelta(days=1))]
    assert reminder_times(NOW + timedelta(hours=12), [7, 1], NOW) == []
    # A reminder due exactly now is already past.
    assert reminder_times(NOW + timedelta(days=1), [7, 1], NOW) == []
    assert reminder_times(NOW + timedelta(days=1) + TINY, [7, 1], NOW) == [(1, NOW + TINY)]


def test_no_reminders_without_an_end_or_days() -> None:
    assert reminder_times(None, [7, 1], NOW) == []
    assert reminder_times(NOW + timedelta(days=30), [], NOW) == []
    assert reminder_times(NOW + timedelta(days=30), [0, -1], NOW) == []


# --- the one-in-force guard ---------------------------------------------------------------------------


def test_guard_key_is_the_same_for_the_same_scope_and_finding() -> None:
    same = guard_key(REPOSITORY_SCOPE, AcceptedFinding(VULN, "CVE-2021-44228"))
    assert same == guard_key(REPOSITORY_SCOPE, AcceptedFinding(VULN, "cve-2021-44228"))
    assert same == guard_key(
        AcceptanceScope(ScopeKind.REPOSITORY, registry=REGISTRY, repository=REPOSITORY),
        AcceptedFinding(VULN, "Cve-2021-44228"),
    )
    narrowed = guard_key(IMAGE_SCOPE, AcceptedFinding(VULN, "CVE-2021-44228", package="Log4j-Core"))
    assert narrowed == guard_key(IMAGE_SCOPE, AcceptedFinding(VULN, "cve-2021-44228", package="log4j-core"))
    # "All images within team a" and "all images everywhere" are different scopes; the order of the
    # within scopes is not.
    within_a = AcceptanceScope(ScopeKind.ALL, within=("a",))
    assert guard_key(within_a, AcceptedFinding(VULN, "X")) != guard_key(
        GLOBAL_ALL_SCOPE, AcceptedFinding(VULN, "x")
    )
    assert guard_key(
        AcceptanceScope(ScopeKind.ALL, within=("a", "b")), AcceptedFinding(VULN, "X")
    ) == guard_key(AcceptanceScope(ScopeKind.ALL, within=("b", "a")), AcceptedFinding(VULN, "X"))


def test_guard_key_differs_for_another_scope_or_finding() -> None:
    finding = AcceptedFinding(VULN, "CVE-2021-44228")
    keys = {
        guard_key(IMAGE_SCOPE, finding),
        guard_key(AcceptanceScope(ScopeKind.IMAGE, image_id="img-other"), finding),
        guard_key(REPOSITORY_SCOPE, finding),
        guard_key(
            AcceptanceScope(ScopeKind.REPOSITORY, registry="docker.io", repository=REPOSITORY), finding
        ),
        guard_key(GLOBAL_ALL_SCOPE, finding),
        guard_key(IMAGE_SCOPE, AcceptedFinding(VULN, "CVE-2021-45046")),
        guard_key(IMAGE_SCOPE, AcceptedFinding(MALWARE, "CVE-2021-44228")),
        guard_key(IMAGE_SCOPE, AcceptedFinding(VULN, "CVE-2021-44228", package="log4j-core")),
        guard_key(
            IMAGE_SCOPE, AcceptedFinding(VULN, "CVE-2021-44228", package="log4j-core", version="2.14.1")
        ),
    }
    assert len(keys) == 9


# --- repositories -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("nginx", ("docker.io", "library/nginx")),
        ("  nginx ", ("docker.io", "library/nginx")),
        ("docker.io/nginx", ("docker.io", "library/nginx")),
        ("bitnami/redis", ("docker.io", "bitnami/redis")),
        ("ghcr.io/acme/shop", ("ghcr.io", "acme/shop")),
        ("localhost:5000/team/app", ("localhost:5000", "team/app")),
    ],
)
def test_parse_repository_normalizes_like_image_references(text: str, expected: tuple[str, str]) -> None:
    assert parse_repository(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "nginx:1.27",
        "ghcr.io/acme/shop:latest",
        "localhost:5000/team/app:v1",
        "nginx@sha256:" + "a" * 64,
        "ghcr.io/acme/shop@" + DIGEST,
        "",
        "   ",
        "Not A Repository",
    ],
)
def test_parse_repository_refuses_tags_digests_and_nonsense(text: str) -> None:
    with pytest.raises(InvalidInput):
        parse_repository(text)


# --- staleness --------------------------------------------------------------------------------------------


def test_stale_when_the_finding_no_longer_appears() -> None:
    reasons = staleness(acceptance(), [vuln("CVE-2021-45046"), malware(Severity.LOW, "CVE-2021-44228")])
    assert len(reasons) == 1
    assert "no longer appears" in reasons[0]
    assert staleness(acceptance(), []) == reasons


def test_stale_when_a_fixed_version_is_available() -> None:
    reasons = staleness(
        acceptance("cve-2021-44228"),
        [vuln(package="log4j-api", fixed=None), vuln(package="log4j-core", fixed="2.17.1")],
    )
    assert len(reasons) == 1
    assert "fixed version" in reasons[0]
    assert "log4j-core 2.17.1" in reasons[0]
    assert "log4j-api" not in reasons[0]


def test_not_stale_when_the_finding_is_there_without_a_fix() -> None:
    assert staleness(acceptance(), [vuln(fixed=None), vuln("CVE-2021-45046", fixed="2.16.0")]) == []
    # A package-narrowed acceptance looks only at its package.
    narrowed = acceptance(package="log4j-api")
    assert staleness(narrowed, [vuln(package="log4j-api"), vuln(package="log4j-core", fixed="2.17.1")]) == []


# --- .trivyignore.yaml ------------------------------------------------------------------------------------


def comment_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("#")]


def test_trivyignore_lists_the_accepted_ids_until_their_end() -> None:
    ends = datetime(2025, 7, 14, 18, 30, tzinfo=UTC)
    dated = acceptance(
        "CVE-2021-44228",
        period=AcceptancePeriod.CUSTOM,
        expires_at=ends,
        acceptance_id="acc-a",
        reason="vendor patch due",
    )
    endless = acceptance("CVE-2019-9169", period=AcceptancePeriod.INDEFINITE, acceptance_id="acc-b")
    secret = acceptance("aws-access-key-id", kind=FindingKind.SENSITIVE_DATA, acceptance_id="acc-c")
    check = acceptance("AVD-DS-0002", kind=FindingKind.MISCONFIGURATION, acceptance_id="acc-d")
    revoked = acceptance("CVE-2000-0001", status=AcceptanceStatus.REVOKED, acceptance_id="acc-e")
    ended = acceptance("CVE-2000-0002", period=AcceptancePeriod.CUSTOM, expires_at=NOW, acceptance_id="acc-f")

    text = trivyignore([dated, endless, secret, check, revoked, ended], NOW)
    document = yaml.safe_load(text)

    assert set(document) == {"vulnerabilities", "misconfigurations", "secrets"}
    by_id = {entry["id"]: entry for entry in document["vulnerabilities"]}
    assert set(by_id) == {"CVE-2021-44228", "CVE-2019-9169"}
    assert by_id["CVE-2021-44228"]["expired_at"] == date(2025, 7, 14)
    assert by_id["CVE-2021-44228"]["statement"].startswith("vendor patch due")
    assert "acc-a" in by_id["CVE-2021-44228"]["statement"]
    assert "expired_at" not in by_id["CVE-2019-9169"]
    assert [entry["id"] for entry in document["secrets"]] == ["aws-access-key-id"]
    assert [entry["id"] for entry in document["misconfigurations"]] == ["AVD-DS-0002"]
    # Not in force: neither exported nor listed.
    assert "CVE-2000-0001" not in text
    assert "CVE-2000-0002" not in text


def test_trivyignore_leaves_out_what_trivy_cannot_express_and_says_so() -> None:
    narrowed = acceptance("CVE-2021-44228", package="log4j-core", acceptance_id="acc-a")
    until_fixed = acceptance("CVE-2022-22965", period=AcceptancePeriod.UNTIL_FIXED, acceptance_id="acc-b")
    found_malware = acceptance("EICAR-Test-File", kind=MALWARE, acceptance_id="acc-c")
    plain = acceptance("CVE-2019-9169", acceptance_id="acc-d")

    text = trivyignore([narrowed, until_fixed, found_malware, plain], NOW)
    document = yaml.safe_load(text)

    assert [entry["id"] for entry in document["vulnerabilities"]] == ["CVE-2019-9169"]
    assert document["secrets"] == []
    assert document["misconfigurations"] == []
    comments = "\n".join(comment_lines(text))
    for left_out in (narrowed, until_fixed, found_malware):
        assert left_out.id in comments
        assert left_out.finding.finding_id in comments
    assert "acc-d" not in comments


def test_trivyignore_with_nothing_in_force_is_an_empty_ignore_file() -> None:
    document = yaml.safe_load(trivyignore([], NOW))
    assert document == {"vulnerabilities": [], "misconfigurations": [], "secrets": []}


@pytest.mark.parametrize(
    "reason",
    [
        'He said "fine": # not a comment',
        "line one\nline two\r\n  - id: CVE-0000-0000\nsecrets: []",
        "back\\slash, tab\tand 'single' quotes; {braces} [brackets] & *star !tag %pct @at `tick`",
        "---\n...\n",
        "ünïcödé — 受け入れ 🚢",
    ],
)
def test_trivyignore_escapes_any_reason(reason: str) -> None:
    accepted = acceptance(reason=reason, accepted_by='usr-"mallory": #x')
    document = yaml.safe_load(trivyignore([accepted], NOW))
    assert [entry["id"] for entry in document["vulnerabilities"]] == ["CVE-2021-44228"]
    statement = document["vulnerabilities"][0]["statement"]
    assert statement.startswith(reason)
    assert 'usr-"mallory": #x' in statement
    assert document["secrets"] == []
    assert document["misconfigurations"] == []


def test_trivyignore_escapes_control_characters_yaml_forbids() -> None:
    accepted = acceptance(reason="bad\x7fbyte and \x9b too")
    document = yaml.safe_load(trivyignore([accepted], NOW))
    assert document["vulnerabilities"][0]["statement"].startswith("bad\x7fbyte and \x9b too")


# --- OpenVEX ----------------------------------------------------------------------------------------------


def stored(scope: Mapping[str, Any], **overrides: Any) -> RiskAcceptance:
    fields: dict[str, Any] = {
        "id": "acc-1111111111111111",
        "finding": {"kind": "vulnerability", "id": "CVE-2021-44228"},
        "scope": scope,
        "registry": REGISTRY,
        "repository": REPOSITORY,
        "period": "30d",
        "reason": "only reachable from the internal network",
        "status": "active",
        "accepted_at": iso(NOW - timedelta(days=1)),
        "accepted_by": "usr-alice",
        "expires_at": iso(NOW + timedelta(days=29)),
        "version": 1,
    }
    fields.update(overrides)
    return RiskAcceptance.from_fields({k: v for k, v in fields.items() if v is not None})


def test_openvex_document_states_the_accepted_vulnerabilities_as_affected() -> None:
    image = stored({"image": IMAGE_ID}, digest=DIGEST, tags=list(TAGS))
    document = openvex([image], NOW, document_id="https://riskgate.example/vex/1", author="Riskgate")

    assert document["@context"] == "https://openvex.dev/ns/v0.2.0"
    assert document["@id"] == "https://riskgate.example/vex/1"
    assert document["author"] == "Riskgate"
    assert document["timestamp"] == iso(NOW)
    assert document["version"] == 1
    json.dumps(document)  # a JSON document as it stands

    [statement] = document["statements"]
    assert statement["vulnerability"] == {"name": "CVE-2021-44228"}
    assert statement["status"] == "affected"
    assert "only reachable from the internal network" in statement["action_statement"]
    assert "usr-alice" in statement["action_statement"]
    assert iso(NOW + timedelta(days=29)) in statement["action_statement"]
    assert image.id in statement["action_statement"]
    assert statement["timestamp"] == iso(NOW - timedelta(days=1))
    [product] = statement["products"]
    assert product["@id"] == f"pkg:oci/shop@sha256%3A{'ab' * 32}?repository_url=ghcr.io/acme/shop"
    assert "subcomponents" not in product


def test_openvex_products_for_a_repository_and_an_image_without_digest() -> None:
    repository = stored(
        {"repository": f"{REGISTRY}/{REPOSITORY}"}, id="acc-a", expires_at=None, period="indefinite"
    )
    image = stored({"image": IMAGE_ID}, id="acc-b", finding={"kind": "vulnerability", "id": "CVE-2021-45046"})
    document = openvex([repository, image], NOW, document_id="vex-2", author="Riskgate")
    products = {s["vulnerability"]["name"]: s["products"][0]["@id"] for s in document["statements"]}
    assert products == {
        "CVE-2021-44228": "pkg:oci/shop?repository_url=ghcr.io/acme/shop",
        "CVE-2021-45046": "pkg:oci/shop?repository_url=ghcr.io/acme/shop",
    }
    endless = next(s for s in document["statements"] if s["vulnerability"]["name"] == "CVE-2021-44228")
    assert "indefinite" in endless["action_statement"]


def test_openvex_names_the_package_of_a_narrowed_acceptance() -> None:
    narrowed = stored(
        {"image": IMAGE_ID},
        digest=DIGEST,
        finding={"kind": "vulnerability", "id": "CVE-2021-44228", "package": "log4j-core"},
    )
    [statement] = openvex([narrowed], NOW, document_id="vex-3", author="Riskgate")["statements"]
    assert statement["products"][0]["subcomponents"] == [{"@id": "log4j-core"}]


def test_openvex_leaves_out_all_scopes_other_kinds_and_what_is_not_in_force() -> None:
    everywhere = stored({"all": True, "within": ["global"]}, id="acc-a", registry=None, repository=None)
    secret = stored(
        {"image": IMAGE_ID}, id="acc-b", finding={"kind": "sensitive_data", "id": "aws-access-key-id"}
    )
    revoked = stored({"image": IMAGE_ID}, id="acc-c", status="revoked")
    ended = stored({"image": IMAGE_ID}, id="acc-d", expires_at=iso(NOW))
    kept = stored({"image": IMAGE_ID}, id="acc-e", digest=DIGEST)
    document = openvex(
        [everywhere, secret, revoked, ended, kept], NOW, document_id="vex-4", author="Riskgate"
    )
    assert [s["action_statement"].endswith("(Riskgate acc-e)") for s in document["statements"]] == [True]
    assert openvex([everywhere], NOW, document_id="vex-5", author="Riskgate")["statements"] == []
