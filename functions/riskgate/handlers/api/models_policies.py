"""API models of assurance policies: request bodies (shapes checked here) and responses.

`conditions`, `actions` and `mode` are checked by the domain (`riskgate.domain.policies`), the one
place that knows them: a 422 then names the field, e.g. `body.conditions.max_count`.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, Field

from riskgate.domain.policies import CONDITION_NAMES
from riskgate.handlers.api.models import PatchBody, RequestBody

PolicyName = Annotated[str, Field(min_length=1, max_length=200, description="Shown in verdicts")]
Description = Annotated[str, Field(max_length=2000)]
ScopeId = Annotated[
    str,
    Field(min_length=1, max_length=64, description="The scope whose images the policy judges; global: all"),
]
Conditions = Annotated[
    dict[str, Any],
    Field(
        description=(
            "The policy fails when any set condition holds: "
            + ", ".join(CONDITION_NAMES)
            + "; modifiers max_count (with severity_at_least) and fixable_only"
        ),
        examples=[{"severity_at_least": "critical", "max_count": 0}, {"packages": ["log4j-*"]}],
    ),
]
Actions = Annotated[
    list[str], Field(description="block_ci: fail CI builds; empty: only mark the image non-compliant")
]
Mode = Annotated[str, Field(description="enforce, or dry_run: evaluated and reported, changes nothing")]


class PolicyCreate(RequestBody):
    name: PolicyName
    description: Description = ""
    scope: ScopeId
    enabled: bool = True
    mode: Mode = "enforce"
    conditions: Conditions
    actions: Actions = Field(default_factory=list)


class PolicyUpdate(PatchBody):
    """Every field optional: a field sent changes, one left out stays; none may be sent as null."""

    _not_null = (
        "name",
        "description",
        "scope",
        "enabled",
        "mode",
        "conditions",
        "actions",
    )

    name: PolicyName | None = None
    description: Description | None = None
    scope: ScopeId | None = None
    enabled: bool | None = None
    mode: Mode | None = None
    conditions: Conditions | None = None
    actions: Actions | None = None


class Reevaluation(BaseModel):
    """Progress of re-judging the images in the policy's scope after its last change."""

    version: int | None = Field(default=None, description="The policy version being applied")
    requested_at: str | None = None
    total: int | None = Field(default=None, description="Images to re-evaluate")
    done: int | None = None
    finished_at: str | None = None


class AssurancePolicy(BaseModel):
    id: str = Field(description="default: the built-in policy, editable and deletable like any other")
    name: str
    description: str = ""
    scope: str
    enabled: bool
    mode: str
    conditions: dict[str, Any]
    actions: list[str]
    version: int
    created_at: str | None = Field(default=None, description="Null for the default policy never changed")
    created_by: str | None = None
    updated_at: str | None = None
    updated_by: str | None = None
    reevaluation: Reevaluation | None = Field(
        default=None, description="Null until a re-evaluation was planned for this policy"
    )


class AssurancePolicyPage(BaseModel):
    items: list[AssurancePolicy]
    next_token: str | None = None
