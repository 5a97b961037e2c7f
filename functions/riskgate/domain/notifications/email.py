"""The e-mail: a subject, a plain-text part (`plain_text`, also Telegram's fallback) and an HTML part,
every value HTML-escaped; the generic payload as data."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from riskgate.domain.notifications.content import Content
from riskgate.domain.notifications.message import SUBJECT_PREFIX, TEXT_CONTENT_TYPE, Message
from riskgate.domain.notifications.text import absolute, clip, escape_html
from riskgate.domain.notifications.webhooks import generic_payload

EMAIL_SUBJECT_MAX_LENGTH = 250


def render_email(content: Content, event: Mapping[str, Any]) -> Message:
    subject = clip(SUBJECT_PREFIX + content.title, EMAIL_SUBJECT_MAX_LENGTH)
    return Message(
        subject=subject,
        text=plain_text(content, len(content.findings)),
        html=_email_html(content),
        payload=generic_payload(content, event),
        content_type=TEXT_CONTENT_TYPE,
        trigger=content.trigger,
    )


def plain_text(content: Content, shown: int) -> str:
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


def _email_html(content: Content) -> str:
    e = escape_html
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
        shown = f'<a href="{target}">{target}</a>' if absolute(content.link) else target
        parts.append(f"<p>Details: {shown}</p>")
    parts.append(
        f'<p style="color:#666666">Sent by Riskgate for the response policy {e(content.policy_name)}.</p>'
    )
    parts.append("</body></html>")
    return "".join(parts)
