"""Assurance policies as data: what makes an image non-compliant, where, and what follows.

A policy fails when any of its set conditions holds; `riskgate.domain.evaluation.evaluate` decides
that. This module holds the policies themselves, the built-in default one, which policies apply to an
image, and the validation the API uses on a policy's `conditions`, `actions` and `mode`. No AWS.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from riskgate.domain.access import GLOBAL, ScopeDefinition
from riskgate.domain.errors import InvalidInput
from riskgate.domain.findings import Severity
from riskgate.domain.permissions import GLOBAL_SCOPE


class PolicyMode(StrEnum):
    ENFORCE = "enforce"
    # Evaluated and reported in verdicts, but changes neither status nor block: to try a policy out.
    DRY_RUN = "dry_run"


class PolicyAction(StrEnum):
    BLOCK_CI = "block_ci"


# The conditions a policy can set, in the order a verdict reports them.
CONDITION_NAMES: tuple[str, ...] = (
    "severity_at_least",
    "cvss_at_least",
    "vulnerability_ids",
    "packages",
    "malware",
    "sensitive_data",
    "misconfiguration_severity_at_least",
)
# Fields that refine conditions but are not conditions themselves.
_MODIFIERS = ("max_count", "fixable_only")
# The conditions `fixable_only` narrows: those about vulnerabilities.
VULNERABILITY_CONDITIONS = frozenset({"severity_at_least", "cvss_at_least", "vulnerability_ids", "packages"})
_CVSS_MAX = 10.0
# CVSS scores are given to one decimal: a threshold between 0 and 0.1 means nothing more than 0.1, and one
# as small as 1e-300 is a number DynamoDB cannot store (its smallest is 1e-130).
_CVSS_STEP = 0.1
# More findings than any image has; DynamoDB numbers stop at 38 digits, Python's integers do not.
_MAX_COUNT_LIMIT = 1_000_000


@dataclass(frozen=True, slots=True)
class PolicyConditions:
    """A policy's conditions; a field left at its default is not set. Build with `from_dict`."""

    # More than `max_count` vulnerabilities at or above this severity.
    severity_at_least: Severity | None = None
    max_count: int = 0
    # Any vulnerability with a CVSS base score at or above this.
    cvss_at_least: float | None = None
    # Count only vulnerabilities that have a fixed version (in the vulnerability conditions).
    fixable_only: bool = False
    # A denylist: any of these vulnerability ids present (compared ignoring case).
    vulnerability_ids: tuple[str, ...] = ()
    # Any vulnerable package whose name matches one of these globs (ignoring case).
    packages: tuple[str, ...] = ()
    malware: bool = False
    sensitive_data: bool = False
    # Any failed configuration check at or above this severity.
    misconfiguration_severity_at_least: Severity | None = None

    @classmethod
    def from_dict(cls, raw: object) -> PolicyConditions:
        """The conditions of an API body or a stored item; `InvalidInput` naming the field if wrong."""
        return validate_conditions(raw)

    def set_conditions(self) -> tuple[str, ...]:
        """Names of the conditions this policy sets, in `CONDITION_NAMES` order."""
        return tuple(name for name in CONDITION_NAMES if _is_set(getattr(self, name)))

    def as_dict(self) -> dict[str, Any]:
        """Only what is set (and `max_count` with `severity_at_least`); `from_dict` reads it back."""
        result: dict[str, Any] = {}
        for name in self.set_conditions():
            value = getattr(self, name)
            result[name] = list(value) if isinstance(value, tuple) else value
            if name == "severity_at_least":
                result["max_count"] = self.max_count
        if self.fixable_only:
            result["fixable_only"] = True
        return result


def _is_set(value: object) -> bool:
    return value is not None and value is not False and value != ()


@dataclass(frozen=True, slots=True)
class AssurancePolicy:
    id: str
    name: str
    description: str
    scope: str
    enabled: bool
    mode: PolicyMode
    conditions: PolicyConditions
    actions: frozenset[PolicyAction]
    version: int

    @property
    def blocks_ci(self) -> bool:
        return PolicyAction.BLOCK_CI in self.actions

    @property
    def enforced(self) -> bool:
        return self.mode is PolicyMode.ENFORCE

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "description": self.description,
            "scope": self.scope,
            "enabled": self.enabled,
            "mode": self.mode.value,
            "conditions": self.conditions.as_dict(),
            "actions": sorted(action.value for action in self.actions),
            "version": self.version,
        }


DEFAULT_POLICY_ID = "default"
# The name verdicts carried before policies were data; kept so verdicts read the same.
DEFAULT_POLICY_NAME = "Default: critical vulnerabilities, malware, sensitive data"

# Today's built-in rule as a policy; it exists from the first start and can be edited like any other.
DEFAULT_POLICY = AssurancePolicy(
    id=DEFAULT_POLICY_ID,
    name=DEFAULT_POLICY_NAME,
    description=(
        "Any critical vulnerability, any malware or any sensitive data makes an image non-compliant "
        "and blocks the CI build."
    ),
    scope=GLOBAL_SCOPE,
    enabled=True,
    mode=PolicyMode.ENFORCE,
    conditions=PolicyConditions(
        severity_at_least=Severity.CRITICAL, max_count=0, malware=True, sensitive_data=True
    ),
    actions=frozenset({PolicyAction.BLOCK_CI}),
    version=1,
)


