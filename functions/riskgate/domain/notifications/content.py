"""What a notification says, whatever the channel: a trigger event as `Content` (title, lead, facts,
findings, link), and the words for its parts (`finding_text`, `counts_text`, `image_reference`).

The event is the stored trigger event (docs/architecture.md, "Contracts between the parts"): for an
image `{"id", "type", "occurred_at", "subject", "image", "verdict", "counts", "findings",
"findings_total", "fingerprint"}`; for an acceptance `{"id", "type", "occurred_at", "acceptance":
<snapshot>, "days"?, "ended_reason"?}`. Everything in it came from a scanner report or a person, so every
value is escaped for the format it lands in (HTML, Telegram HTML, Slack mrkdwn, JSON) and made one line
where it must be one (subjects). A missing field is shown as missing, never a crash: the notifier must be
able to say *something* about any stored event.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from urllib.parse import quote

from riskgate.clock import parse_iso
from riskgate.domain.findings import Severity
from riskgate.domain.notifications.text import line, mapping, sequence

# Findings listed in a message at most, the most severe first; the rest are "and N more".
MAX_FINDINGS_SHOWN = 10
MAX_OTHER_TAGS_SHOWN = 5
# A reason, a sentence written by a person, is cut later than one value (`text.MAX_FIELD_LENGTH`).
MAX_REASON_LENGTH = 1000
# What the integration test (`POST /v1/integrations/{name}/test`) may send as the event's type.
TEST_TRIGGER = "test"

IMAGE_TRIGGERS = ("sensitive_data", "non_compliant", "critical_vulnerabilities", "malware")
ACCEPTANCE_TRIGGERS = ("risk_acceptance_expiration", "risk_acceptance_expiring")

# Per trigger: the title (with `{what}`: the image, or the acceptance's finding and place) and the lead.
_WORDS: dict[str, tuple[str, str]] = {
    "sensitive_data": (
        "Sensitive data exposed in {what}",
        "The latest scan found sensitive data (secrets, keys, tokens) in this image.",
    ),
    "non_compliant": (
        "Non-compliant image {what}",
        "This image does not comply with the assurance policies that apply to it.",
    ),
    "critical_vulnerabilities": (
        "Critical vulnerabilities in {what}",
        "The latest scan found critical vulnerabilities in this image.",
    ),
    "malware": ("Malware found in {what}", "The latest scan found malware in this image."),
    "risk_acceptance_expiration": (
        "Risk acceptance ended: {what}",
        "A risk acceptance has ended: its finding counts against the images it covered again.",
    ),
    "risk_acceptance_expiring": (
        "Risk acceptance ends in {days}: {what}",
        "A risk acceptance ends soon: extend it, or fix the finding, before then.",
    ),
    TEST_TRIGGER: ("Test message for {what}", "This is a test message from Riskgate; nothing happened."),
}
_KIND_WORDS = {
    "vulnerability": "vulnerability",
    "sensitive_data": "sensitive data",
    "misconfiguration": "misconfiguration",
    "malware": "malware",
}
_ENDED_WORDS = {"period ended": "its period ended", "fix available": "a fixed version is available"}


@dataclass(frozen=True)
class _Finding:
    severity: str  # upper case, for show
    text: str


@dataclass(frozen=True)
class Content:
    """What every channel says, as raw (unescaped) one-line text; each renderer escapes for its format."""

    trigger: str
    title: str
    lead: str
    facts: list[tuple[str, str]]
    findings: list[_Finding]
    more: int  # findings not listed
    link: str
    policy_name: str


def content_of(event: Mapping[str, Any], policy_name: str, api_base_url: str) -> Content:
    trigger = line(event.get("type")) or "event"
    acceptance = event.get("acceptance")
    if isinstance(acceptance, Mapping):
        what, facts, link = _acceptance_part(event, acceptance, api_base_url)
        findings: list[_Finding] = []
        more = 0
    else:
        what, facts, link = _image_part(event, api_base_url)
        findings, more = _findings_part(event)
    title_words, lead = _WORDS.get(trigger, ("", ""))
    days = _days_text(event.get("days"))
    # Not str.format, and `{what}` last: the values come from the event, and may hold braces.
    title = (
        title_words.replace("{days}", days or "a few days").replace("{what}", what)
        if title_words
        else f"Riskgate event {trigger}: {what}"
    )
    if trigger == "risk_acceptance_expiration" and event.get("ended_reason"):
        ended = line(event.get("ended_reason"))
        lead = f"{lead} It ended because {_ENDED_WORDS.get(ended, ended)}."
    if trigger == "risk_acceptance_expiring" and days:
        lead = f"A risk acceptance ends in {days}: extend it, or fix the finding, before then."
    facts.append(("Response policy", line(policy_name)))
    when = _time_text(event.get("occurred_at"))
    if when:
        facts.append(("Occurred", when))
    return Content(trigger, title, lead, facts, findings, more, link, line(policy_name))


def _image_part(event: Mapping[str, Any], api_base_url: str) -> tuple[str, list[tuple[str, str]], str]:
    image = mapping(event.get("image"))
    reference = image_reference(image) or "an image"
    facts = [("Image", reference)]
    others = _tags(image)[1:]
    if others:
        listed = ", ".join(others[:MAX_OTHER_TAGS_SHOWN])
        more = len(others) - MAX_OTHER_TAGS_SHOWN
        facts.append(("Other tags", f"{listed} and {more} more" if more > 0 else listed))
    facts.append(("Digest", line(image.get("digest")) or "unknown"))
    verdict = event.get("verdict")
    if isinstance(verdict, Mapping):
        facts.append(("Verdict", _verdict_text(verdict)))
    counts = counts_text(event.get("counts"))
    if counts:
        facts.append(("Counts", counts))
    subject = mapping(event.get("subject"))
    image_id = line(subject.get("id")) or line(image.get("image_id"))
    return reference, facts, _link(api_base_url, "images", image_id)


def _acceptance_part(
    event: Mapping[str, Any], acceptance: Mapping[str, Any], api_base_url: str
) -> tuple[str, list[tuple[str, str]], str]:
    finding = mapping(acceptance.get("finding"))
    accepted = _accepted_finding_text(finding)
    where = _scope_text(acceptance)
    facts = [
        ("Finding", accepted),
        ("Accepted by", line(acceptance.get("accepted_by")) or "unknown"),
        ("Scope", where),
        ("Reason", line(acceptance.get("reason"), MAX_REASON_LENGTH) or "none given"),
        ("Accepted at", _time_text(acceptance.get("accepted_at")) or "unknown"),
        ("Until", _until_text(acceptance)),
    ]
    if event.get("ended_reason"):
        ended = line(event.get("ended_reason"))
        facts.append(("Ended because", _ENDED_WORDS.get(ended, ended)))
    days = _days_text(event.get("days"))
    if days:
        facts.append(("Time left", days))
    what = f"{line(finding.get('id')) or 'a finding'}"
    if finding.get("package"):
        what += f" ({line(finding.get('package'))})"
    place = acceptance_place(acceptance)
    if place:
        what += f" on {place}"
    return what, facts, _link(api_base_url, "risk-acceptances", line(acceptance.get("id")))


def _findings_part(event: Mapping[str, Any]) -> tuple[list[_Finding], int]:
    """The causing findings, most severe first, at most MAX_FINDINGS_SHOWN; and how many are left out."""
    raw = [item for item in sequence(event.get("findings")) if isinstance(item, Mapping)]
    ordered = sort_findings(raw)
    shown = [_Finding(line(f.get("severity")).upper() or "UNKNOWN", finding_text(f)) for f in ordered]
    shown = shown[:MAX_FINDINGS_SHOWN]
    total = _int(event.get("findings_total"))
    return shown, max(total if total is not None else 0, len(raw)) - len(shown)


def sort_findings(findings: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Most severe first; among equals, as given (the evaluator's order)."""
    return sorted(findings, key=lambda f: Severity.parse(f.get("severity")).rank)


