"""What an evaluation of an image fires: the image triggers of response policies. Plain logic, no AWS.

From the findings the policies judged (accepted risks are out already) and the verdict:
`sensitive_data` (exposed secrets), `critical_vulnerabilities` (a critical vulnerability), `malware`
(malware found) and `non_compliant` (the image fails its assurance policies). Each carries the findings
that caused it, most severe first, and a *fingerprint* of them: the same findings give the same
fingerprint, so a notification is not repeated for an unchanged image, and a new finding changes it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from riskgate.domain.evaluation import Verdict, finding_summary
from riskgate.domain.findings import Finding, FindingKind, Severity

# A notification names the most severe causes; the rest are counted.
MAX_FINDINGS_PER_EVENT = 10


class ImageTrigger(StrEnum):
    SENSITIVE_DATA = "sensitive_data"
    CRITICAL_VULNERABILITIES = "critical_vulnerabilities"
    MALWARE = "malware"
    NON_COMPLIANT = "non_compliant"


@dataclass(frozen=True)
class Fired:
    trigger: ImageTrigger
    findings: list[Finding]
    fingerprint: str


def image_triggers(findings: Iterable[Finding], verdict: Verdict) -> list[Fired]:
    """The triggers an image's judged findings and verdict fire, in a stable order."""
    findings = list(findings)
    fired: list[Fired] = []
    causes = {
        ImageTrigger.SENSITIVE_DATA: [f for f in findings if f.kind is FindingKind.SENSITIVE_DATA],
        ImageTrigger.CRITICAL_VULNERABILITIES: [
            f for f in findings if f.kind is FindingKind.VULNERABILITY and f.severity is Severity.CRITICAL
        ],
        ImageTrigger.MALWARE: [f for f in findings if f.kind is FindingKind.MALWARE],
    }
    for trigger, matching in causes.items():
        if matching:
            fired.append(
                Fired(trigger, _most_severe_first(matching), _fingerprint(f.identity for f in matching))
            )
    if verdict.status == "non_compliant":
        failing = _verdict_causes(verdict, findings)
        reasons = sorted(f"{r.policy_id}:{r.condition}:{r.total}" for r in verdict.reasons)
        identities = [*(f.identity for f in failing), *((reason,) for reason in reasons)]
        fired.append(Fired(ImageTrigger.NON_COMPLIANT, failing, _fingerprint(identities)))
    return fired


def event_fields(
    fired: Fired, image: Mapping[str, Any], verdict: Verdict, counts: Mapping[str, Any] | None
) -> dict[str, Any]:
    """A trigger event's fields (docs/architecture.md, "Contracts between the parts"), without id and time."""
    return {
        "type": fired.trigger.value,
        "subject": {"type": "image", "id": image["image_id"]},
        "image": {
            "image_id": image["image_id"],
            "registry": image.get("registry"),
            "repository": image.get("repository"),
            "tags": sorted(image.get("tags") or ()),
            "digest": image.get("digest"),
        },
        "verdict": {"status": verdict.status, "block": verdict.block},
        "counts": dict(counts or {}),
        "findings": [finding_summary(f) for f in fired.findings[:MAX_FINDINGS_PER_EVENT]],
        "findings_total": len(fired.findings),
        "fingerprint": fired.fingerprint,
    }


def _verdict_causes(verdict: Verdict, findings: list[Finding]) -> list[Finding]:
    """The findings the failing reasons name (each reason lists its most severe ones)."""
    named = {
        (f["kind"], f["id"], f.get("package"), f.get("installed_version"), f.get("location"))
        for reason in verdict.reasons
        for f in reason.findings
    }
    causing = [
        f
        for f in findings
        if (f.kind.value, f.finding_id, f.package, f.installed_version, f.location) in named
    ]
    return _most_severe_first(causing)


def _most_severe_first(findings: list[Finding]) -> list[Finding]:
    return sorted(findings, key=lambda f: (f.severity.rank, f.finding_id, f.identity))


def _fingerprint(identities: Iterable[tuple[str, ...]]) -> str:
    text = "\n".join(sorted("\x1f".join(identity) for identity in identities))
    return hashlib.sha256(text.encode()).hexdigest()
