"""API models of response policies: request bodies (shapes checked here) and responses.

`trigger`, `outputs` and `filters` values are checked by the domain (`riskgate.domain.response_policies`):
a 422 then names the field, e.g. `body.outputs[1].output`; that each output's integration may be used
(it exists, the caller may see it, its scope contains the policy's) with the output's type is checked by
the service (`body.outputs[1].integration`).
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field

from riskgate.domain.response_policies import MAX_OUTPUTS, ResponseTrigger
from riskgate.handlers.api.models import PatchBody, RequestBody

PolicyName = Annotated[str, Field(min_length=1, max_length=200)]
Description = Annotated[str, Field(max_length=2000)]
ScopeId = Annotated[
    str,
    Field(
        min_length=1, max_length=64, description="The scope whose objects the policy hears about; global: all"
    ),
]
Trigger = Annotated[str, Field(description=", ".join(trigger.value for trigger in ResponseTrigger))]


class OutputBody(RequestBody):
    output: str = Field(description="email, telegram, sns or webhook")
    integration: str = Field(
        description=(
            "The name of an integration of that type that the caller may see (integrations:read) and whose "
            "scope contains the policy's (global contains every scope)"
        )
    )


class FiltersBody(RequestBody):
    severity_at_least: str | None = Field(default=None, description="Only findings this severe or more")
    repositories: list[str] = Field(
        default_factory=list, description="Globs over repository (team-a/*) or registry/repository"
    )
    fixable_only: bool = Field(default=False, description="Only vulnerabilities with a fixed version")


Outputs = Annotated[
    list[OutputBody],
    Field(description=f"1 to {MAX_OUTPUTS}; each sends a notification through its integration"),
]


class ResponsePolicyCreate(RequestBody):
    name: PolicyName
    description: Description = ""
    scope: ScopeId = "global"
    trigger: Trigger
    outputs: Outputs
    enabled: bool = True
    filters: FiltersBody = Field(default_factory=FiltersBody)


class ResponsePolicyUpdate(PatchBody):
    """Every field optional: a field sent changes (outputs and filters as a whole), one left out stays;
    none may be sent as null."""

    _not_null = ("name", "description", "scope", "trigger", "outputs", "enabled", "filters")

    name: PolicyName | None = None
    description: Description | None = None
    scope: ScopeId | None = None
    trigger: Trigger | None = None
    outputs: Outputs | None = None
    enabled: bool | None = None
    filters: FiltersBody | None = None


class Output(BaseModel):
    output: str
    integration: str


class Filters(BaseModel):
    severity_at_least: str | None = None
    repositories: list[str] = Field(default_factory=list)
    fixable_only: bool = False


class ResponsePolicy(BaseModel):
    id: str
    name: str
    description: str = ""
    scope: str
    trigger: str
    outputs: list[Output]
    filters: Filters = Field(default_factory=Filters)
    enabled: bool
    version: int
    created_at: str
    created_by: str
    updated_at: str
    updated_by: str


class ResponsePolicyPage(BaseModel):
    items: list[ResponsePolicy]
    next_token: str | None = None
