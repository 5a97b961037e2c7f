"""API models of registry connections: request bodies (shapes checked here) and responses.

`config` is checked by the domain (`riskgate.domain.registries.connections`), the one place that knows
each type's fields: a 422 then names the field, e.g. `body.config.account_id`. Secret fields are
write-only: no response model has a place for them (`secrets_set` names those stored). The type is set at
creation only: a PATCH naming it is a 422.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, Field

from riskgate.domain.registries.connections import (
    MIN_WEBHOOK_SECRET_LENGTH,
    NAME_PATTERN,
    ConnectionType,
)
from riskgate.handlers.api.models import PatchBody, RequestBody

RegistryName = Annotated[
    str,
    Field(pattern=NAME_PATTERN, description="Unique; letters, digits, `.`, `_`, `-` (64 at most)"),
]
Config = Annotated[
    dict[str, Any],
    Field(
        description=(
            "By type — ecr: account_id (12 digits, a string), region (e.g. eu-west-1), repositories (globs, "
            '["*"] if not given), scans (basic, enhanced: ECR basic scanning and Amazon Inspector; both if '
            'not given). harbor: url (https; Harbor\'s base URL), projects (globs, ["*"] if not given), '
            "robot_name, robot_secret (write-only), webhook_secret (write-only, at least "
            f"{MIN_WEBHOOK_SECRET_LENGTH} characters: Harbor's webhook sends it as its Authorization "
            "header). Both Harbor secrets are required on creation"
        ),
        examples=[
            {"account_id": "123456789012", "region": "eu-west-1", "repositories": ["team-a/*"]},
            {
                "url": "https://harbor.example.com",
                "projects": ["library"],
                "robot_name": "robot$riskgate",
                "robot_secret": "the-robot-account-secret",
                "webhook_secret": "a-shared-secret-of-16+",
            },
        ],
    ),
]


class RegistryCreate(RequestBody):
    name: RegistryName
    type: ConnectionType
    config: Config


class RegistryUpdate(PatchBody):
    """The config fields sent replace the stored ones, the others stay; a field sent as null goes back to
    its default (`repositories`, `projects`, `scans`). A secret is replaced only when sent. The type
    cannot change."""

    _not_null = ("name", "config")

    name: RegistryName | None = None
    config: Config | None = None


class LastError(BaseModel):
    at: str
    message: str
    image: str | None = None


class SyncState(BaseModel):
    job_id: str
    state: str = Field(description="running, done or failed")
    started_at: str
    finished_at: str | None = None
    images_seen: int = 0
    images_imported: int = 0
    cursor: Any = Field(default=None, description="Where the sync's next page starts, while it runs")
    error: str | None = None


class ConnectionState(BaseModel):
    """What ingestion recorded about the connection: not part of it (no version, no audit event)."""

    last_event_at: str | None = Field(default=None, description="When something last arrived or happened")
    last_error: LastError | None = None
    events: dict[str, int] = Field(
        default_factory=dict, description="Counters by kind: received (webhooks), imported, failed, …"
    )
    sync: SyncState | None = Field(default=None, description="The last sync asked for")


class Registry(BaseModel):
    id: str
    name: str
    type: str
    config: dict[str, Any] = Field(description="Without the write-only fields")
    secrets_set: list[str] = Field(description="The write-only fields stored (robot_secret, webhook_secret)")
    version: int
    created_at: str
    created_by: str
    updated_at: str
    updated_by: str
    state: ConnectionState


class RegistryPage(BaseModel):
    items: list[Registry]
    next_token: str | None = None


class RegistryEvent(BaseModel):
    at: str
    kind: str = Field(description="What happened: imported, scan_failed, not_readable, refused, …")
    message: str
    image: str | None = None
    error: bool


class RegistryEventPage(BaseModel):
    items: list[RegistryEvent]
    next_token: str | None = None


class SyncJob(BaseModel):
    registry_id: str
    job_id: str
    state: str = Field(description="running")
    started_at: str


class WebhookAccepted(BaseModel):
    accepted: bool
    type: str = Field(description="Harbor's event type, e.g. SCANNING_COMPLETED")
