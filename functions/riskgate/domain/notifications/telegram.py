"""The Telegram message: HTML parse mode, cut to Telegram's length limit."""

from __future__ import annotations

import html
from typing import Any

from riskgate.domain.notifications.content import Content
from riskgate.domain.notifications.email import plain_text
from riskgate.domain.notifications.message import JSON_CONTENT_TYPE, Message
from riskgate.domain.notifications.text import absolute, fit

# Telegram refuses longer messages (counted after entity parsing; we count the raw HTML, which is longer).
TELEGRAM_MAX_LENGTH = 4096


def render_telegram(content: Content) -> Message:
    """HTML parse mode (bold labels, a link); findings are dropped from the end until the message fits,
    then, should one value alone be too long, plain text cut at the limit."""
    for shown in range(len(content.findings), -1, -1):
        text = _telegram_html(content, shown)
        if telegram_length(text) <= TELEGRAM_MAX_LENGTH:
            return _telegram_message(content, text, "HTML")
    for shown in range(len(content.findings), -1, -1):
        text = plain_text(content, shown)
        if telegram_length(text) <= TELEGRAM_MAX_LENGTH:
            return _telegram_message(content, text, None)
    text = fit(plain_text(content, 0), TELEGRAM_MAX_LENGTH, str, telegram_length)
    return _telegram_message(content, text, None)


def _telegram_message(content: Content, text: str, parse_mode: str | None) -> Message:
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


def _telegram_html(content: Content, shown: int) -> str:
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
        if absolute(content.link):
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
