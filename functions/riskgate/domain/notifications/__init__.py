"""What a notification says, per channel: a trigger event rendered as e-mail, Telegram, webhook or SNS.

Pure: no AWS, no network, no clock. `render` (here) turns the event into channel-neutral `content.Content`
and hands it to the channel's renderer: `email`, `telegram`, `sns` or `webhooks` (generic, Slack, Teams,
templated). `message` holds `Message`, what every renderer returns; `text` the small helpers they share
(one-line values, cutting, escaping, JSON). Import from here: the submodules' layout may change.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from riskgate.domain.integrations import IntegrationType, WebhookPreset
from riskgate.domain.notifications.content import (
    ACCEPTANCE_TRIGGERS,
    IMAGE_TRIGGERS,
    MAX_FINDINGS_SHOWN,
    MAX_OTHER_TAGS_SHOWN,
    MAX_REASON_LENGTH,
    TEST_TRIGGER,
    content_of,
    counts_text,
    finding_text,
    image_reference,
    sort_findings,
)
from riskgate.domain.notifications.email import EMAIL_SUBJECT_MAX_LENGTH, render_email
from riskgate.domain.notifications.message import (
    JSON_CONTENT_TYPE,
    SUBJECT_PREFIX,
    TEXT_CONTENT_TYPE,
    Message,
)
from riskgate.domain.notifications.sns import SNS_SUBJECT_MAX_LENGTH, render_sns, sns_subject
from riskgate.domain.notifications.telegram import TELEGRAM_MAX_LENGTH, render_telegram, telegram_length
from riskgate.domain.notifications.text import ELLIPSIS, MAX_FIELD_LENGTH
from riskgate.domain.notifications.webhooks import (
    SLACK_HEADER_MAX_LENGTH,
    SLACK_LINE_MAX_LENGTH,
    SLACK_SECTION_MAX_LENGTH,
    fill_template,
    generic_payload,
    render_templated,
    render_webhook,
    slack_escape,
    template_values,
)

__all__ = [
    "ACCEPTANCE_TRIGGERS",
    "ELLIPSIS",
    "EMAIL_SUBJECT_MAX_LENGTH",
    "IMAGE_TRIGGERS",
    "JSON_CONTENT_TYPE",
    "MAX_FIELD_LENGTH",
    "MAX_FINDINGS_SHOWN",
    "MAX_OTHER_TAGS_SHOWN",
    "MAX_REASON_LENGTH",
    "SLACK_HEADER_MAX_LENGTH",
    "SLACK_LINE_MAX_LENGTH",
    "SLACK_SECTION_MAX_LENGTH",
    "SNS_SUBJECT_MAX_LENGTH",
    "SUBJECT_PREFIX",
    "TELEGRAM_MAX_LENGTH",
    "TEST_TRIGGER",
    "TEXT_CONTENT_TYPE",
    "Message",
    "counts_text",
    "fill_template",
    "finding_text",
    "generic_payload",
    "image_reference",
    "render",
    "slack_escape",
    "sns_subject",
    "sort_findings",
    "telegram_length",
    "template_values",
]


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
    content = content_of(event, policy_name, api_base_url)
    kind = str(integration_type)
    if kind == IntegrationType.EMAIL:
        return render_email(content, event)
    if kind == IntegrationType.TELEGRAM:
        return render_telegram(content)
    if kind == IntegrationType.SNS:
        return render_sns(content, event)
    if kind == IntegrationType.WEBHOOK:
        if template:
            return render_templated(content, event, template)
        return render_webhook(content, event, preset or WebhookPreset.GENERIC.value)
    raise ValueError(f"{integration_type!r} is not an integration type")
