"""What a notification says, per channel: a trigger event rendered as e-mail, Telegram, webhook or SNS.

Pure: no AWS, no network, no clock. The event is the stored trigger event (docs/architecture.md,
"Contracts between the parts"): for an image `{"id", "type", "occurred_at", "subject", "image",
"verdict", "counts", "findings", "findings_total", "fingerprint"}`; for an acceptance `{"id", "type",
"occurred_at", "acceptance": <snapshot>, "days"?, "ended_reason"?}`. Everything in it came from a scanner
report or a person, so every value is escaped for the format it lands in (HTML, Telegram HTML, Slack
mrkdwn, JSON) and made one line where it must be one (subjects). A missing field is shown as missing,
never a crash: the notifier must be able to say *something* about any stored event.

`Message.text` is always the body as the channel sends it (the e-mail's text part, the Telegram message,
the SNS message, the webhook's request body); `payload` is the same as structured data.
"""

from __future__ import annotations

import html
import json
import re
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from urllib.parse import quote

from riskgate.clock import parse_iso
from riskgate.domain.findings import Severity
from riskgate.domain.integrations import PLACEHOLDER, TEMPLATE_PLACEHOLDERS, IntegrationType, WebhookPreset

# Findings listed in a message at most, the most severe first; the rest are "and N more".
MAX_FINDINGS_SHOWN = 10
MAX_OTHER_TAGS_SHOWN = 5
# Telegram refuses longer messages (counted after entity parsing; we count the raw HTML, which is longer).
TELEGRAM_MAX_LENGTH = 4096
# SNS: "must be less than 100 characters", ASCII, no line breaks.
SNS_SUBJECT_MAX_LENGTH = 99
EMAIL_SUBJECT_MAX_LENGTH = 250
# Slack refuses a section text over 3,000 characters and a header over 150.
SLACK_SECTION_MAX_LENGTH = 3000
SLACK_HEADER_MAX_LENGTH = 150
# One escaped value at most, so that a section cut at a line end always keeps its first line.
SLACK_LINE_MAX_LENGTH = 1500
# One value (a package, a path, an id) is cut here; a reason, a sentence written by a person, later.
MAX_FIELD_LENGTH = 200
MAX_REASON_LENGTH = 1000
ELLIPSIS = "…"
SUBJECT_PREFIX = "[Riskgate] "
JSON_CONTENT_TYPE = "application/json"
TEXT_CONTENT_TYPE = "text/plain; charset=utf-8"
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
class Message:
    """One notification, rendered for one integration.

    `subject`: the e-mail or SNS subject (for other channels, the title). `text`: the body as sent.
    `html`: the e-mail's HTML part (None for other channels). `payload`: the body as data — the Telegram
    `sendMessage` fields but `chat_id`; the webhook's JSON object ({} for a template that is not a JSON
    object); for e-mail and SNS the generic payload. `content_type` of `text` when it is a request body;
    `trigger` the event's type (the webhook's `X-Riskgate-Event`).
    """

    subject: str
    text: str
    html: str | None
    payload: dict[str, Any]
    content_type: str = JSON_CONTENT_TYPE
    trigger: str = ""


@dataclass(frozen=True)
class _Finding:
    severity: str  # upper case, for show
    text: str


@dataclass(frozen=True)
class _Content:
    """What every channel says, as raw (unescaped) one-line text; each renderer escapes for its format."""

    trigger: str
    title: str
    lead: str
    facts: list[tuple[str, str]]
    findings: list[_Finding]
    more: int  # findings not listed
    link: str
    policy_name: str


def render(
    event: Mapping[str, Any],
    *,
    policy_name: str,
    integration_type: str,
    preset: str | None = None,
    template: str | None = None,
    api_base_url: str = "",
) -> Message:
    """The message an integration of `integration_type` sends for `event`.

    `preset` and `template` are the webhook's (a template wins over the preset: its body is sent as is,
    see `fill_template`). `api_base_url` makes the link to the API resource absolute; empty: relative.
    """
    content = _content(event, policy_name, api_base_url)
    kind = str(integration_type)
    if kind == IntegrationType.EMAIL:
        return _email(content, event)
    if kind == IntegrationType.TELEGRAM:
        return _telegram(content)
    if kind == IntegrationType.SNS:
        return _sns(content, event)
    if kind == IntegrationType.WEBHOOK:
        if template:
            return _templated(content, event, template)
        return _webhook(content, event, preset or WebhookPreset.GENERIC.value)
    raise ValueError(f"{integration_type!r} is not an integration type")


