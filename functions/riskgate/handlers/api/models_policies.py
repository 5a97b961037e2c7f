"""API models of assurance policies: request bodies (shapes checked here) and responses.

`conditions`, `actions` and `mode` are checked by the domain (`riskgate.domain.policies`), the one
place that knows them: a 422 then names the field, e.g. `body.conditions.max_count`.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from riskgate.domain.policies import CONDITION_NAMES

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


class PolicyCreate(BaseModel):
    # An unknown field is a mistake worth reporting: 422, not ignored.
    model_config = ConfigDict(extra="forbid")

    name: PolicyName
    description: Description = ""
    scope: ScopeId
    enabled: bool = True
    mode: Mode = "enforce"
    conditions: Conditions
    actions: Actions = Field(default_factory=list)


class PolicyUpdate(BaseModel):
    """Every field optional: a field sent changes, one left out stays; none may be sent as null."""

    model_config = ConfigDict(extra="forbid")
    _not_null: ClassVar[tuple[str, ...]] = (
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

    @field_validator("*")
    @classmethod
    def _not_null_when_sent(cls, value: Any, info: ValidationInfo) -> Any:
        # Runs only for fields the caller sent: defaults are not validated.
        if value is None and info.field_name in cls._not_null:
            raise ValueError("may be left out, but not null")
        return value

    def changes(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_unset=True)


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