def finding_text(finding: Mapping[str, Any]) -> str:
    """One finding in words: what, in which package (version), where, and its fix."""
    kind = line(finding.get("kind"))
    words = [line(finding.get("id")) or "unnamed"]
    if kind and kind != "vulnerability":
        words.insert(0, _KIND_WORDS.get(kind, kind))
    package = line(finding.get("package"))
    if package:
        version = line(finding.get("installed_version"))
        words.append(f"in {package} {version}".rstrip())
    location = line(finding.get("location"))
    if location:
        words.append(f"at {location}")
    fixed = line(finding.get("fixed_version"))
    if fixed:
        words.append(f"(fixed in {fixed})")
    elif kind == "vulnerability":
        words.append("(no fix yet)")
    return " ".join(words)


def image_reference(image: Mapping[str, Any]) -> str:
    """`registry/repository:tag` with the first tag in sort order; `@digest` when it has no tag."""
    name = "/".join(part for part in (line(image.get("registry")), line(image.get("repository"))) if part)
    if not name:
        return ""
    tags = _tags(image)
    if tags:
        return f"{name}:{tags[0]}"
    digest = line(image.get("digest"))
    return f"{name}@{digest}" if digest else name


def counts_text(counts: object) -> str:
    """`vulnerabilities: 3 critical, 10 high; sensitive data: 2; accepted: 1` — zeros left out."""
    if not isinstance(counts, Mapping):
        return ""
    parts: list[str] = []
    vulnerabilities = counts.get("vulnerabilities")
    if isinstance(vulnerabilities, Mapping):
        by_severity = [
            f"{number} {severity.value}"
            for severity in Severity
            if (number := _int(vulnerabilities.get(severity.value)) or 0) > 0
        ]
        parts.append("vulnerabilities: " + (", ".join(by_severity) or "none"))
    for key, words in (
        ("sensitive_data", "sensitive data"),
        ("misconfigurations", "misconfigurations"),
        ("malware", "malware"),
        ("accepted", "accepted"),
    ):
        number = _int(counts.get(key)) or 0
        if number > 0:
            parts.append(f"{words}: {number}")
    return "; ".join(parts)