# --- what is said ---------------------------------------------------------------------------------------


def _content(event: Mapping[str, Any], policy_name: str, api_base_url: str) -> _Content:
    trigger = _line(event.get("type")) or "event"
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
        ended = _line(event.get("ended_reason"))
        lead = f"{lead} It ended because {_ENDED_WORDS.get(ended, ended)}."
    if trigger == "risk_acceptance_expiring" and days:
        lead = f"A risk acceptance ends in {days}: extend it, or fix the finding, before then."
    facts.append(("Response policy", _line(policy_name)))
    when = _time_text(event.get("occurred_at"))
    if when:
        facts.append(("Occurred", when))
    return _Content(trigger, title, lead, facts, findings, more, link, _line(policy_name))


def _image_part(event: Mapping[str, Any], api_base_url: str) -> tuple[str, list[tuple[str, str]], str]:
    image = _mapping(event.get("image"))
    reference = image_reference(image) or "an image"
    facts = [("Image", reference)]
    others = _tags(image)[1:]
    if others:
        listed = ", ".join(others[:MAX_OTHER_TAGS_SHOWN])
        more = len(others) - MAX_OTHER_TAGS_SHOWN
        facts.append(("Other tags", f"{listed} and {more} more" if more > 0 else listed))
    facts.append(("Digest", _line(image.get("digest")) or "unknown"))
    verdict = event.get("verdict")
    if isinstance(verdict, Mapping):
        facts.append(("Verdict", _verdict_text(verdict)))
    counts = counts_text(event.get("counts"))
    if counts:
        facts.append(("Counts", counts))
    subject = _mapping(event.get("subject"))
    image_id = _line(subject.get("id")) or _line(image.get("image_id"))
    return reference, facts, _link(api_base_url, "images", image_id)


def _acceptance_part(
    event: Mapping[str, Any], acceptance: Mapping[str, Any], api_base_url: str
) -> tuple[str, list[tuple[str, str]], str]:
    finding = _mapping(acceptance.get("finding"))
    accepted = _accepted_finding_text(finding)
    where = _scope_text(acceptance)
    facts = [
        ("Finding", accepted),
        ("Accepted by", _line(acceptance.get("accepted_by")) or "unknown"),
        ("Scope", where),
        ("Reason", _line(acceptance.get("reason"), MAX_REASON_LENGTH) or "none given"),
        ("Accepted at", _time_text(acceptance.get("accepted_at")) or "unknown"),
        ("Until", _until_text(acceptance)),
    ]
    if event.get("ended_reason"):
        ended = _line(event.get("ended_reason"))
        facts.append(("Ended because", _ENDED_WORDS.get(ended, ended)))
    days = _days_text(event.get("days"))
    if days:
        facts.append(("Time left", days))
    what = f"{_line(finding.get('id')) or 'a finding'}"
    if finding.get("package"):
        what += f" ({_line(finding.get('package'))})"
    place = _acceptance_place(acceptance)
    if place:
        what += f" on {place}"
    return what, facts, _link(api_base_url, "risk-acceptances", _line(acceptance.get("id")))


def _findings_part(event: Mapping[str, Any]) -> tuple[list[_Finding], int]:
    """The causing findings, most severe first, at most MAX_FINDINGS_SHOWN; and how many are left out."""
    raw = [item for item in _sequence(event.get("findings")) if isinstance(item, Mapping)]
    ordered = sort_findings(raw)
    shown = [_Finding(_line(f.get("severity")).upper() or "UNKNOWN", finding_text(f)) for f in ordered]
    shown = shown[:MAX_FINDINGS_SHOWN]
    total = _int(event.get("findings_total"))
    return shown, max(total if total is not None else 0, len(raw)) - len(shown)


