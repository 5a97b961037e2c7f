"""API models of integrations: request bodies (shapes checked here) and responses.

`config` is checked by the domain (`riskgate.domain.integrations`), the one place that knows each type's
fields: a 422 then names the field, e.g. `body.config.to[1]`. Secret fields are write-only: no response
model has a place for them. `scope` is set at creation only (like `name` and `type`): a PATCH naming it is
a 422.
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
            "{registry}, {verdict}, {counts}), rate_limit_per_minute (1 to 600, 60 if not given). A "
            "webhook's host must be public: loopback, link-local (instance metadata), private, CGNAT, "
            "unique-local, multicast and reserved addresses (in any spelling, e.g. 2130706433 or "
            "0x7f000001) and internal names (localhost, *.internal, metadata) are refused, here and "
            "again, after DNS resolution, when sending"
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


ScopeId = Annotated[
    str,
    Field(
        min_length=1,
        max_length=64,
        description=(
            "The scope the integration belongs to (global: the default). Seeing it needs integrations:read "
            "there, changing it integrations:manage (global: also scopes:global); a response policy may "
            "use it when the policy's scope lies in this one. Fixed at creation"
        ),
    ),
]


class IntegrationCreate(RequestBody):
    name: IntegrationName
    type: IntegrationType
    scope: ScopeId = "global"
    config: Config


class IntegrationUpdate(PatchBody):
    """The config fields sent replace the stored ones, the others stay; a field sent as null goes back
    to its default (an optional secret: removed). A secret is replaced only when sent. Name, type and
    scope cannot change."""

    _not_null = ("config",)

    config: Config | None = None


class Integration(BaseModel):
    name: str
    type: str
    scope: str = Field(description="The scope it belongs to; global for one created before scopes existed")
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
    """What happened to a test message: a delivery that failed is an answer too (200), not an error.

    For a webhook, only whether it was delivered and the HTTP status its receiver answered: never a
    connection or TLS error's text nor any of the receiver's answer."""

    integration: str
    type: str
    delivered: bool
    status: int | None = Field(
        default=None,
        description="The HTTP status the receiver answered (webhook, Telegram); null when there was none",
    )
    detail: str = Field(
        description="What the receiver said (delivered; a webhook: its status only), or what a failure means"
    )
    error: str | None = Field(
        description=(
            "Why it was not delivered (never a secret); null when delivered. A webhook: `the webhook "
            "answered <status>`, `the webhook could not be reached` or `destination address not allowed`"
        )
    )
    retryable: bool = Field(description="Whether trying again later may help (a timeout, a 5xx, a 429)")
