"""The CI side's reading of the server's answer: whether its verdict fails the gate (`--fail-on`), the
build's exit code, and the verdict rendered for a CI log. Standard library only, like `riskgate.client`,
which submits the report and returns the answer this reads.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

EXIT_PASSED = 0
EXIT_GATE_FAILED = 1
EXIT_ERROR = 2

FailOn = Literal["block", "non-compliant", "never"]
FAIL_ON_CHOICES: tuple[FailOn, ...] = ("block", "non-compliant", "never")

TOP_FINDINGS_PER_REASON = 5
SEVERITY_ORDER = ("critical", "high", "medium", "low", "negligible", "unknown")


def gate_failed(verdict: Mapping[str, Any], fail_on: FailOn) -> bool:
    if fail_on == "block":
        return bool(verdict.get("block"))
    if fail_on == "non-compliant":
        return verdict.get("status") == "non_compliant"
    return False


def exit_code_for(answer: Mapping[str, Any], fail_on: FailOn) -> int:
    return EXIT_GATE_FAILED if gate_failed(answer.get("verdict") or {}, fail_on) else EXIT_PASSED


def _severity_rank(finding: Mapping[str, Any]) -> int:
    severity = str(finding.get("severity") or "unknown").lower()
    return SEVERITY_ORDER.index(severity) if severity in SEVERITY_ORDER else len(SEVERITY_ORDER)


def top_findings(findings: list[Mapping[str, Any]], limit: int = TOP_FINDINGS_PER_REASON) -> list[str]:
    """One line per finding, most severe first: `critical  CVE-…  package installed -> fixed`."""
    lines = []
    for finding in sorted(findings, key=_severity_rank)[:limit]:
        package = finding.get("package")
        where = ""
        if package:
            installed = finding.get("installed_version") or "?"
            fixed = finding.get("fixed_version") or "no fix"
            where = f"  {package} {installed} -> {fixed}"
        elif finding.get("location"):
            where = f"  {finding['location']}"
        severity = str(finding.get("severity") or "unknown")
        lines.append(f"{severity:<10} {finding.get('id')}{where}")
    return lines


def render_subject(scan: Mapping[str, Any], fail_on: FailOn) -> str:
    """One line per image of a report of several: whether it fails the gate, its status, its name."""
    verdict = scan.get("verdict") or {}
    image = scan.get("image") or {}
    name = image.get("reference") if isinstance(image, dict) else None
    mark = "FAIL" if gate_failed(verdict, fail_on) else "ok"
    return f"  {mark:<5}{verdict.get('status', 'unknown'):<14} {name or scan.get('image_id', 'unknown')}"


def render_reason(reason: Mapping[str, Any]) -> list[str]:
    findings = list(reason.get("findings") or [])
    total = int(reason.get("findings_total") or len(findings))
    noun = "finding" if total == 1 else "findings"
    policy = reason.get("policy_name") or reason.get("policy_id")
    # Only dry-run entries carry `would_block`: what enforcing the policy would do to the build.
    consequence = ", would block" if reason.get("would_block") else ""
    # In the combined verdict of a report of several images, each reason names its image.
    subject = f"[{reason['image']}] " if reason.get("image") else ""
    lines = [f"  - {subject}{policy}: {reason.get('condition')} ({total} {noun}{consequence})"]
    shown = top_findings(findings)
    lines += [f"      {line}" for line in shown]
    if total > len(shown):
        lines.append(f"      ... and {total - len(shown)} more")
    return lines


def render_verdict(answer: Mapping[str, Any], fail_on: FailOn = "block") -> str:
    """The verdict as a CI log should show it. ASCII only: some CI agents' consoles are not UTF-8."""
    verdict: Mapping[str, Any] = answer.get("verdict") or {}
    image = answer.get("image") or {}
    reference = image.get("reference") if isinstance(image, dict) else None
    status = verdict.get("status", "unknown")
    scans = [scan for scan in answer.get("scans") or [] if isinstance(scan, dict)]
    if len(scans) > 1:
        lines = [f"Report:  {len(scans)} images and Kubernetes resources ({answer.get('format', 'unknown')})"]
        lines += [render_subject(scan, fail_on) for scan in scans]
    else:
        lines = [f"Image:   {reference or answer.get('image_id', 'unknown')}"]
    lines += [
        f"Status:  {status}",
        f"Block:   {'yes' if verdict.get('block') else 'no'}",
    ]
    if answer.get("scan_id"):
        scanner = " ".join(
            str(part) for part in (answer.get("scanner"), answer.get("scanner_version")) if part
        )
        lines.append(f"Scan:    {answer['scan_id']} ({scanner or answer.get('format', 'unknown format')})")
    reasons = verdict.get("reasons") or []
    if reasons:
        lines.append("Failing policies:")
        for reason in reasons:
            lines += render_reason(reason)
    # Policies in dry-run mode report what they would fail without enforcing it; servers before
    # assurance policies send no such key, and it may sit in the verdict or beside it.
    dry_run = verdict.get("dry_run") or answer.get("dry_run") or []
    if dry_run:
        lines.append("Would fail (dry-run policies, not enforced):")
        for reason in dry_run:
            lines += render_reason(reason)
    outcome = "FAILED" if gate_failed(verdict, fail_on) else "passed"
    lines.append(f"Gate {outcome} (--fail-on {fail_on})")
    return "\n".join(lines)
