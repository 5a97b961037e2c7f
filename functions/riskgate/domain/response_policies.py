"""Response policies as data: who is told of what, where.

A response policy has a scope, one trigger and one or more outputs, each naming an integration of the
output's type; optional filters narrow when it fires. This module holds the policy, its validation
(a 422 names the field, e.g. `outputs[1].integration`) and what the filters mean. That each output's
integration exists, may be used by the caller and the policy (`integration_serves`) and has the output's
type is checked against the store by the service. No AWS.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from fnmatch import fnmatchcase
from typing import Any

from riskgate.domain.errors import InvalidInput
from riskgate.domain.findings import Severity
from riskgate.domain.integrations import NAME_PATTERN, IntegrationType
from riskgate.domain.permissions import GLOBAL_SCOPE


class ResponseTrigger(StrEnum):
    SENSITIVE_DATA = "sensitive_data"
    NON_COMPLIANT = "non_compliant"
    CRITICAL_VULNERABILITIES = "critical_vulnerabilities"
    MALWARE = "malware"
    RISK_ACCEPTANCE_EXPIRATION = "risk_acceptance_expiration"
    RISK_ACCEPTANCE_EXPIRING = "risk_acceptance_expiring"


# An output is a channel type; the integration it names must be of that type.
OutputType = IntegrationType

MAX_OUTPUTS = 10
MAX_REPOSITORY_GLOBS = 50
_INTEGRATION_NAME = re.compile(NAME_PATTERN)
_FILTER_NAMES = ("severity_at_least", "repositories", "fixable_only")


@dataclass(frozen=True, slots=True)
class ResponseFilters:
    """What narrows when a policy fires; a field left at its default narrows nothing."""

    # Only findings at or above this severity count.
    severity_at_least: Severity | None = None
    # Only images whose repository (`team-a/*`) or registry and repository (`ghcr.io/team-a/*`) matches
    # one of these globs; none: every repository.
    repositories: tuple[str, ...] = ()
    # Only vulnerabilities that have a fixed version count.
    fixable_only: bool = False

    @classmethod
    def from_dict(cls, raw: object) -> ResponseFilters:
        return validate_filters(raw)

    def as_dict(self) -> dict[str, Any]:
        """Only what is set; `from_dict` reads it back."""
        result: dict[str, Any] = {}
        if self.severity_at_least is not None:
            result["severity_at_least"] = self.severity_at_least.value
        if self.repositories:
            result["repositories"] = list(self.repositories)
        if self.fixable_only:
            result["fixable_only"] = True
        return result

    def covers_repository(self, registry: str, repository: str) -> bool:
        return not self.repositories or any(
            fnmatchcase(repository, glob) or fnmatchcase(f"{registry}/{repository}", glob)
            for glob in self.repositories
        )


@dataclass(frozen=True, slots=True)
class Output:
    output: OutputType
    integration: str

    def as_dict(self) -> dict[str, str]:
        return {"output": self.output.value, "integration": self.integration}


@dataclass(frozen=True, slots=True)
class ResponsePolicy:
    id: str
    name: str
    description: str
    scope: str
    trigger: ResponseTrigger
    outputs: tuple[Output, ...]
    filters: ResponseFilters
    enabled: bool
    version: int

    @classmethod
    def from_fields(cls, fields: Mapping[str, Any]) -> ResponsePolicy:
        """A stored policy's fields (as the store reads them) as the domain's policy."""
        return cls(
            id=fields["id"],
            name=fields["name"],
            description=fields.get("description") or "",
            scope=fields["scope"],
            trigger=ResponseTrigger(fields["trigger"]),
            outputs=validate_outputs(fields.get("outputs") or []),
            filters=ResponseFilters.from_dict(fields.get("filters") or {}),
            enabled=bool(fields.get("enabled", True)),
            version=int(fields.get("version") or 1),
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "description": self.description,
            "scope": self.scope,
            "trigger": self.trigger.value,
            "outputs": [output.as_dict() for output in self.outputs],
            "filters": self.filters.as_dict(),
            "enabled": self.enabled,
            "version": self.version,
        }


def integration_serves(integration_scope: str, policy_scope: str) -> bool:
    """Whether a policy in `policy_scope` may send through an integration of `integration_scope`: one in
    `global` serves every policy, any other only the policies of its own scope (so that one team's
    policy never sends, signed with its secret, through another team's integration)."""
    return integration_scope in (GLOBAL_SCOPE, policy_scope)


# --- validation, for the API ------------------------------------------------------------------------


def validate_trigger(raw: object) -> ResponseTrigger:
    if isinstance(raw, str) and raw in set(ResponseTrigger):
        return ResponseTrigger(raw)
    known = ", ".join(trigger.value for trigger in ResponseTrigger)
    raise _invalid("trigger", f"{raw!r} is not a trigger; known: {known}")


def validate_outputs(raw: object) -> tuple[Output, ...]:
    """1 to 10 outputs, each `{"output", "integration"}`, no integration named twice."""
    if not isinstance(raw, list) or not raw:
        raise _invalid("outputs", f"must be a list of 1 to {MAX_OUTPUTS} outputs")
    if len(raw) > MAX_OUTPUTS:
        raise _invalid("outputs", f"has {len(raw)} outputs; at most {MAX_OUTPUTS}")
    outputs: list[Output] = []
    for index, item in enumerate(raw):
        where = f"outputs[{index}]"
        if not isinstance(item, dict):
            raise _invalid(where, 'must be an object {"output", "integration"}')
        unknown = sorted(str(key) for key in item if key not in ("output", "integration"))
        if unknown:
            raise _invalid(f"{where}.{unknown[0]}", "is not an output field; known: output, integration")
        kind = item.get("output")
        if not isinstance(kind, str) or kind not in set(OutputType):
            known = ", ".join(output.value for output in OutputType)
            raise _invalid(f"{where}.output", f"{kind!r} is not an output; known: {known}")
        name = item.get("integration")
        if not isinstance(name, str) or not _INTEGRATION_NAME.match(name):
            raise _invalid(f"{where}.integration", f"{name!r} is not an integration name")
        if any(output.integration == name for output in outputs):
            raise _invalid(f"{where}.integration", f"names {name} a second time")
        outputs.append(Output(OutputType(kind), name))
    return tuple(outputs)


def validate_filters(raw: object) -> ResponseFilters:
    """A `filters` object; a field given as null counts as not given."""
    if not isinstance(raw, dict):
        raise _invalid("filters", "must be an object")
    unknown = sorted(str(key) for key in raw if key not in _FILTER_NAMES)
    if unknown:
        raise _invalid(f"filters.{unknown[0]}", f"is not a filter; known: {', '.join(_FILTER_NAMES)}")
    given = {key: value for key, value in raw.items() if value is not None}
    return ResponseFilters(
        severity_at_least=_severity(given),
        repositories=_globs(given),
        fixable_only=_flag(given),
    )


def _invalid(field: str, problem: str) -> InvalidInput:
    return InvalidInput(f"{field} {problem}", details=[{"field": field}])


def _severity(given: dict[str, Any]) -> Severity | None:
    if "severity_at_least" not in given:
        return None
    value = given["severity_at_least"]
    word = value.strip().lower() if isinstance(value, str) else None
    if word not in set(Severity):
        known = ", ".join(severity.value for severity in Severity)
        raise _invalid("filters.severity_at_least", f"{value!r} is not a severity; known: {known}")
    return Severity(word)


def _globs(given: dict[str, Any]) -> tuple[str, ...]:
    value = given.get("repositories", [])
    if not isinstance(value, list):
        raise _invalid("filters.repositories", "must be a list of globs")
    if len(value) > MAX_REPOSITORY_GLOBS:
        raise _invalid("filters.repositories", f"has {len(value)} globs; at most {MAX_REPOSITORY_GLOBS}")
    globs: list[str] = []
    for index, item in enumerate(value):
        if not isinstance(item, str) or not item.strip():
            raise _invalid(f"filters.repositories[{index}]", f"must be a non-empty string, not {item!r}")
        if item.strip() not in globs:
            globs.append(item.strip())
    return tuple(globs)


def _flag(given: dict[str, Any]) -> bool:
    value = given.get("fixable_only", False)
    if not isinstance(value, bool):
        raise _invalid("filters.fixable_only", f"must be true or false, not {value!r}")
    return value
