"""Managing assurance policies, and finding the policies that apply to an image.

The rules about meaning and access live here (the API models check shapes; the port owns storage and
concurrency). A policy has a scope of its own: a caller sees it with `assurance_policies:read` granted in
that scope or in `global` (else it does not exist for them: 404), and changes it with
`assurance_policies:manage` there — plus `scopes:global` when the scope is `global` — else 403.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Protocol

from riskgate.adapters.dynamo import Page
from riskgate.domain.access import Access, ScopeDefinition
from riskgate.domain.audit import Actor
from riskgate.domain.errors import InvalidInput, NotFound, PermissionDenied
from riskgate.domain.permissions import GLOBAL_SCOPE, Permission
from riskgate.domain.policies import (
    AssurancePolicy,
    applicable,
    validate_actions,
    validate_conditions,
    validate_mode,
)
from riskgate.domain.versions import ensure_version
from riskgate.services.pages import visible_page

READ = Permission.ASSURANCE_POLICIES_READ
MANAGE = Permission.ASSURANCE_POLICIES_MANAGE

# The policies whose scope contains an image, given as its summary (`registry`, `repository`, `tags`):
# what an evaluation of that image uses. The re-evaluator passes its own of the same shape.
PoliciesFor = Callable[[Mapping[str, Any]], Sequence[AssurancePolicy]]


class PolicyPort(Protocol):
    def get_policy(self, policy_id: str) -> dict[str, Any] | None: ...
    def list_policies(self, limit: int, next_token: str | None) -> Page: ...
    def virtual_default(self) -> dict[str, Any] | None: ...
    def create_policy(self, fields: Mapping[str, Any], actor: Actor) -> dict[str, Any]: ...
    def update_policy(
        self,
        policy_id: str,
        changes: Mapping[str, Any],
        actor: Actor,
        check: Callable[[dict[str, Any]], None],
    ) -> dict[str, Any]: ...
    def delete_policy(
        self, policy_id: str, actor: Actor, check: Callable[[dict[str, Any]], None]
    ) -> None: ...


class PolicySource(Protocol):
    def load_policies(self) -> list[AssurancePolicy]: ...
    def scope_definitions(self, scope_ids: set[str]) -> dict[str, ScopeDefinition]: ...


# --- access ---------------------------------------------------------------------------------------


def may_read(access: Access, scope: str) -> bool:
    """Reading needs a grant in the policy's scope or in `global`; not `scopes:global`, which guards
    acting in the global scope: developers must see the policies that judge their images."""
    scopes = access.visible_scope_ids(READ)
    return scopes is None or scope in scopes


def _ensure_may_manage(access: Access, scope: str, doing: str) -> None:
    if not access.may_in_scope(MANAGE, scope):
        needs = " and scopes:global" if scope == GLOBAL_SCOPE else ""
        raise PermissionDenied(
            f"{doing} a policy in the scope {scope} needs assurance_policies:manage there{needs}"
        )


def _check_for(
    access: Access, policy_id: str, new_scope: str | None, expected_version: int | None = None
) -> Callable[[dict[str, Any]], None]:
    """What the caller must be allowed on the policy as read (and on the scope it moves to), and the
    version it must be at when the caller named one."""

    def check(current: dict[str, Any]) -> None:
        if not may_read(access, current["scope"]):
            raise NotFound(f"assurance policy {policy_id} not found")
        _ensure_may_manage(access, current["scope"], "changing")
        if new_scope is not None and new_scope != current["scope"]:
            _ensure_may_manage(access, new_scope, "moving")
        ensure_version(f"assurance policy {policy_id}", current, expected_version)

    return check


# --- reading --------------------------------------------------------------------------------------


def get_policy(port: PolicyPort, access: Access, policy_id: str) -> dict[str, Any]:
    policy = port.get_policy(policy_id)
    if policy is None or not may_read(access, policy["scope"]):
        raise NotFound(f"assurance policy {policy_id} not found")
    return policy


def list_policies(port: PolicyPort, access: Access, limit: int, next_token: str | None) -> Page:
    """Stored policies by name, only those the caller may see; the default policy, while it is
    virtual, leads the first page."""
    page = visible_page(port.list_policies, lambda p: may_read(access, p["scope"]), limit, next_token)
    default = port.virtual_default() if next_token is None else None
    if default is not None and may_read(access, default["scope"]):
        return Page(items=[default, *page.items], next_token=page.next_token)
    return page


# --- changing -------------------------------------------------------------------------------------


def create_policy(
    port: PolicyPort, access: Access, actor: Actor, fields: Mapping[str, Any]
) -> dict[str, Any]:
    wanted = validated(fields)
    _ensure_may_manage(access, wanted["scope"], "creating")
    return port.create_policy(wanted, actor)


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
    check = _check_for(access, policy_id, wanted.get("scope"), expected_version)
    return port.update_policy(policy_id, wanted, actor, check)


def delete_policy(
    port: PolicyPort, access: Access, actor: Actor, policy_id: str, *, expected_version: int | None = None
) -> None:
    port.delete_policy(policy_id, actor, _check_for(access, policy_id, None, expected_version))


def validated(fields: Mapping[str, Any]) -> dict[str, Any]:
    """The given fields in their stored form; conditions, actions and mode checked by the domain.

    A 422 names the body field (`body.conditions.max_count`), as the API's other 422s do.
    """
    result = dict(fields)
    try:
        if "conditions" in fields:
            result["conditions"] = validate_conditions(fields["conditions"]).as_dict()
        if "actions" in fields:
            result["actions"] = sorted(action.value for action in validate_actions(fields["actions"]))
        if "mode" in fields:
            result["mode"] = validate_mode(fields["mode"]).value
    except InvalidInput as error:
        details = [
            {"location": f"body.{detail['field']}", "message": error.message}
            for detail in error.details
            if isinstance(detail, dict) and "field" in detail
        ]
        raise InvalidInput(error.message, details=details or error.details) from error
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