def sort_findings(findings: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Most severe first; among equals, as given (the evaluator's order)."""
    return sorted(findings, key=lambda f: Severity.parse(f.get("severity")).rank)


def finding_text(finding: Mapping[str, Any]) -> str:
    """One finding in words: what, in which package (version), where, and its fix."""
    kind = _line(finding.get("kind"))
    words = [_line(finding.get("id")) or "unnamed"]
    if kind and kind != "vulnerability":
        words.insert(0, _KIND_WORDS.get(kind, kind))
    package = _line(finding.get("package"))
    if package:
        version = _line(finding.get("installed_version"))
        words.append(f"in {package} {version}".rstrip())
    location = _line(finding.get("location"))
    if location:
        words.append(f"at {location}")
    fixed = _line(finding.get("fixed_version"))
    if fixed:
        words.append(f"(fixed in {fixed})")
    elif kind == "vulnerability":
        words.append("(no fix yet)")
    return " ".join(words)


def image_reference(image: Mapping[str, Any]) -> str:
    """`registry/repository:tag` with the first tag in sort order; `@digest` when it has no tag."""
    name = "/".join(part for part in (_line(image.get("registry")), _line(image.get("repository"))) if part)
    if not name:
        return ""
    tags = _tags(image)
    if tags:
        return f"{name}:{tags[0]}"
    digest = _line(image.get("digest"))
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
    status = _line(verdict.get("status")).replace("_", "-") or "unknown"
    if verdict.get("block"):
        return f"{status}, blocks CI"
    return status if status == "compliant" else f"{status}, does not block CI"


def _accepted_finding_text(finding: Mapping[str, Any]) -> str:
    kind = _line(finding.get("kind"))
    words = [_KIND_WORDS.get(kind, kind) or "finding", _line(finding.get("id")) or "unnamed"]
    if finding.get("package"):
        words.append(f"in package {_line(finding.get('package'))}")
        if finding.get("version"):
            words.append(_line(finding.get("version")))
    return " ".join(words)


def _scope_text(acceptance: Mapping[str, Any]) -> str:
    """Where the acceptance applies, as `AcceptanceScope.as_dict` stores it."""
    scope = _mapping(acceptance.get("scope"))
    if scope.get("image"):
        reference = image_reference(acceptance)
        return f"the image {reference} ({_line(scope.get('image'))})" if reference else "one image"
    if scope.get("repository"):
        return f"every tag of {_line(scope.get('repository'))}"
    within = [_line(item) for item in _sequence(scope.get("within"))]
    if not within or "global" in within:
        return "every image"
    return "every image within the scopes " + ", ".join(within)


def _acceptance_place(acceptance: Mapping[str, Any]) -> str:
    """The image or repository named in a title; none for an acceptance of all images."""
    scope = _mapping(acceptance.get("scope"))
    if scope.get("image"):
        return image_reference(acceptance)
    return _line(scope.get("repository"))


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
    text = _line(value)
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


def _absolute(link: str) -> bool:
    return link.startswith(("https://", "http://"))


# --- e-mail ---------------------------------------------------------------------------------------------


def _email(content: _Content, event: Mapping[str, Any]) -> Message:
    subject = _clip(SUBJECT_PREFIX + content.title, EMAIL_SUBJECT_MAX_LENGTH)
    return Message(
        subject=subject,
        text=_plain_text(content, len(content.findings)),
        html=_email_html(content),
        payload=generic_payload(content, event),
        content_type=TEXT_CONTENT_TYPE,
        trigger=content.trigger,
    )


def _plain_text(content: _Content, shown: int) -> str:
    lines = [content.title, ""]
    if content.lead:
        lines += [content.lead, ""]
    lines += [f"{label}: {value}" for label, value in content.facts]
    if content.findings:
        lines += ["", "Findings, most severe first:"]
        lines += [f"- {f.severity} {f.text}" for f in content.findings[:shown]]
    more = content.more + len(content.findings) - shown
    if more > 0:
        lines.append(f"and {more} more")
    if content.link:
        lines += ["", f"Details: {content.link}"]
    lines += ["", f"Sent by Riskgate for the response policy {content.policy_name}."]
    return "\n".join(lines)


def _email_html(content: _Content) -> str:
    e = _html
    label_cell = '<th align="left" valign="top" style="padding-right:12px">'
    rows = "".join(
        f"<tr>{label_cell}{e(label)}</th><td>{e(value)}</td></tr>" for label, value in content.facts
    )
    parts = [
        '<!DOCTYPE html><html><head><meta charset="utf-8"></head>',
        '<body style="font-family:Arial,Helvetica,sans-serif">',
        f"<h2>{e(content.title)}</h2>",
        f"<p>{e(content.lead)}</p>" if content.lead else "",
        f"<table>{rows}</table>",
    ]
    if content.findings:
        items = "".join(f"<li><strong>{e(f.severity)}</strong> {e(f.text)}</li>" for f in content.findings)
        parts += ["<h3>Findings, most severe first</h3>", f"<ol>{items}</ol>"]
    if content.more > 0:
        parts.append(f"<p>and {content.more} more</p>")
    if content.link:
        target = e(content.link)
        shown = f'<a href="{target}">{target}</a>' if _absolute(content.link) else target
        parts.append(f"<p>Details: {shown}</p>")
    parts.append(
        f'<p style="color:#666666">Sent by Riskgate for the response policy {e(content.policy_name)}.</p>'
    )
    parts.append("</body></html>")
    return "".join(parts)


# --- Telegram -------------------------------------------------------------------------------------------


def _telegram(content: _Content) -> Message:
    """HTML parse mode (bold labels, a link); findings are dropped from the end until the message fits,
    then, should one value alone be too long, plain text cut at the limit."""
    for shown in range(len(content.findings), -1, -1):
        text = _telegram_html(content, shown)
        if telegram_length(text) <= TELEGRAM_MAX_LENGTH:
            return _telegram_message(content, text, "HTML")
    for shown in range(len(content.findings), -1, -1):
        text = _plain_text(content, shown)
        if telegram_length(text) <= TELEGRAM_MAX_LENGTH:
            return _telegram_message(content, text, None)
    text = _fit(_plain_text(content, 0), TELEGRAM_MAX_LENGTH, str, telegram_length)
    return _telegram_message(content, text, None)


def _telegram_message(content: _Content, text: str, parse_mode: str | None) -> Message:
    payload: dict[str, Any] = {"text": text, "disable_web_page_preview": True}
    if parse_mode:
        payload["parse_mode"] = parse_mode
    return Message(
        subject=content.title,
        text=text,
        html=None,
        payload=payload,
        content_type=JSON_CONTENT_TYPE,
        trigger=content.trigger,
    )


def _telegram_html(content: _Content, shown: int) -> str:
    e = _telegram_escape
    lines = [f"<b>{e(content.title)}</b>"]
    if content.lead:
        lines.append(e(content.lead))
    lines.append("")
    lines += [f"<b>{e(label)}:</b> {e(value)}" for label, value in content.facts]
    if content.findings and shown:
        lines += ["", "<b>Findings, most severe first:</b>"]
        lines += [f"• <b>{e(f.severity)}</b> {e(f.text)}" for f in content.findings[:shown]]
    more = content.more + len(content.findings) - shown
    if more > 0:
        lines.append(f"and {more} more")
    if content.link:
        if _absolute(content.link):
            lines += ["", f'<a href="{html.escape(content.link, quote=True)}">Details in Riskgate</a>']
        else:
            lines += ["", f"Details: {e(content.link)}"]
    return "\n".join(lines)


def _telegram_escape(text: str) -> str:
    """Telegram's HTML mode needs exactly `<`, `>` and `&` escaped in text."""
    return html.escape(text, quote=False)


def telegram_length(text: str) -> int:
    """Telegram counts UTF-16 code units: a character outside the BMP (an emoji) counts twice."""
    return len(text.encode("utf-16-le")) // 2


# --- SNS ------------------------------------------------------------------------------------------------


def _sns(content: _Content, event: Mapping[str, Any]) -> Message:
    payload = generic_payload(content, event)
    return Message(
        subject=sns_subject(SUBJECT_PREFIX + content.title),
        text=_json(payload),
        html=None,
        payload=payload,
        content_type=JSON_CONTENT_TYPE,
        trigger=content.trigger,
    )


def sns_subject(text: str) -> str:
    """SNS wants an ASCII subject under 100 characters without control characters: accents are
    dropped to their letters, anything else non-ASCII becomes `?`, too long ends in `...`."""
    ascii_text = "".join(
        ch if ch.isascii() else (_ascii_letter(ch) or "?") for ch in _line(text, len(text) + 1)
    )
    ascii_text = ascii_text.replace(ELLIPSIS, "...")
    if len(ascii_text) <= SNS_SUBJECT_MAX_LENGTH:
        return ascii_text
    return ascii_text[: SNS_SUBJECT_MAX_LENGTH - 3].rstrip() + "..."


def _ascii_letter(ch: str) -> str:
    if ch == ELLIPSIS:
        return "..."
    return unicodedata.normalize("NFKD", ch).encode("ascii", "ignore").decode("ascii")


# --- webhooks -------------------------------------------------------------------------------------------


def generic_payload(content: _Content, event: Mapping[str, Any]) -> dict[str, Any]:
    """The `generic` webhook body and the SNS message: the event's facts as data."""
    payload: dict[str, Any] = {
        "type": content.trigger,
        "event_id": event.get("id"),
        "occurred_at": event.get("occurred_at"),
        "summary": content.title,
        "policy": {"name": content.policy_name},
        "link": content.link or None,
    }
    acceptance = event.get("acceptance")
    if isinstance(acceptance, Mapping):
        payload["acceptance"] = acceptance
        for key in ("days", "ended_reason"):
            if event.get(key) is not None:
                payload[key] = event.get(key)
    else:
        image = _mapping(event.get("image"))
        payload["image"] = {**image, "reference": image_reference(image) or None}
        findings = sort_findings(
            [item for item in _sequence(event.get("findings")) if isinstance(item, Mapping)]
        )
        payload |= {
            "verdict": event.get("verdict"),
            "counts": event.get("counts"),
            "findings": findings[:MAX_FINDINGS_SHOWN],
            "findings_total": event.get("findings_total", len(findings)),
        }
    # Plain JSON types only (a Decimal from DynamoDB, a tuple): the body is what was rendered.
    plain: dict[str, Any] = json.loads(_json(payload))
    return plain


def _webhook(content: _Content, event: Mapping[str, Any], preset: str) -> Message:
    if preset == WebhookPreset.SLACK:
        payload = _slack(content)
    elif preset == WebhookPreset.TEAMS:
        payload = _teams(content)
    else:
        payload = generic_payload(content, event)
    return Message(
        subject=content.title,
        text=_json(payload),
        html=None,
        payload=payload,
        content_type=JSON_CONTENT_TYPE,
        trigger=content.trigger,
    )


def _slack(content: _Content) -> dict[str, Any]:
    """Incoming-webhook blocks in mrkdwn; `&`, `<`, `>` escaped so that nothing from the event can
    mention (`<!channel>`) or link (`<https://…|…>`)."""

    def e(text: str) -> str:
        return _fit(text, SLACK_LINE_MAX_LENGTH, slack_escape)

    facts = "\n".join(f"*{e(label)}:* {e(value)}" for label, value in content.facts)
    intro = f"{e(content.lead)}\n\n" if content.lead else ""
    blocks: list[dict[str, Any]] = [
        {
            "type": "header",
            "text": {"type": "plain_text", "text": _clip(content.title, SLACK_HEADER_MAX_LENGTH)},
        },
        _slack_section(intro + facts),
    ]
    if content.findings:
        lines = ["*Findings, most severe first:*"]
        lines += [f"• *{e(f.severity)}* {e(f.text)}" for f in content.findings]
        if content.more > 0:
            lines.append(f"and {content.more} more")
        blocks.append(_slack_section("\n".join(lines)))
    if content.link:
        shown = f"<{e(content.link)}|Details in Riskgate>" if _absolute(content.link) else e(content.link)
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": shown}]})
    return {"text": e(content.title), "blocks": blocks}


def _slack_section(text: str) -> dict[str, Any]:
    # Cut before the limit at a line end, so that no escape (`&amp;`) or `*bold*` is cut in two.
    if len(text) > SLACK_SECTION_MAX_LENGTH:
        text = text[: SLACK_SECTION_MAX_LENGTH - 2].rsplit("\n", 1)[0] + "\n" + ELLIPSIS
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def slack_escape(text: str) -> str:
    """Slack's three control characters; mrkdwn has no escape for `*` or `_` (harmless styling)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _teams(content: _Content) -> dict[str, Any]:
    """An Office 365 connector MessageCard; its text and facts accept HTML, so everything is escaped."""
    e = _html
    lines = [e(content.lead)] if content.lead else []
    lines += [f"<b>{e(f.severity)}</b> {e(f.text)}" for f in content.findings]
    if content.more > 0:
        lines.append(f"and {content.more} more")
    card: dict[str, Any] = {
        "@type": "MessageCard",
        "@context": "https://schema.org/extensions",
        "summary": e(content.title),
        "title": e(content.title),
        "themeColor": "D70000" if content.trigger != TEST_TRIGGER else "0078D7",
        "text": "<br>".join(lines),
        "sections": [{"facts": [{"name": e(label), "value": e(value)} for label, value in content.facts]}],
    }
    if _absolute(content.link):
        card["potentialAction"] = [
            {
                "@type": "OpenUri",
                "name": "Details in Riskgate",
                "targets": [{"os": "default", "uri": content.link}],
            }
        ]
    return card


def _templated(content: _Content, event: Mapping[str, Any], template: str) -> Message:
    body, is_json = fill_template(template, template_values(content, event))
    payload: dict[str, Any] = {}
    if is_json:
        parsed = json.loads(body)
        payload = parsed if isinstance(parsed, dict) else {}
    return Message(
        subject=content.title,
        text=body,
        html=None,
        payload=payload,
        content_type=JSON_CONTENT_TYPE if is_json else TEXT_CONTENT_TYPE,
        trigger=content.trigger,
    )


def template_values(content: _Content, event: Mapping[str, Any]) -> dict[str, str]:
    """The placeholders' values: `{trigger}` is the trigger's name (`critical_vulnerabilities`), `{verdict}`
    the verdict's status (`non_compliant`), `{counts}` the counts in words; for an acceptance event
    `{image}` and `{registry}` are its image's or repository's, `{verdict}` and `{counts}` empty."""
    acceptance = event.get("acceptance")
    source = acceptance if isinstance(acceptance, Mapping) else _mapping(event.get("image"))
    image = _acceptance_place(source) if isinstance(acceptance, Mapping) else image_reference(source)
    verdict = _mapping(event.get("verdict"))
    return {
        "policy_name": content.policy_name,
        "trigger": content.trigger,
        "image": image,
        "registry": _line(source.get("registry")),
        "verdict": _line(verdict.get("status")),
        "counts": counts_text(event.get("counts")),
    }


def fill_template(template: str, values: Mapping[str, str]) -> tuple[str, bool]:
    """The template with each `{placeholder}` replaced, in one pass (a value that itself reads
    `{trigger}` stays as it is); and whether the body is JSON.

    A template is JSON when it parses as JSON with its placeholders standing for a plain word — that is,
    when every placeholder is *inside* a JSON string, as in `{"text": "{image} is {verdict}"}`. Then each
    value is substituted JSON-string-escaped without quotes (`"` → `\\"`, a newline → `\\n`), so that no
    value can break or extend the document. Any other template is text and gets the values as they are.
    """
    is_json = _is_json_template(template)

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in TEMPLATE_PLACEHOLDERS:
            return match.group(0)
        text = values.get(name, "")
        return json.dumps(text, ensure_ascii=False)[1:-1] if is_json else text

    return PLACEHOLDER.sub(value, template), is_json


def _is_json_template(template: str) -> bool:
    probe = PLACEHOLDER.sub(
        lambda match: "x" if match.group(1) in TEMPLATE_PLACEHOLDERS else match.group(0), template
    )
    try:
        json.loads(probe)
    except ValueError:
        return False
    return True


# --- small helpers --------------------------------------------------------------------------------------

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")


def _line(value: object, limit: int = MAX_FIELD_LENGTH) -> str:
    """A value as one line of text (control characters and line breaks become spaces), cut at `limit`:
    an event's value must not start a header line in an e-mail or flood a chat."""
    if value is None:
        return ""
    text = _CONTROL.sub(" ", value if isinstance(value, str) else str(value)).strip()
    return _clip(text, limit)


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + ELLIPSIS


def _fit(raw: str, limit: int, escape: Callable[[str], str], measure: Callable[[str], int] = len) -> str:
    """`raw` escaped, cut (by whole characters, so never inside an escape) to fit `limit` with `…`."""
    escaped = escape(raw)
    if measure(escaped) <= limit:
        return escaped
    pieces, size = [], measure(ELLIPSIS)
    for ch in raw:
        piece = escape(ch)
        if size + measure(piece) > limit:
            break
        pieces.append(piece)
        size += measure(piece)
    return "".join(pieces) + ELLIPSIS


def _html(text: str) -> str:
    return html.escape(text, quote=True)


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _sequence(value: object) -> list[Any]:
    return list(value) if isinstance(value, list | tuple) else []


def _tags(image: Mapping[str, Any]) -> list[str]:
    return sorted(tag for tag in (_line(item) for item in _sequence(image.get("tags"))) if tag)


def _int(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float | Decimal):
        return int(value)
    return None


def _json(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=_json_default)


def _json_default(value: object) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, set | frozenset):
        return sorted(value, key=str)
    if isinstance(value, Mapping):
        return dict(value)
    raise TypeError(f"{type(value).__name__} is not JSON")
