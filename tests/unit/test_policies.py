"""Assurance policies as data, evaluated on real scanner reports.

The expected figures are computed in this file from the raw JSON, deliberately simply and without our
parsers (one raw entry per identity, as the parsers de-duplicate); the verdict comes from parsing the
same report and evaluating it.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

import pytest

from riskgate.domain.access import GLOBAL, ResourceSelector, ScopeDefinition
from riskgate.domain.errors import InvalidInput
from riskgate.domain.evaluation import MAX_FINDINGS_PER_REASON, Verdict, evaluate
from riskgate.domain.findings import Finding, FindingKind, Severity
from riskgate.domain.parsers import decode_report, parse_report
from riskgate.domain.policies import (
    DEFAULT_POLICY,
    AssurancePolicy,
    PolicyAction,
    PolicyConditions,
    PolicyMode,
    applicable,
    validate_actions,
    validate_conditions,
    validate_mode,
)
from riskgate.handlers.api import models
from tests.support.fixture_readme import MAX_BYTES

REDIS = "grype/wild_redis-3.0.7.json"
ALL_FIELDS = "grype/dd_check-all-fields_grype-0.28.json"
SPRING4SHELL = "trivy/golden_spring4shell-jre11.json"
MISCONFIG_AND_SECRETS = "trivy/dd_misconfigurations-and-secrets.json"
SECRETS = "trivy/golden_secrets.json"
SEVERITY_WORDS = [severity.value for severity in Severity]


# --- raw entries, read apart from the parsers ----------------------------------------------------------


@dataclass(frozen=True)
class RawVulnerability:
    vid: str
    package: str
    severity: str
    fixable: bool
    cvss: float | None


@dataclass(frozen=True)
class RawReport:
    vulnerabilities: list[RawVulnerability]
    secrets: int
    failed_checks: list[str]  # severity word of each failed misconfiguration check


def raw_report(scanner_fixtures: Path, relative: str) -> RawReport:
    document = json.loads((scanner_fixtures / relative).read_text(encoding="utf-8"))
    return _raw_grype(document) if relative.startswith("grype/") else _raw_trivy(document)


def _raw_grype(document: dict[str, Any]) -> RawReport:
    by_identity: dict[tuple[Any, ...], RawVulnerability] = {}
    for match in document["matches"]:
        vulnerability, artifact = match["vulnerability"], match["artifact"]
        paths = tuple(sorted(location["path"] for location in artifact.get("locations") or []))
        identity = (vulnerability["id"], artifact["name"], artifact.get("version"), paths)
        fix = vulnerability.get("fix") or {}
        scores = [entry["metrics"]["baseScore"] for entry in vulnerability.get("cvss") or []]
        by_identity.setdefault(
            identity,
            RawVulnerability(
                vid=vulnerability["id"],
                package=artifact["name"],
                severity=vulnerability["severity"].lower(),
                fixable=fix.get("state") == "fixed" and bool(fix.get("versions")),
                cvss=max(scores, default=None),
            ),
        )
    return RawReport(list(by_identity.values()), secrets=0, failed_checks=[])


def _raw_trivy(document: dict[str, Any]) -> RawReport:
    vulnerabilities: dict[tuple[Any, ...], RawVulnerability] = {}
    secrets = 0
    failed: list[str] = []
    for result in document.get("Results") or []:
        for v in result.get("Vulnerabilities") or []:
            identity = (v["VulnerabilityID"], v["PkgName"], v["InstalledVersion"], result["Target"])
            sources = (v.get("CVSS") or {}).values()
            v3 = [source["V3Score"] for source in sources if "V3Score" in source]
            v2 = [source["V2Score"] for source in sources if "V2Score" in source]
            vulnerabilities.setdefault(
                identity,
                RawVulnerability(
                    vid=v["VulnerabilityID"],
                    package=v["PkgName"],
                    severity=v["Severity"].lower(),
                    fixable=bool(v.get("FixedVersion")),
                    cvss=max(v3 or v2, default=None),
                ),
            )
        secrets += len(result.get("Secrets") or [])
        failed += [
            m["Severity"].lower() for m in result.get("Misconfigurations") or [] if m["Status"] == "FAIL"
        ]
    return RawReport(list(vulnerabilities.values()), secrets, failed)


def at_or_above(word: str, threshold: str) -> bool:
    return SEVERITY_WORDS.index(word) <= SEVERITY_WORDS.index(threshold)


# --- helpers ---------------------------------------------------------------------------------------------


def findings_of(scanner_fixtures: Path, relative: str) -> list[Finding]:
    raw = (scanner_fixtures / relative).read_bytes()
    return parse_report(decode_report(raw, None, MAX_BYTES)).findings


def policy(
    conditions: dict[str, Any],
    *,
    policy_id: str = "p1",
    mode: PolicyMode = PolicyMode.ENFORCE,
    actions: frozenset[PolicyAction] = frozenset({PolicyAction.BLOCK_CI}),
    scope: str = "global",
    enabled: bool = True,
) -> AssurancePolicy:
    return AssurancePolicy(
        id=policy_id,
        name=f"policy {policy_id}",
        description="",
        scope=scope,
        enabled=enabled,
        mode=mode,
        conditions=validate_conditions(conditions),
        actions=actions,
        version=3,
    )


def only_reason(verdict: Verdict, condition: str) -> Any:
    assert [reason.condition for reason in verdict.reasons] == [condition]
    return verdict.reasons[0]


# --- conditions, on real reports -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("relative", "threshold"),
    [(REDIS, "critical"), (REDIS, "high"), (ALL_FIELDS, "critical"), (ALL_FIELDS, "high")],
)
def test_severity_at_least_fails_only_above_max_count(
    scanner_fixtures: Path, relative: str, threshold: str
) -> None:
    # Given the number of vulnerabilities at or above the threshold, counted in the raw report
    count = sum(
        at_or_above(v.severity, threshold) for v in raw_report(scanner_fixtures, relative).vulnerabilities
    )
    assert count > 1
    findings = findings_of(scanner_fixtures, relative)

    # When max_count is one less than that count, the policy fails naming every one of them
    verdict = evaluate(findings, [policy({"severity_at_least": threshold, "max_count": count - 1})])
    reason = only_reason(verdict, "severity_at_least")
    assert (verdict.status, verdict.block) == ("non_compliant", True)
    assert reason.total == count
    assert len(reason.findings) == min(count, MAX_FINDINGS_PER_REASON)
    assert all(at_or_above(f["severity"], threshold) for f in reason.findings)
    ranks = [SEVERITY_WORDS.index(f["severity"]) for f in reason.findings]
    assert ranks == sorted(ranks)

    # When max_count equals it, the policy passes
    verdict = evaluate(findings, [policy({"severity_at_least": threshold, "max_count": count})])
    assert verdict.as_dict() == {"status": "compliant", "block": False, "reasons": [], "dry_run": []}


def test_fixable_only_counts_only_vulnerabilities_with_a_fix(scanner_fixtures: Path) -> None:
    raw = raw_report(scanner_fixtures, REDIS).vulnerabilities
    critical = [v for v in raw if v.severity == "critical"]
    fixable = [v for v in critical if v.fixable]
    assert 0 < len(fixable) < len(critical)
    findings = findings_of(scanner_fixtures, REDIS)
    conditions = {"severity_at_least": "critical", "max_count": len(fixable)}

    # Without fixable_only every critical counts: more than max_count
    assert only_reason(evaluate(findings, [policy(conditions)]), "severity_at_least").total == len(critical)
    # With it only the fixable ones count: not more than max_count
    assert evaluate(findings, [policy({**conditions, "fixable_only": True})]).status == "compliant"
    # …and those are the findings reported when it fails
    verdict = evaluate(findings, [policy({**conditions, "max_count": 0, "fixable_only": True})])
    reason = only_reason(verdict, "severity_at_least")
    assert reason.total == len(fixable)
    assert sorted(f["id"] for f in reason.findings) == sorted(v.vid for v in fixable)
    assert all(f["fixed_version"] for f in reason.findings)


def test_fixable_only_clears_criticals_that_have_no_fix(scanner_fixtures: Path) -> None:
    raw = raw_report(scanner_fixtures, ALL_FIELDS).vulnerabilities
    assert any(v.severity == "critical" for v in raw)
    assert not any(v.severity == "critical" and v.fixable for v in raw)
    findings = findings_of(scanner_fixtures, ALL_FIELDS)
    assert evaluate(findings, [policy({"severity_at_least": "critical"})]).status == "non_compliant"
    assert (
        evaluate(findings, [policy({"severity_at_least": "critical", "fixable_only": True})]).block is False
    )


@pytest.mark.parametrize("relative", [REDIS, ALL_FIELDS, SPRING4SHELL])
def test_cvss_at_least_fails_at_the_highest_score_and_passes_above_it(
    scanner_fixtures: Path, relative: str
) -> None:
    scores = [v.cvss for v in raw_report(scanner_fixtures, relative).vulnerabilities if v.cvss is not None]
    top = max(scores)
    findings = findings_of(scanner_fixtures, relative)

    reason = only_reason(evaluate(findings, [policy({"cvss_at_least": top})]), "cvss_at_least")
    assert reason.total == scores.count(top)

    lower = sorted(set(scores))[-2] if len(set(scores)) > 1 else top
    assert only_reason(evaluate(findings, [policy({"cvss_at_least": lower})]), "cvss_at_least").total == sum(
        score >= lower for score in scores
    )
    assert evaluate(findings, [policy({"cvss_at_least": min(top + 0.1, 10)})]).status == (
        "non_compliant" if top == 10 else "compliant"
    )


def test_cvss_at_least_with_fixable_only(scanner_fixtures: Path) -> None:
    # The only scored vulnerability of this report has no fix (state wont-fix)
    raw = [v for v in raw_report(scanner_fixtures, ALL_FIELDS).vulnerabilities if v.cvss is not None]
    assert [(v.package, v.fixable) for v in raw] == [("redis", False)]
    findings = findings_of(scanner_fixtures, ALL_FIELDS)
    assert evaluate(findings, [policy({"cvss_at_least": raw[0].cvss})]).status == "non_compliant"
    assert evaluate(findings, [policy({"cvss_at_least": raw[0].cvss, "fixable_only": True})]).status == (
        "compliant"
    )


def test_vulnerability_ids_is_a_denylist(scanner_fixtures: Path) -> None:
    raw = raw_report(scanner_fixtures, SPRING4SHELL).vulnerabilities
    present = raw[0].vid
    findings = findings_of(scanner_fixtures, SPRING4SHELL)

    # Hit, whatever the case the policy writes it in
    verdict = evaluate(findings, [policy({"vulnerability_ids": ["CVE-2021-44228", present.lower()]})])
    reason = only_reason(verdict, "vulnerability_ids")
    assert [f["id"] for f in reason.findings] == [present]
    # Miss
    assert evaluate(findings, [policy({"vulnerability_ids": ["CVE-2021-44228"]})]).status == "compliant"


@pytest.mark.parametrize(
    ("relative", "glob"),
    [(SPRING4SHELL, "org.springframework:*"), (REDIS, "libc*"), (REDIS, "redis"), (ALL_FIELDS, "django")],
)
def test_packages_globs_hit(scanner_fixtures: Path, relative: str, glob: str) -> None:
    raw = raw_report(scanner_fixtures, relative).vulnerabilities
    expected = [v for v in raw if fnmatchcase(v.package.lower(), glob.lower())]
    assert expected
    verdict = evaluate(findings_of(scanner_fixtures, relative), [policy({"packages": ["log4j-*", glob]})])
    reason = only_reason(verdict, "packages")
    assert reason.total == len(expected)
    assert len(reason.findings) == min(len(expected), MAX_FINDINGS_PER_REASON)
    assert all(fnmatchcase(f["package"].lower(), glob.lower()) for f in reason.findings)


def test_packages_globs_miss(scanner_fixtures: Path) -> None:
    verdict = evaluate(
        findings_of(scanner_fixtures, SPRING4SHELL), [policy({"packages": ["log4j*", "spring"]})]
    )
    assert verdict.status == "compliant"


def test_packages_with_fixable_only(scanner_fixtures: Path) -> None:
    raw = [v for v in raw_report(scanner_fixtures, REDIS).vulnerabilities if v.package == "redis"]
    fixable = sum(v.fixable for v in raw)
    assert 0 < fixable < len(raw)
    verdict = evaluate(
        findings_of(scanner_fixtures, REDIS), [policy({"packages": ["redis"], "fixable_only": True})]
    )
    assert only_reason(verdict, "packages").total == fixable


@pytest.mark.parametrize("relative", [REDIS, ALL_FIELDS, SPRING4SHELL, MISCONFIG_AND_SECRETS, SECRETS])
def test_malware_condition_passes_when_no_scanner_reports_malware(
    scanner_fixtures: Path, relative: str
) -> None:
    assert (
        evaluate(findings_of(scanner_fixtures, relative), [policy({"malware": True})]).status == "compliant"
    )


def test_malware_condition_fails_on_malware() -> None:
    verdict = evaluate([Finding(FindingKind.MALWARE, "EICAR", Severity.HIGH)], [policy({"malware": True})])
    assert only_reason(verdict, "malware").findings[0]["id"] == "EICAR"


@pytest.mark.parametrize("relative", [MISCONFIG_AND_SECRETS, SECRETS])
def test_sensitive_data_fails_on_every_secret(scanner_fixtures: Path, relative: str) -> None:
    secrets = raw_report(scanner_fixtures, relative).secrets
    assert secrets > 0
    verdict = evaluate(findings_of(scanner_fixtures, relative), [policy({"sensitive_data": True})])
    reason = only_reason(verdict, "sensitive_data")
    assert reason.total == secrets
    assert {f["kind"] for f in reason.findings} == {"sensitive_data"}


def test_sensitive_data_passes_without_secrets(scanner_fixtures: Path) -> None:
    assert raw_report(scanner_fixtures, SPRING4SHELL).secrets == 0
    verdict = evaluate(findings_of(scanner_fixtures, SPRING4SHELL), [policy({"sensitive_data": True})])
    assert verdict.status == "compliant"


def test_misconfiguration_severity_at_least(scanner_fixtures: Path) -> None:
    failed = raw_report(scanner_fixtures, MISCONFIG_AND_SECRETS).failed_checks
    assert failed == ["high"]
    findings = findings_of(scanner_fixtures, MISCONFIG_AND_SECRETS)
    for threshold in SEVERITY_WORDS:
        verdict = evaluate(findings, [policy({"misconfiguration_severity_at_least": threshold})])
        expected = sum(at_or_above(word, threshold) for word in failed)
        if expected:
            reason = only_reason(verdict, "misconfiguration_severity_at_least")
            assert reason.total == expected
            assert {f["kind"] for f in reason.findings} == {"misconfiguration"}
        else:
            assert verdict.status == "compliant", threshold


def test_every_failed_condition_of_a_policy_is_one_reason(scanner_fixtures: Path) -> None:
    raw = raw_report(scanner_fixtures, MISCONFIG_AND_SECRETS)
    verdict = evaluate(
        findings_of(scanner_fixtures, MISCONFIG_AND_SECRETS),
        [
            policy(
                {
                    "severity_at_least": "high",
                    "malware": True,  # holds not: not reported
                    "sensitive_data": True,
                    "misconfiguration_severity_at_least": "high",
                }
            )
        ],
    )
    assert [(r.condition, r.total) for r in verdict.reasons] == [
        ("severity_at_least", sum(at_or_above(v.severity, "high") for v in raw.vulnerabilities)),
        ("sensitive_data", raw.secrets),
        ("misconfiguration_severity_at_least", len(raw.failed_checks)),
    ]
    assert {(r.policy_id, r.policy_name, r.policy_version) for r in verdict.reasons} == {
        ("p1", "policy p1", 3)
    }


# --- the default policy ---------------------------------------------------------------------------------


def test_the_default_policy_is_todays_rule() -> None:
    assert DEFAULT_POLICY.id == "default"
    assert DEFAULT_POLICY.scope == "global"
    assert DEFAULT_POLICY.enabled
    assert DEFAULT_POLICY.mode is PolicyMode.ENFORCE
    assert DEFAULT_POLICY.actions == {"block_ci"}
    assert DEFAULT_POLICY.version == 1
    assert DEFAULT_POLICY.conditions.as_dict() == {
        "severity_at_least": "critical",
        "max_count": 0,
        "malware": True,
        "sensitive_data": True,
    }


@pytest.mark.parametrize(
    ("relative", "conditions"),
    [
        (REDIS, ["severity_at_least"]),
        (SECRETS, ["sensitive_data"]),
        (MISCONFIG_AND_SECRETS, ["sensitive_data"]),
        (SPRING4SHELL, ["severity_at_least"]),
    ],
)
def test_evaluate_without_policies_applies_the_default_policy(
    scanner_fixtures: Path, relative: str, conditions: list[str]
) -> None:
    # Given a report with critical vulnerabilities or secrets (and no critical misconfiguration counts)
    raw = raw_report(scanner_fixtures, relative)
    criticals = sum(v.severity == "critical" for v in raw.vulnerabilities)
    findings = findings_of(scanner_fixtures, relative)
    # When evaluated without naming policies, the default policy applies: non-compliant and blocked
    verdict = evaluate(findings)
    assert verdict == evaluate(findings, [DEFAULT_POLICY])
    assert (verdict.status, verdict.block) == ("non_compliant", True)
    assert [r.condition for r in verdict.reasons] == conditions
    assert {(r.policy_id, r.policy_version) for r in verdict.reasons} == {("default", 1)}
    totals = {r.condition: r.total for r in verdict.reasons}
    assert totals.get("severity_at_least", 0) == criticals
    assert totals.get("sensitive_data", 0) == raw.secrets
    # Failed configuration checks alone never fail it
    assert evaluate([f for f in findings if f.kind is FindingKind.MISCONFIGURATION]).status == "compliant"


def test_evaluate_with_no_policy_at_all_is_compliant(scanner_fixtures: Path) -> None:
    assert evaluate(findings_of(scanner_fixtures, REDIS), []).status == "compliant"


# --- modes, actions, several policies ---------------------------------------------------------------------


def test_a_dry_run_policy_is_reported_but_changes_neither_status_nor_block(scanner_fixtures: Path) -> None:
    findings = findings_of(scanner_fixtures, SPRING4SHELL)
    trial = policy({"cvss_at_least": 9}, policy_id="trial", mode=PolicyMode.DRY_RUN)
    verdict = evaluate(findings, [trial])
    assert (verdict.status, verdict.block, verdict.reasons) == ("compliant", False, [])
    assert [(r.policy_id, r.condition, r.would_block) for r in verdict.dry_run] == [
        ("trial", "cvss_at_least", True)
    ]
    assert verdict.as_dict()["dry_run"][0]["would_block"] is True
    # Without block_ci it would only have made the image non-compliant
    quiet = dataclasses.replace(trial, actions=frozenset())
    assert evaluate(findings, [quiet]).dry_run[0].would_block is False


def test_dry_run_next_to_an_enforced_policy(scanner_fixtures: Path) -> None:
    findings = findings_of(scanner_fixtures, SECRETS)
    verdict = evaluate(
        findings,
        [
            policy({"sensitive_data": True}, policy_id="enforced", actions=frozenset()),
            policy({"sensitive_data": True}, policy_id="trial", mode=PolicyMode.DRY_RUN),
        ],
    )
    assert (verdict.status, verdict.block) == ("non_compliant", False)
    assert [r.policy_id for r in verdict.reasons] == ["enforced"]
    assert [r.policy_id for r in verdict.dry_run] == ["trial"]
    assert "would_block" not in verdict.as_dict()["reasons"][0]


def test_block_only_with_block_ci(scanner_fixtures: Path) -> None:
    findings = findings_of(scanner_fixtures, REDIS)
    mark_only = policy({"severity_at_least": "critical"}, actions=frozenset())
    verdict = evaluate(findings, [mark_only])
    assert (verdict.status, verdict.block) == ("non_compliant", False)
    assert evaluate(
        findings, [dataclasses.replace(mark_only, actions=frozenset({PolicyAction.BLOCK_CI}))]
    ).block


def test_several_policies_each_add_their_reasons_in_order(scanner_fixtures: Path) -> None:
    findings = findings_of(scanner_fixtures, MISCONFIG_AND_SECRETS)
    verdict = evaluate(
        findings,
        [
            policy({"misconfiguration_severity_at_least": "high"}, policy_id="a", actions=frozenset()),
            policy({"malware": True}, policy_id="passes"),
            policy({"sensitive_data": True}, policy_id="b"),
        ],
    )
    assert [(r.policy_id, r.condition) for r in verdict.reasons] == [
        ("a", "misconfiguration_severity_at_least"),
        ("b", "sensitive_data"),
    ]
    assert verdict.block is True  # b blocks; a alone would not


def test_a_disabled_policy_is_not_evaluated(scanner_fixtures: Path) -> None:
    disabled = policy({"severity_at_least": "critical"}, enabled=False)
    assert evaluate(findings_of(scanner_fixtures, REDIS), [disabled]).status == "compliant"


def test_the_verdict_fits_the_api_model(scanner_fixtures: Path) -> None:
    verdict = evaluate(
        findings_of(scanner_fixtures, MISCONFIG_AND_SECRETS),
        [DEFAULT_POLICY, policy({"severity_at_least": "medium"}, mode=PolicyMode.DRY_RUN)],
    )
    document = models.Verdict.model_validate(verdict.as_dict()).model_dump()
    assert document["reasons"][0]["policy_version"] == 1
    assert document["dry_run"][0]["condition"] == "severity_at_least"


# --- which policies apply --------------------------------------------------------------------------------


def test_applicable_keeps_enabled_policies_whose_scope_contains_the_image() -> None:
    scopes = {
        "shop": ScopeDefinition("shop", (ResourceSelector(registry="ghcr.io", repository="acme/shop*"),)),
        "prod": ScopeDefinition("prod", (ResourceSelector(tag="prod-*"),)),
        "other": ScopeDefinition("other", (ResourceSelector(repository="acme/billing"),)),
    }
    everywhere = policy({"malware": True}, policy_id="everywhere")
    shop = policy({"malware": True}, policy_id="shop", scope="shop")
    prod = policy({"malware": True}, policy_id="prod", scope="prod")
    other = policy({"malware": True}, policy_id="other", scope="other")
    gone = policy({"malware": True}, policy_id="gone", scope="deleted-scope")
    disabled = policy({"malware": True}, policy_id="disabled", enabled=False)
    policies = [everywhere, shop, prod, other, gone, disabled]

    def ids(registry: str, repository: str, tags: Iterable[str]) -> list[str]:
        return [p.id for p in applicable(policies, registry, repository, tags, scopes)]

    assert ids("ghcr.io", "acme/shop-api", ["1.0", "prod-1"]) == ["everywhere", "shop", "prod"]
    assert ids("ghcr.io", "acme/shop-api", ["1.0"]) == ["everywhere", "shop"]
    assert ids("docker.io", "acme/shop-api", iter(["prod-2"])) == ["everywhere", "prod"]
    assert ids("docker.io", "library/redis", []) == ["everywhere"]
    assert applicable([gone], "docker.io", "library/redis", [], {"global": GLOBAL}) == []


# --- conditions as data, and their validation ------------------------------------------------------------


def test_conditions_read_back_what_they_write() -> None:
    raw = {
        "severity_at_least": "HIGH",
        "max_count": 4,
        "cvss_at_least": 9,
        "fixable_only": True,
        "vulnerability_ids": ["CVE-2021-44228", " CVE-2021-44228 "],
        "packages": ["log4j-*"],
        "malware": False,
        "sensitive_data": True,
        "misconfiguration_severity_at_least": None,
    }
    conditions = validate_conditions(raw)
    assert conditions == PolicyConditions(
        severity_at_least=Severity.HIGH,
        max_count=4,
        cvss_at_least=9.0,
        fixable_only=True,
        vulnerability_ids=("CVE-2021-44228",),
        packages=("log4j-*",),
        sensitive_data=True,
    )
    assert conditions.as_dict() == {
        "severity_at_least": "high",
        "max_count": 4,
        "cvss_at_least": 9.0,
        "fixable_only": True,
        "vulnerability_ids": ["CVE-2021-44228"],
        "packages": ["log4j-*"],
        "sensitive_data": True,
    }
    assert PolicyConditions.from_dict(conditions.as_dict()) == conditions
    assert PolicyConditions.from_dict(DEFAULT_POLICY.conditions.as_dict()) == DEFAULT_POLICY.conditions


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ("critical", "conditions"),
        ({}, "conditions"),
        ({"malware": False, "vulnerability_ids": []}, "conditions"),
        ({"severity": "critical"}, "conditions.severity"),
        ({"severity_at_least": "severe"}, "conditions.severity_at_least"),
        ({"severity_at_least": 1}, "conditions.severity_at_least"),
        ({"severity_at_least": "high", "max_count": -1}, "conditions.max_count"),
        ({"severity_at_least": "high", "max_count": 1.5}, "conditions.max_count"),
        ({"severity_at_least": "high", "max_count": True}, "conditions.max_count"),
        ({"severity_at_least": "high", "max_count": 10**40}, "conditions.max_count"),
        ({"malware": True, "max_count": 2}, "conditions.max_count"),
        ({"cvss_at_least": 10.5}, "conditions.cvss_at_least"),
        ({"cvss_at_least": -0.1}, "conditions.cvss_at_least"),
        ({"cvss_at_least": "9"}, "conditions.cvss_at_least"),
        ({"cvss_at_least": float("nan")}, "conditions.cvss_at_least"),
        ({"cvss_at_least": float("inf")}, "conditions.cvss_at_least"),
        ({"cvss_at_least": 1e-300}, "conditions.cvss_at_least"),
        ({"cvss_at_least": float("-inf")}, "conditions.cvss_at_least"),
        ({"malware": True, "cvss_at_least": float("nan")}, "conditions.cvss_at_least"),
        ({"packages": ["openssl", ""]}, "conditions.packages[1]"),
        ({"packages": ["  "]}, "conditions.packages[0]"),
        ({"packages": "openssl"}, "conditions.packages"),
        ({"vulnerability_ids": [None]}, "conditions.vulnerability_ids[0]"),
        ({"malware": "yes"}, "conditions.malware"),
        ({"sensitive_data": 1}, "conditions.sensitive_data"),
        ({"misconfiguration_severity_at_least": "urgent"}, "conditions.misconfiguration_severity_at_least"),
        ({"sensitive_data": True, "fixable_only": True}, "conditions.fixable_only"),
    ],
)
def test_invalid_conditions_name_the_field(raw: Any, field: str) -> None:
    with pytest.raises(InvalidInput) as raised:
        validate_conditions(raw)
    assert raised.value.message.startswith(f"{field} ")
    assert raised.value.details == [{"field": field}]


def test_actions_and_mode() -> None:
    assert validate_actions([]) == frozenset()
    assert validate_actions(["block_ci", "block_ci"]) == {PolicyAction.BLOCK_CI}
    assert validate_mode("enforce") is PolicyMode.ENFORCE
    assert validate_mode("dry_run") is PolicyMode.DRY_RUN
    for bad_actions in (["notify"], "block_ci", None):
        with pytest.raises(InvalidInput, match=r"^actions "):
            validate_actions(bad_actions)
    for bad_mode in ("audit", None, ["enforce"]):
        with pytest.raises(InvalidInput, match=r"^mode "):
            validate_mode(bad_mode)


def test_a_policy_as_data() -> None:
    trial = policy({"cvss_at_least": 9}, mode=PolicyMode.DRY_RUN, actions=frozenset())
    assert trial.as_dict() == {
        "id": "p1",
        "name": "policy p1",
        "description": "",
        "scope": "global",
        "enabled": True,
        "mode": "dry_run",
        "conditions": {"cvss_at_least": 9.0},
        "actions": [],
        "version": 3,
    }