def applicable(
    policies: Iterable[AssurancePolicy],
    registry: str,
    repository: str,
    tags: Iterable[str],
    scopes: Mapping[str, ScopeDefinition],
) -> list[AssurancePolicy]:
    """The enabled policies whose scope contains the image, in the given order.

    A policy whose scope no longer exists applies to nothing, as a binding to a deleted scope grants
    nothing: a missing scope must never make a policy apply more widely.
    """
    tags = tuple(tags)
    result = []
    for policy in policies:
        scope = GLOBAL if policy.scope == GLOBAL_SCOPE else scopes.get(policy.scope)
        if policy.enabled and scope is not None and scope.contains_image(registry, repository, tags):
            result.append(policy)
    return result


# --- validation, for the API ------------------------------------------------------------------------


def validate_conditions(raw: object) -> PolicyConditions:
    """A `conditions` object as `PolicyConditions`. A field given as null counts as not given."""
    if not isinstance(raw, dict):
        raise _invalid("conditions", "must be an object")
    unknown = sorted(str(key) for key in raw if key not in CONDITION_NAMES and key not in _MODIFIERS)
    if unknown:
        raise _invalid(
            f"conditions.{unknown[0]}",
            f"is not a condition; known: {', '.join((*CONDITION_NAMES, *_MODIFIERS))}",
        )
    given = {key: value for key, value in raw.items() if value is not None}
    conditions = PolicyConditions(
        severity_at_least=_severity(given, "severity_at_least"),
        max_count=_max_count(given),
        cvss_at_least=_cvss(given),
        fixable_only=_flag(given, "fixable_only"),
        vulnerability_ids=_texts(given, "vulnerability_ids"),
        packages=_texts(given, "packages"),
        malware=_flag(given, "malware"),
        sensitive_data=_flag(given, "sensitive_data"),
        misconfiguration_severity_at_least=_severity(given, "misconfiguration_severity_at_least"),
    )
    chosen = conditions.set_conditions()
    if not chosen:
        raise _invalid("conditions", f"sets no condition; set at least one of {', '.join(CONDITION_NAMES)}")
    if "max_count" in given and conditions.severity_at_least is None:
        raise _invalid("conditions.max_count", "applies only with severity_at_least")
    if conditions.fixable_only and not VULNERABILITY_CONDITIONS.intersection(chosen):
        raise _invalid(
            "conditions.fixable_only",
            f"applies only with a vulnerability condition ({', '.join(sorted(VULNERABILITY_CONDITIONS))})",
        )
    return conditions


def validate_actions(raw: object) -> frozenset[PolicyAction]:
    """A list of action names, each one of `PolicyAction`; an empty list only marks non-compliance."""
    if not isinstance(raw, list):
        raise _invalid("actions", "must be a list")
    actions = set()
    for value in raw:
        try:
            actions.add(PolicyAction(value))
        except ValueError:
            known = ", ".join(action.value for action in PolicyAction)
            raise _invalid("actions", f"{value!r} is not an action; known: {known}") from None
    return frozenset(actions)


def validate_mode(raw: object) -> PolicyMode:
    if isinstance(raw, str) and raw in set(PolicyMode):
        return PolicyMode(raw)
    known = ", ".join(mode.value for mode in PolicyMode)
    raise _invalid("mode", f"{raw!r} is not a mode; known: {known}")


def _invalid(field: str, problem: str) -> InvalidInput:
    return InvalidInput(f"{field} {problem}", details=[{"field": field}])


def _severity(given: dict[str, Any], name: str) -> Severity | None:
    if name not in given:
        return None
    value = given[name]
    word = value.strip().lower() if isinstance(value, str) else None
    if word not in set(Severity):
        known = ", ".join(severity.value for severity in Severity)
        raise _invalid(f"conditions.{name}", f"{value!r} is not a severity; known: {known}")
    return Severity(word)


def _max_count(given: dict[str, Any]) -> int:
    value = given.get("max_count", 0)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= _MAX_COUNT_LIMIT:
        raise _invalid(
            "conditions.max_count", f"must be a whole number from 0 to {_MAX_COUNT_LIMIT}, not {value!r}"
        )
    return value


def _cvss(given: dict[str, Any]) -> float | None:
    if "cvss_at_least" not in given:
        return None
    value = given["cvss_at_least"]
    # NaN and ±Infinity compare false with every score: such a condition would never hold, silently.
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or not (value == 0 or _CVSS_STEP <= value <= _CVSS_MAX)
    ):
        raise _invalid("conditions.cvss_at_least", f"must be 0 or a number from 0.1 to 10, not {value!r}")
    return float(value)


def _flag(given: dict[str, Any], name: str) -> bool:
    value = given.get(name, False)
    if not isinstance(value, bool):
        raise _invalid(f"conditions.{name}", f"must be true or false, not {value!r}")
    return value


def _texts(given: dict[str, Any], name: str) -> tuple[str, ...]:
    value = given.get(name, [])
    if not isinstance(value, list):
        raise _invalid(f"conditions.{name}", "must be a list of strings")
    texts: list[str] = []
    for index, item in enumerate(value):
        if not isinstance(item, str) or not item.strip():
            raise _invalid(f"conditions.{name}[{index}]", f"must be a non-empty string, not {item!r}")
        if item.strip() not in texts:
            texts.append(item.strip())
    return tuple(texts)
