"""API models of the delivery log (`GET /v1/notifications`). A notification carries no secret: its
event copy has none, and the integration is named, not shown."""

from __future__ import annotations

from typing import Any, Literal, get_args

from pydantic import BaseModel, Field

from riskgate.domain.response_policies import ResponseTrigger

NotificationStatus = Literal["pending", "sending", "sent", "failed"]
# The response policies' triggers, as a query parameter's choices.
TriggerName = Literal[
    "sensitive_data",
    "non_compliant",
    "critical_vulnerabilities",
    "malware",
    "risk_acceptance_expiration",
    "risk_acceptance_expiring",
]
assert set(get_args(TriggerName)) == {trigger.value for trigger in ResponseTrigger}


class Subject(BaseModel):
    type: str = Field(description="image or risk_acceptance")
    id: str


class Notification(BaseModel):
    id: str = Field(description="ntf-…")
    event_id: str
    event: dict[str, Any] = Field(
        default_factory=dict, description="The trigger event: what happened, to which image or acceptance"
    )
    policy_id: str
    policy_name: str | None = None
    trigger: str
    subject: Subject
    output: str | None = Field(default=None, description="email, telegram, sns or webhook")
    integration: str
    status: NotificationStatus
    attempts: int = 0
    last_error: str | None = None
    created_at: str
    sent_at: str | None = None


class NotificationPage(BaseModel):
    items: list[Notification]
    next_token: str | None = None
