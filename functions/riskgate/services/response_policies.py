"""Managing response policies: who is told of what, where.

The rules about meaning and access live here (the API models check shapes; the port owns storage and
concurrency). A response policy is a managed entity with a scope of its own, as an assurance policy is
(riskgate.services.entities): a caller sees it with
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

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, Protocol

from riskgate.adapters.dynamo import Page
from riskgate.domain.access import Access
from riskgate.domain.audit import Actor
from riskgate.domain.errors import InvalidInput
from riskgate.domain.integrations import integration_scope
from riskgate.domain.permissions import Permission
from riskgate.domain.response_policies import (
    integration_serves,
    validate_filters,
    validate_outputs,
    validate_trigger,
)
from riskgate.services import entities
from riskgate.services import integrations as integration_rules
from riskgate.services.entities import Check, EntityPort, EntityRules, body_fields

RULES = EntityRules(
    what="response policy",
    one="a response policy",
    read=Permission.RESPONSE_POLICIES_READ,
    manage=Permission.RESPONSE_POLICIES_MANAGE,
)


class ResponsePolicyPort(EntityPort, Protocol):
    def set_enabled(self, policy_id: str, enabled: bool, actor: Actor, check: Check) -> dict[str, Any]: ...


class IntegrationLookup(Protocol):
    def get_integration(self, name: str) -> dict[str, Any] | None: ...


def may_read(access: Access, scope: str) -> bool:
    """A grant in the policy's scope or in `global` (a notification is seen as its policy)."""
    return RULES.may_read(access, scope)


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
            or not integration_rules.RULES.may_see(access, found)
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
    return entities.get(RULES, port, access, policy_id)


def list_policies(port: ResponsePolicyPort, access: Access, limit: int, next_token: str | None) -> Page:
    """By name, only those the caller may see."""
    return entities.list_visible(RULES, port.list_page, access, limit, next_token)


# --- changing -------------------------------------------------------------------------------------


def create_policy(
    port: ResponsePolicyPort,
    integrations: IntegrationLookup,
    access: Access,
    actor: Actor,
    fields: Mapping[str, Any],
) -> dict[str, Any]:
    wanted = validated(fields)
    RULES.ensure_may_manage(access, wanted["scope"], "creating")
    _ensure_integrations(integrations, access, wanted["scope"], wanted["outputs"])
    with _uniform_output_errors(wanted["outputs"]):
        return port.create(wanted, actor)


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

    with _uniform_output_errors(wanted.get("outputs") or []):
        return entities.update(
            RULES,
            port,
            access,
            actor,
            policy_id,
            wanted,
            expected_version=expected_version,
            then=outputs_usable,
        )


def set_enabled(
    port: ResponsePolicyPort,
    access: Access,
    actor: Actor,
    policy_id: str,
    enabled: bool,
    *,
    expected_version: int | None = None,
) -> dict[str, Any]:
    check = RULES.check_for(access, policy_id, expected_version=expected_version)
    return port.set_enabled(policy_id, enabled, actor, check)


def delete_policy(
    port: ResponsePolicyPort,
    access: Access,
    actor: Actor,
    policy_id: str,
    *,
    expected_version: int | None = None,
) -> None:
    entities.delete(RULES, port, access, actor, policy_id, expected_version=expected_version)


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
