"""Managing assurance policies, and finding the policies that apply to an image.

The rules about meaning and access live here (the API models check shapes; the port owns storage and
concurrency). A policy is a managed entity with a scope of its own (riskgate.services.entities): a caller
sees it with `assurance_policies:read` granted in
that scope or in `global` (else it does not exist for them: 404), and changes it with
`assurance_policies:manage` there — plus `scopes:global` when the scope is `global` — else 403.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Protocol

from riskgate.adapters.dynamo import Page
from riskgate.domain.access import Access, ScopeDefinition
from riskgate.domain.audit import Actor
from riskgate.domain.permissions import GLOBAL_SCOPE, Permission
from riskgate.domain.policies import (
    AssurancePolicy,
    applicable,
    validate_actions,
    validate_conditions,
    validate_mode,
)
from riskgate.services import entities
from riskgate.services.entities import EntityPort, EntityRules, body_fields

RULES = EntityRules(
    what="assurance policy",
    one="a policy",
    read=Permission.ASSURANCE_POLICIES_READ,
    manage=Permission.ASSURANCE_POLICIES_MANAGE,
)

# The policies whose scope contains an image, given as its summary (`registry`, `repository`, `tags`):
# what an evaluation of that image uses. The re-evaluator passes its own of the same shape.
PoliciesFor = Callable[[Mapping[str, Any]], Sequence[AssurancePolicy]]


class PolicyPort(EntityPort, Protocol):
    def virtual_default(self) -> dict[str, Any] | None: ...


class PolicySource(Protocol):
    def load_policies(self) -> list[AssurancePolicy]: ...
    def scope_definitions(self, scope_ids: set[str]) -> dict[str, ScopeDefinition]: ...


# --- reading --------------------------------------------------------------------------------------


def get_policy(port: PolicyPort, access: Access, policy_id: str) -> dict[str, Any]:
    return entities.get(RULES, port, access, policy_id)


def list_policies(port: PolicyPort, access: Access, limit: int, next_token: str | None) -> Page:
    """Stored policies by name, only those the caller may see; the default policy, while it is
    virtual, leads the first page."""
    page = entities.list_visible(RULES, port.list_page, access, limit, next_token)
    default = port.virtual_default() if next_token is None else None
    if default is not None and RULES.may_see(access, default):
        return Page(items=[default, *page.items], next_token=page.next_token)
    return page


# --- changing -------------------------------------------------------------------------------------


def create_policy(
    port: PolicyPort, access: Access, actor: Actor, fields: Mapping[str, Any]
) -> dict[str, Any]:
    return entities.create(RULES, port, access, actor, validated(fields))


def update_policy(
    port: PolicyPort,
    access: Access,
    actor: Actor,
    policy_id: str,
    changes: Mapping[str, Any],
    *,
    expected_version: int | None = None,
) -> dict[str, Any]:
    wanted = validated(changes)
    return entities.update(RULES, port, access, actor, policy_id, wanted, expected_version=expected_version)


def delete_policy(
    port: PolicyPort, access: Access, actor: Actor, policy_id: str, *, expected_version: int | None = None
) -> None:
    entities.delete(RULES, port, access, actor, policy_id, expected_version=expected_version)


def validated(fields: Mapping[str, Any]) -> dict[str, Any]:
    """The given fields in their stored form; conditions, actions and mode checked by the domain.

    A 422 names the body field (`body.conditions.max_count`), as the API's other 422s do.
    """
    result = dict(fields)
    with body_fields():
        if "conditions" in fields:
            result["conditions"] = validate_conditions(fields["conditions"]).as_dict()
        if "actions" in fields:
            result["actions"] = sorted(action.value for action in validate_actions(fields["actions"]))
        if "mode" in fields:
            result["mode"] = validate_mode(fields["mode"]).value
    return result


# --- evaluation -----------------------------------------------------------------------------------


def policies_for_images(source: PolicySource) -> PoliciesFor:
    """A `PoliciesFor` that reads the policies and their scopes once, on first use.

    Make one per request or stream batch: the policies are read once for all its images (one Query, one
    BatchGetItem), and a policy changed since is seen by the next one.
    """
    loaded: list[tuple[list[AssurancePolicy], dict[str, ScopeDefinition]]] = []

    def policies_for(image: Mapping[str, Any]) -> list[AssurancePolicy]:
        if not loaded:
            policies = source.load_policies()
            scopes = source.scope_definitions({p.scope for p in policies} - {GLOBAL_SCOPE})
            loaded.append((policies, scopes))
        policies, scopes = loaded[0]
        return applicable(
            policies, image["registry"], image["repository"], sorted(image.get("tags") or ()), scopes
        )

    return policies_for


def policies_used(policies: Iterable[AssurancePolicy]) -> list[dict[str, Any]]:
    """What a decision record keeps of the policies a verdict was computed with."""
    return [{"id": p.id, "version": p.version, "name": p.name} for p in policies]
