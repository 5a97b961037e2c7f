"""Managing response policies: who is told of what, where.

The rules about meaning and access live here (the API models check shapes; the port owns storage and
concurrency). A response policy has a scope of its own, as an assurance policy does: a caller sees it with
`response_policies:read` granted in that scope or in `global` (else it does not exist for them: 404), and
changes it with `response_policies:manage` there — plus `scopes:global` when the scope is `global` — else
403.

Each output must name an integration the policy may use: one that exists, that the caller may see
(`integrations:read` in its scope or in `global`) and whose scope contains the policy's (`global`
contains every scope; otherwise the same scope), of the output's type. Else a 422 naming the output
(`body.outputs[1].integration`) — one and the same message whether the integration does not exist, is
hidden from the caller or lies in another scope, so that the answer never tells an integration's
existence, type or scope to someone who may not see it. Only an integration the caller may use is
said to be of another type. The check applies whenever the outputs or the policy's scope change (a
policy moved to another scope keeps only outputs usable there).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, Protocol

from riskgate.adapters.dynamo import Page
from riskgate.domain.access import Access
from riskgate.domain.audit import Actor
from riskgate.domain.errors import InvalidInput, NotFound, PermissionDenied
from riskgate.domain.integrations import integration_scope
from riskgate.domain.permissions import GLOBAL_SCOPE, Permission
from riskgate.domain.response_policies import (
    integration_serves,
    validate_filters,
    validate_outputs,
    validate_trigger,
)
from riskgate.domain.versions import ensure_version
from riskgate.services import integrations as integration_rules
from riskgate.services.integrations import body_fields
from riskgate.services.pages import visible_page

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
    access: Access,
    policy_id: str,
    new_scope: str | None,
    then: Callable[[dict[str, Any]], None] = lambda current: None,
    expected_version: int | None = None,
) -> Check:
    """What the caller must be allowed on the policy as read (and on the scope it moves to), and the
    version it must be at when the caller named one; `then` runs, with the policy as read, once that
    holds."""

    def check(current: dict[str, Any]) -> None:
        if not may_read(access, current["scope"]):
            raise NotFound(f"response policy {policy_id} not found")
        _ensure_may_manage(access, current["scope"], "changing")
        if new_scope is not None and new_scope != current["scope"]:
            _ensure_may_manage(access, new_scope, "moving")
        ensure_version(f"response policy {policy_id}", current, expected_version)
        then(current)

    return check


class OutputRefused(InvalidInput):
    """An output the check refused, in words the caller may see (the write's own refusals are not)."""


def unusable_integration(index: int, name: str) -> OutputRefused:
    """The one 422 for an output whose integration does not exist, is hidden from the caller, or lies
    in a scope that does not contain the policy's: it says nothing that tells these apart."""
    field = f"outputs[{index}].integration"
    problem = f"no integration named {name!r} that this policy may use"
    return OutputRefused(f"{field}: {problem}", details=[{"location": f"body.{field}", "message": problem}])


def _ensure_integrations(
    integrations: IntegrationLookup,
    access: Access,
    policy_scope: str,
    outputs: Sequence[Mapping[str, str]],
) -> None:
    """Each output names an integration the policy may use (see the module's docstring), of its type.
    The write checks existence and type again (for one deleted meanwhile): this check is first."""
    for index, output in enumerate(outputs):
        location = f"body.outputs[{index}].integration"
        found = integrations.get_integration(output["integration"])
        if (
            found is None
            or not integration_rules.may_read(access, integration_scope(found))
            or not integration_serves(integration_scope(found), policy_scope)
        ):
            raise unusable_integration(index, output["integration"])
        if found["type"] != output["output"]:
            # The caller may see this integration: its type is no secret to them.
            raise OutputRefused(
                f"integration {output['integration']} is a {found['type']} integration, "
                f"not {output['output']}",
                details=[{"location": location, "message": f"not a {output['output']} integration"}],
            )


@contextmanager
def _uniform_output_errors(outputs: Sequence[Mapping[str, str]]) -> Iterator[None]:
    """The write's own refusal of an output (its integration deleted, or replaced by one of another
    type, since the check) in the words of the check, which never tell existence or type apart."""
    try:
        yield
    except OutputRefused:
        raise
    except InvalidInput as error:
        for detail in error.details:
            location = detail.get("location") if isinstance(detail, dict) else None
            for index, output in enumerate(outputs):
                if location == f"body.outputs[{index}].integration":
                    raise unusable_integration(index, output["integration"]) from None
        raise


# --- reading --------------------------------------------------------------------------------------


def get_policy(port: ResponsePolicyPort, access: Access, policy_id: str) -> dict[str, Any]:
    policy = port.get_policy(policy_id)
    if policy is None or not may_read(access, policy["scope"]):
        raise NotFound(f"response policy {policy_id} not found")
    return policy


def list_policies(port: ResponsePolicyPort, access: Access, limit: int, next_token: str | None) -> Page:
    """By name, only those the caller may see."""
    return visible_page(port.list_policies, lambda p: may_read(access, p["scope"]), limit, next_token)


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
    _ensure_integrations(integrations, access, wanted["scope"], wanted["outputs"])
    with _uniform_output_errors(wanted["outputs"]):
        return port.create_policy(wanted, actor)


def update_policy(
    port: ResponsePolicyPort,
    integrations: IntegrationLookup,
    access: Access,
    actor: Actor,
    policy_id: str,
    changes: Mapping[str, Any],
    *,
    expected_version: int | None = None,
) -> dict[str, Any]:
    wanted = validated(changes)

    def outputs_usable(current: dict[str, Any]) -> None:
        # New outputs, or the old ones in a new scope: either way, each must serve the policy as it will be.
        scope = wanted.get("scope", current["scope"])
        if "outputs" in wanted or scope != current["scope"]:
            outputs = wanted.get("outputs", current.get("outputs") or [])
            _ensure_integrations(integrations, access, scope, outputs)

    check = _check_for(access, policy_id, wanted.get("scope"), outputs_usable, expected_version)
    with _uniform_output_errors(wanted.get("outputs") or []):
        return port.update_policy(policy_id, wanted, actor, check)


def set_enabled(
    port: ResponsePolicyPort,
    access: Access,
    actor: Actor,
    policy_id: str,
    enabled: bool,
    *,
    expected_version: int | None = None,
) -> dict[str, Any]:
    check = _check_for(access, policy_id, None, expected_version=expected_version)
    return port.set_enabled(policy_id, enabled, actor, check)


def delete_policy(
    port: ResponsePolicyPort,
    access: Access,
    actor: Actor,
    policy_id: str,
    *,
    expected_version: int | None = None,
) -> None:
    port.delete_policy(
        policy_id, actor, _check_for(access, policy_id, None, expected_version=expected_version)
    )


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
