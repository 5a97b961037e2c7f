"""The webhook bodies: the `generic` payload (also the SNS message and the e-mail's payload), Slack
blocks, a Teams card, or the integration's own template filled in."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from riskgate.domain.integrations import PLACEHOLDER, TEMPLATE_PLACEHOLDERS, WebhookPreset
from riskgate.domain.notifications.content import (
    MAX_FINDINGS_SHOWN,
    TEST_TRIGGER,
    Content,
    acceptance_place,
    counts_text,
    image_reference,
    sort_findings,
)
from riskgate.domain.notifications.message import JSON_CONTENT_TYPE, TEXT_CONTENT_TYPE, Message
from riskgate.domain.notifications.text import (
    ELLIPSIS,
    absolute,
    clip,
    escape_html,
    fit,
    line,
    mapping,
    sequence,
    to_json,
)

# Slack refuses a section text over 3,000 characters and a header over 150.
SLACK_SECTION_MAX_LENGTH = 3000
SLACK_HEADER_MAX_LENGTH = 150
# One escaped value at most, so that a section cut at a line end always keeps its first line.
SLACK_LINE_MAX_LENGTH = 1500


def generic_payload(content: Content, event: Mapping[str, Any]) -> dict[str, Any]:
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
        image = mapping(event.get("image"))
        payload["image"] = {**image, "reference": image_reference(image) or None}
        findings = sort_findings(
            [item for item in sequence(event.get("findings")) if isinstance(item, Mapping)]
        )
        payload |= {
            "verdict": event.get("verdict"),
            "counts": event.get("counts"),
            "findings": findings[:MAX_FINDINGS_SHOWN],
            "findings_total": event.get("findings_total", len(findings)),
        }
    # Plain JSON types only (a Decimal from DynamoDB, a tuple): the body is what was rendered.
    plain: dict[str, Any] = json.loads(to_json(payload))
    return plain


def render_webhook(content: Content, event: Mapping[str, Any], preset: str) -> Message:
    if preset == WebhookPreset.SLACK:
        payload = _slack(content)
    elif preset == WebhookPreset.TEAMS:
        payload = _teams(content)
    else:
        payload = generic_payload(content, event)
    return Message(
        subject=content.title,
        text=to_json(payload),
        html=None,
        payload=payload,
        content_type=JSON_CONTENT_TYPE,
        trigger=content.trigger,
    )


def _slack(content: Content) -> dict[str, Any]:
    """Incoming-webhook blocks in mrkdwn; `&`, `<`, `>` escaped so that nothing from the event can
    mention (`<!channel>`) or link (`<https://…|…>`)."""

    def e(text: str) -> str:
        return fit(text, SLACK_LINE_MAX_LENGTH, slack_escape)

    facts = "\n".join(f"*{e(label)}:* {e(value)}" for label, value in content.facts)
    intro = f"{e(content.lead)}\n\n" if content.lead else ""
    blocks: list[dict[str, Any]] = [
        {
            "type": "header",
            "text": {"type": "plain_text", "text": clip(content.title, SLACK_HEADER_MAX_LENGTH)},
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
        shown = f"<{e(content.link)}|Details in Riskgate>" if absolute(content.link) else e(content.link)
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


def _teams(content: Content) -> dict[str, Any]:
    """An Office 365 connector MessageCard; its text and facts accept HTML, so everything is escaped."""
    e = escape_html
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
    if absolute(content.link):
        card["potentialAction"] = [
            {
                "@type": "OpenUri",
                "name": "Details in Riskgate",
                "targets": [{"os": "default", "uri": content.link}],
            }
        ]
    return card


def render_templated(content: Content, event: Mapping[str, Any], template: str) -> Message:
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


def template_values(content: Content, event: Mapping[str, Any]) -> dict[str, str]:
    """The placeholders' values: `{trigger}` is the trigger's name (`critical_vulnerabilities`), `{verdict}`
    the verdict's status (`non_compliant`), `{counts}` the counts in words; for an acceptance event
    `{image}` and `{registry}` are its image's or repository's, `{verdict}` and `{counts}` empty."""
    acceptance = event.get("acceptance")
    source = acceptance if isinstance(acceptance, Mapping) else mapping(event.get("image"))
    image = acceptance_place(source) if isinstance(acceptance, Mapping) else image_reference(source)
    verdict = mapping(event.get("verdict"))
    return {
        "policy_name": content.policy_name,
        "trigger": content.trigger,
        "image": image,
        "registry": line(source.get("registry")),
        "verdict": line(verdict.get("status")),
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
