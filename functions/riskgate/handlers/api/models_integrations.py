"""API models of integrations: request bodies (shapes checked here) and responses.

`config` is checked by the domain (`riskgate.domain.integrations`), the one place that knows each type's
fields: a 422 then names the field, e.g. `body.config.to[1]`. Secret fields are write-only: no response
model has a place for them.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, Field

from riskgate.domain.integrations import MAX_RECIPIENTS, NAME_PATTERN, IntegrationType
from riskgate.handlers.api.models import PatchBody, RequestBody

IntegrationName = Annotated[
    str,
    Field(
        pattern=NAME_PATTERN,
        description="Unique; letters, digits, `.`, `_`, `-` (64 at most); response policies' outputs name it",
    ),
]
Config = Annotated[
    dict[str, Any],
    Field(
        description=(
            "By type — email: from, to (1 to "
            f"{MAX_RECIPIENTS} addresses); telegram: bot_token (write-only), chat_id (a number or "
            "@channel); sns: topic_arn; webhook: url (https), secret (write-only: signs each request), "
            "preset (generic, slack, teams), template (placeholders {policy_name}, {trigger}, {image}, "
            "{registry}, {verdict}, {counts}), rate_limit_per_minute (1 to 600, 60 if not given)"
        ),
        examples=[
            {"from": "riskgate@example.com", "to": ["secops@example.com"]},
            {
                "url": "https://hooks.example.com/riskgate",
                "secret": "a-signing-secret-of-16+",
                "preset": "slack",
            },
        ],
    ),
]


class IntegrationCreate(RequestBody):
    name: IntegrationName
    type: IntegrationType
    config: Config


class IntegrationUpdate(PatchBody):
    """The config fields sent replace the stored ones, the others stay; a field sent as null goes back
    to its default (an optional secret: removed). A secret is replaced only when sent."""

    _not_null = ("config",)

    config: Config | None = None


class Integration(BaseModel):
    name: str
    type: str
    config: dict[str, Any] = Field(description="Without the write-only fields")
    has_secret: bool = Field(description="Whether a write-only field (bot token, signing secret) is stored")
    version: int
    created_at: str
    created_by: str
    updated_at: str
    updated_by: str


class IntegrationPage(BaseModel):
    items: list[Integration]
    next_token: str | None = None


class IntegrationTestResult(BaseModel):
    """What happened to a test message: a delivery that failed is an answer too (200), not an error."""

    integration: str
    type: str
    delivered: bool
    detail: str = Field(description="What the receiver said (delivered), or what a failure means")
    error: str | None = Field(description="Why it was not delivered (never a secret); null when delivered")
    retryable: bool = Field(description="Whether trying again later may help (a timeout, a 5xx, a 429)")
