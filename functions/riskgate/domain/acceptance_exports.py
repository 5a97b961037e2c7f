"""Risk acceptances exported for scanners: a `.trivyignore.yaml` (what Trivy can express without
widening it) and an OpenVEX document (accepted vulnerabilities stated affected, the risk accepted).

Plain data and rules, no AWS, as `riskgate.domain.acceptances`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from riskgate.clock import iso
from riskgate.domain.acceptances import AcceptancePeriod, RiskAcceptance, ScopeKind
from riskgate.domain.findings import FindingKind

# --- export for scanners ----------------------------------------------------------------------------

_TRIVY_SECTIONS = {
    FindingKind.VULNERABILITY: "vulnerabilities",
    FindingKind.MISCONFIGURATION: "misconfigurations",
    FindingKind.SENSITIVE_DATA: "secrets",
}


def trivyignore(acceptances: Iterable[RiskAcceptance], now: datetime) -> str:
    """A `.trivyignore.yaml` that makes Trivy ignore what these acceptances accept, never longer.

    `expired_at` is the day the acceptance ends (Trivy stops ignoring from that day's start, so never
    after Riskgate would). What Trivy cannot express is left out — and listed in a comment — rather
    than widened: acceptances narrowed to a package (Trivy matches packages by purl only), `until_fixed`
    ones (Trivy would go on ignoring after the fix), and malware (no Trivy section).
    """
    sections: dict[str, list[str]] = {name: [] for name in _TRIVY_SECTIONS.values()}
    left_out: list[str] = []
    for acceptance in sorted(
        (a for a in acceptances if a.in_force(now)), key=lambda a: (a.finding.finding_id, a.id)
    ):
        section = _TRIVY_SECTIONS.get(acceptance.finding.kind)
        why = None
        if section is None:
            why = f"{acceptance.finding.kind.value} has no .trivyignore section"
        elif acceptance.finding.package is not None:
            why = "narrowed to a package (Trivy matches packages by purl only)"
        elif acceptance.period is AcceptancePeriod.UNTIL_FIXED:
            why = "until_fixed (Trivy cannot end an ignore when a fix appears)"
        if why is not None or section is None:
            left_out.append(f"#   {acceptance.id} {_yaml_string(acceptance.finding.finding_id)}: {why}")
            continue
        lines = [f"  - id: {_yaml_string(acceptance.finding.finding_id)}"]
        if acceptance.expires_at is not None:
            lines.append(f"    expired_at: {acceptance.expires_at.date().isoformat()}")
        statement = f"{acceptance.reason} (Riskgate {acceptance.id}, accepted by {acceptance.accepted_by})"
        lines.append(f"    statement: {_yaml_string(statement)}")
        sections[section].extend(lines)
    out = [
        "# .trivyignore.yaml exported by Riskgate: the risks accepted and in force at "
        f"{iso(now)}. Use with `trivy image --ignorefile .trivyignore.yaml`."
    ]
    if left_out:
        out.append("# Left out, as Trivy cannot express them without widening them:")
        out.extend(left_out)
    for name, lines in sections.items():
        out.append(f"{name}:" if lines else f"{name}: []")
        out.extend(lines)
    return "\n".join(out) + "\n"


def _yaml_string(text: str) -> str:
    # A JSON string is a valid YAML double-quoted scalar: quotes, backslashes and control characters
    # are escaped, so no reason can break the document. JSON leaves a few characters raw that YAML
    # forbids or folds (DEL, the C1 controls with NEL, lone surrogates, U+FFFE/F): YAML escapes for those.
    return "".join(
        f"\\u{ord(ch):04x}" if _yaml_unprintable(ch) else ch for ch in json.dumps(text, ensure_ascii=False)
    )


def _yaml_unprintable(ch: str) -> bool:
    code = ord(ch)
    return 0x7F <= code <= 0x9F or 0xD800 <= code <= 0xDFFF or code in (0xFFFE, 0xFFFF)


def openvex(
    acceptances: Iterable[RiskAcceptance], now: datetime, *, document_id: str, author: str
) -> dict[str, Any]:
    """An OpenVEX document stating, for each accepted vulnerability, that the product *is affected*
    and the risk is accepted (`action_statement`), until when and why.

    Honest semantics: acceptance is not "not affected", so this VEX does not make a scanner hide the
    vulnerability; it records the decision where VEX consumers look for one. Products are OCI purls:
    the image (by digest when known) or the repository; an acceptance covering `all` images names no
    product and is left out, as are non-vulnerability findings.
    """
    statements = []
    for acceptance in sorted(
        (a for a in acceptances if a.in_force(now)), key=lambda a: (a.finding.finding_id, a.id)
    ):
        if acceptance.finding.kind is not FindingKind.VULNERABILITY:
            continue
        product = _oci_purl(acceptance)
        if product is None:
            continue
        ends = acceptance.expires_at
        until = f"until {iso(ends)}" if ends else f"({acceptance.period.value})"
        statement: dict[str, Any] = {
            "vulnerability": {"name": acceptance.finding.finding_id},
            "products": [{"@id": product}],
            "status": "affected",
            "action_statement": (
                f"Risk accepted by {acceptance.accepted_by} {until}: {acceptance.reason} "
                f"(Riskgate {acceptance.id})"
            ),
            "timestamp": iso(acceptance.accepted_at),
        }
        if acceptance.finding.package:
            statement["products"][0]["subcomponents"] = [{"@id": acceptance.finding.package}]
        statements.append(statement)
    return {
        "@context": "https://openvex.dev/ns/v0.2.0",
        "@id": document_id,
        "author": author,
        "timestamp": iso(now),
        "version": 1,
        "statements": statements,
    }


def _oci_purl(acceptance: RiskAcceptance) -> str | None:
    scope = acceptance.scope
    extra = acceptance.extra
    registry = scope.registry or extra.get("registry")
    repository = scope.repository or extra.get("repository")
    if scope.kind is ScopeKind.ALL or not registry or not repository:
        return None
    name = repository.rsplit("/", 1)[-1]
    purl = f"pkg:oci/{name}"
    digest = extra.get("digest") if scope.kind is ScopeKind.IMAGE else None
    if digest:
        purl += "@" + str(digest).replace(":", "%3A")
    return purl + f"?repository_url={registry}/{repository}"
