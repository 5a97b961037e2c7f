"""Managing response policies: who is told of what, where.

The rules about meaning and access live here (the API models check shapes; the port owns storage and
concurrency). A response policy has a scope of its own, as an assurance policy does: a caller sees it with
`response_policies:read` granted in that scope or in `global` (else it does not exist for them: 404), and
changes it with `response_policies:manage` there — plus `scopes:global` when the scope is `global` — else
403. Each output must name an existing integration of the output's type (else 422 naming the output).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

from riskgate.adapters.dynamo import Page
from riskgate.domain.access import Access
from riskgate.domain.audit import Actor
from riskgate.domain.errors import InvalidInput, NotFound, PermissionDenied
from riskgate.domain.permissions import GLOBAL_SCOPE, Permission
from riskgate.domain.response_policies import validate_filters, validate_outputs, validate_trigger
from riskgate.services.integrations import body_fields

READ = Permission.RESPONSE_POLICIES_READ
MANAGE = Permission.RESPONSE_POLICIES_MANAGE

Check = Callable[[dict[str, Any]], None]


class ResponsePolicyPort(Protocol):
    def get_policy(self, policy_id: str) -> dict[str, Any] | None: ...
    def list_policies(self, limit: int, next_token: str | None) -> Page: ...
    def create_policy(self, fields: Mapping[str, Any], actor: Actor) -> dict[str, Any]: ...
    def update_policy(
        self, policy_id: str, changes: Mapping[str, Any], actor: Actor, check: Check
    ) -> dict[str, Any]: ...
    def set_enabled(self, policy_id: str, enabled: bool, actor: Actor, check: Check) -> dict[str, Any]: ...
    def delete_policy(self, policy_id: str, actor: Actor, check: Check) -> None: ...


class IntegrationLookup(Protocol):
    def get_integration(self, name: str) -> dict[str, Any] | None: ...


# --- access ---------------------------------------------------------------------------------------


def may_read(access: Access, scope: str) -> bool:
    """Reading needs a grant in the policy's scope or in `global`; not `scopes:global`, which guards
    acting in the global scope."""
    scopes = access.visible_scope_ids(READ)
    return scopes is None or scope in scopes


def _ensure_may_manage(access: Access, scope: str, doing: str) -> None:
    if not access.may_in_scope(MANAGE, scope):
        needs = " and scopes:global" if scope == GLOBAL_SCOPE else ""
        raise PermissionDenied(
            f"{doing} a response policy in the scope {scope} needs response_policies:manage there{needs}"
        )


def _check_for(
    access: Access, policy_id: str, new_scope: str | None, then: Callable[[], None] = lambda: None
) -> Check:
    """What the caller must be allowed on the policy as read (and on the scope it moves to); `then`
    runs once that holds."""

    def check(current: dict[str, Any]) -> None:
        if not may_read(access, current["scope"]):
            raise NotFound(f"response policy {policy_id} not found")
        _ensure_may_manage(access, current["scope"], "changing")
        if new_scope is not None and new_scope != current["scope"]:
            _ensure_may_manage(access, new_scope, "moving")
        then()

    return check


def _ensure_integrations(integrations: IntegrationLookup, outputs: Sequence[Mapping[str, str]]) -> None:
    """Each output names an existing integration of its type. The write checks it again (the
    integration's item must exist with that type): this check is for the caller's sake, first."""
    for index, output in enumerate(outputs):
        location = f"body.outputs[{index}].integration"
        found = integrations.get_integration(output["integration"])
        if found is None:
            raise InvalidInput(
                f"integration {output['integration']} does not exist",
                details=[{"location": location, "message": "unknown integration"}],
            )
        if found["type"] != output["output"]:
            raise InvalidInput(
                f"integration {output['integration']} is a {found['type']} integration, "
                f"not {output['output']}",
                details=[{"location": location, "message": f"not a {output['output']} integration"}],
            )


# --- reading --------------------------------------------------------------------------------------


def get_policy(port: ResponsePolicyPort, access: Access, policy_id: str) -> dict[str, Any]:
    policy = port.get_policy(policy_id)
    if policy is None or not may_read(access, policy["scope"]):
        raise NotFound(f"response policy {policy_id} not found")
    return policy


def list_policies(port: ResponsePolicyPort, access: Access, limit: int, next_token: str | None) -> Page:
    """By name, only those the caller may see."""
    page = port.list_policies(limit, next_token)
    return Page(items=[p for p in page.items if may_read(access, p["scope"])], next_token=page.next_token)


# --- changing -------------------------------------------------------------------------------------


def create_policy(
    port: ResponsePolicyPort,
    integrations: IntegrationLookup,
    access: Access,
    actor: Actor,
    fields: Mapping[str, Any],
) -> dict[str, Any]:
    wanted = validated(fields)
    _ensure_may_manage(access, wanted["scope"], "creating")
    _ensure_integrations(integrations, wanted["outputs"])
    return port.create_policy(wanted, actor)


def update_policy(
    port: ResponsePolicyPort,
    integrations: IntegrationLookup,
    access: Access,
    actor: Actor,
    policy_id: str,
    changes: Mapping[str, Any],
) -> dict[str, Any]:
    wanted = validated(changes)

    def outputs_exist() -> None:
        if "outputs" in wanted:
            _ensure_integrations(integrations, wanted["outputs"])

    check = _check_for(access, policy_id, wanted.get("scope"), outputs_exist)
    return port.update_policy(policy_id, wanted, actor, check)


def set_enabled(
    port: ResponsePolicyPort, access: Access, actor: Actor, policy_id: str, enabled: bool
) -> dict[str, Any]:
    return port.set_enabled(policy_id, enabled, actor, _check_for(access, policy_id, None))


def delete_policy(port: ResponsePolicyPort, access: Access, actor: Actor, policy_id: str) -> None:
    port.delete_policy(policy_id, actor, _check_for(access, policy_id, None))


def validated(fields: Mapping[str, Any]) -> dict[str, Any]:
    """The given fields in their stored form; trigger, outputs and filters checked by the domain.

    A 422 names the body field (`body.outputs[1].output`), as the API's other 422s do.
    """
    result = dict(fields)
    with body_fields():
        if "trigger" in fields:
            result["trigger"] = validate_trigger(fields["trigger"]).value
        if "outputs" in fields:
            result["outputs"] = [output.as_dict() for output in validate_outputs(fields["outputs"])]
        if "filters" in fields:
            result["filters"] = validate_filters(fields["filters"] or {}).as_dict()
    return result
