"""`Message`: one notification as a channel's renderer made it.

`Message.text` is always the body as the channel sends it (the e-mail's text part, the Telegram message,
the SNS message, the webhook's request body); `payload` is the same as structured data.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

SUBJECT_PREFIX = "[Riskgate] "
JSON_CONTENT_TYPE = "application/json"
TEXT_CONTENT_TYPE = "text/plain; charset=utf-8"


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
