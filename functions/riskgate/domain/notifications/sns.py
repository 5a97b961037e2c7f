"""The SNS message: the generic payload as JSON, under an ASCII subject SNS accepts."""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from typing import Any

from riskgate.domain.notifications.content import Content
from riskgate.domain.notifications.message import JSON_CONTENT_TYPE, SUBJECT_PREFIX, Message
from riskgate.domain.notifications.text import ELLIPSIS, line, to_json
from riskgate.domain.notifications.webhooks import generic_payload

# SNS: "must be less than 100 characters", ASCII, no line breaks.
SNS_SUBJECT_MAX_LENGTH = 99


def render_sns(content: Content, event: Mapping[str, Any]) -> Message:
    payload = generic_payload(content, event)
    return Message(
        subject=sns_subject(SUBJECT_PREFIX + content.title),
        text=to_json(payload),
        html=None,
        payload=payload,
        content_type=JSON_CONTENT_TYPE,
        trigger=content.trigger,
    )


def sns_subject(text: str) -> str:
    """SNS wants an ASCII subject under 100 characters without control characters: accents are
    dropped to their letters, anything else non-ASCII becomes `?`, too long ends in `...`."""
    ascii_text = "".join(
        ch if ch.isascii() else (_ascii_letter(ch) or "?") for ch in line(text, len(text) + 1)
    )
    ascii_text = ascii_text.replace(ELLIPSIS, "...")
    if len(ascii_text) <= SNS_SUBJECT_MAX_LENGTH:
        return ascii_text
    return ascii_text[: SNS_SUBJECT_MAX_LENGTH - 3].rstrip() + "..."


def _ascii_letter(ch: str) -> str:
    if ch == ELLIPSIS:
        return "..."
    return unicodedata.normalize("NFKD", ch).encode("ascii", "ignore").decode("ascii")