def _verdict_text(verdict: Mapping[str, Any]) -> str:
    status = line(verdict.get("status")).replace("_", "-") or "unknown"
    if verdict.get("block"):
        return f"{status}, blocks CI"
    return status if status == "compliant" else f"{status}, does not block CI"


def _accepted_finding_text(finding: Mapping[str, Any]) -> str:
    kind = line(finding.get("kind"))
    words = [_KIND_WORDS.get(kind, kind) or "finding", line(finding.get("id")) or "unnamed"]
    if finding.get("package"):
        words.append(f"in package {line(finding.get('package'))}")
        if finding.get("version"):
            words.append(line(finding.get("version")))
    return " ".join(words)


def _scope_text(acceptance: Mapping[str, Any]) -> str:
    """Where the acceptance applies, as `AcceptanceScope.as_dict` stores it."""
    scope = mapping(acceptance.get("scope"))
    if scope.get("image"):
        reference = image_reference(acceptance)
        return f"the image {reference} ({line(scope.get('image'))})" if reference else "one image"
    if scope.get("repository"):
        return f"every tag of {line(scope.get('repository'))}"
    within = [line(item) for item in sequence(scope.get("within"))]
    if not within or "global" in within:
        return "every image"
    return "every image within the scopes " + ", ".join(within)


def acceptance_place(acceptance: Mapping[str, Any]) -> str:
    """The image or repository named in a title; none for an acceptance of all images."""
    scope = mapping(acceptance.get("scope"))
    if scope.get("image"):
        return image_reference(acceptance)
    return line(scope.get("repository"))


def _until_text(acceptance: Mapping[str, Any]) -> str:
    ends = _time_text(acceptance.get("expires_at"))
    if ends:
        return ends
    if acceptance.get("period") == "until_fixed":
        return "until a fixed version is available"
    return "no end date"


def _days_text(days: object) -> str:
    number = _int(days)
    if number is None:
        return ""
    return "1 day" if number == 1 else f"{number} days"


def _time_text(value: object) -> str:
    """`2024-05-01 12:00 UTC`; an unreadable time as it is."""
    text = line(value)
    if not text:
        return ""
    try:
        return parse_iso(text).strftime("%Y-%m-%d %H:%M UTC")
    except ValueError:
        return text


def _link(api_base_url: str, collection: str, object_id: str) -> str:
    if not object_id:
        return ""
    return f"{api_base_url.rstrip('/')}/v1/{collection}/{quote(object_id, safe='')}"


def _tags(image: Mapping[str, Any]) -> list[str]:
    return sorted(tag for tag in (line(item) for item in sequence(image.get("tags"))) if tag)


def _int(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float | Decimal):
        return int(value)
    return None
