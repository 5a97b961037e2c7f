"""What a scan tells about an image, normalized across scanners. Plain data, no AWS."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from enum import StrEnum


class FindingKind(StrEnum):
    VULNERABILITY = "vulnerability"
    MALWARE = "malware"
    SENSITIVE_DATA = "sensitive_data"
    MISCONFIGURATION = "misconfiguration"


class Severity(StrEnum):
    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"
    NEGLIGIBLE = "negligible"
    UNKNOWN = "unknown"

    @property
    def rank(self) -> int:
        """0 for critical … 5 for unknown: sorts the most severe first."""
        return _SEVERITY_ORDER.index(self)

    @classmethod
    def parse(cls, raw: object) -> Severity:
        """A scanner's severity word, any case; `info`/`none` are negligible, anything else unknown."""
        if not isinstance(raw, str):
            return cls.UNKNOWN
        word = raw.strip().lower()
        if word in ("info", "informational", "none"):
            return cls.NEGLIGIBLE
        try:
            return cls(word)
        except ValueError:
            return cls.UNKNOWN


_SEVERITY_ORDER = list(Severity)


@dataclass(frozen=True, slots=True)
class Finding:
    """One thing wrong in an image.

    `finding_id` is the vulnerability id, secret rule id or check id. Two findings are the same when
    their `identity` is: for a vulnerability (id, package, installed version, location).
    """

    kind: FindingKind
    finding_id: str
    severity: Severity
    title: str | None = None
    package: str | None = None
    installed_version: str | None = None
    fixed_version: str | None = None
    location: str | None = None
    cvss_score: float | None = None
    # The scanner's own fix status word (Trivy Status, Grype fix.state), kept for display.
    fix_state: str | None = None
    # Extra discriminator for kinds whose identity needs more than the fields above (line, resource).
    detail: str | None = None

    @property
    def fixable(self) -> bool:
        return bool(self.fixed_version)

    @property
    def identity(self) -> tuple[str, ...]:
        return (
            self.kind.value,
            self.finding_id,
            self.package or "",
            self.installed_version or "",
            self.location or "",
            self.detail or "",
        )

    @property
    def key(self) -> str:
        """Short stable hash of the identity, used in storage keys."""
        digest = hashlib.sha256("\x1f".join(self.identity).encode("utf-8")).hexdigest()
        return digest[:24]


@dataclass
class Counts:
    """Counts in the API's shape."""

    vulnerabilities: dict[str, int] = field(default_factory=lambda: {s.value: 0 for s in Severity})
    sensitive_data: int = 0
    misconfigurations: int = 0
    malware: int = 0

    @classmethod
    def of(cls, findings: list[Finding]) -> Counts:
        counts = cls()
        for finding in findings:
            if finding.kind is FindingKind.VULNERABILITY:
                counts.vulnerabilities[finding.severity.value] += 1
            elif finding.kind is FindingKind.SENSITIVE_DATA:
                counts.sensitive_data += 1
            elif finding.kind is FindingKind.MISCONFIGURATION:
                counts.misconfigurations += 1
            else:
                counts.malware += 1
        return counts

    def as_dict(self) -> dict[str, object]:
        return {
            "vulnerabilities": dict(self.vulnerabilities),
            "sensitive_data": self.sensitive_data,
            "misconfigurations": self.misconfigurations,
            "malware": self.malware,
        }


def dedupe(findings: list[Finding]) -> list[Finding]:
    """Drop repeated findings (same identity), keeping the first; order is kept."""
    seen: set[tuple[str, ...]] = set()
    unique: list[Finding] = []
    for finding in findings:
        if finding.identity not in seen:
            seen.add(finding.identity)
            unique.append(finding)
    return unique
