"""Response policies as data: trigger, outputs and filters, and their validation."""

from __future__ import annotations

from typing import Any

import pytest

from riskgate.domain.errors import InvalidInput
from riskgate.domain.findings import Severity
from riskgate.domain.integrations import IntegrationType
from riskgate.domain.response_policies import (
    MAX_OUTPUTS,
    Output,
    ResponseFilters,
    ResponsePolicy,
    ResponseTrigger,
    validate_filters,
    validate_outputs,
    validate_trigger,
)

MAIL_OUTPUT = {"output": "email", "integration": "ops-mail"}


def field_of(error: pytest.ExceptionInfo[InvalidInput]) -> str:
    (detail,) = error.value.details
    field: str = detail["field"]
    return field


def test_the_six_triggers() -> None:
    assert {trigger.value for trigger in ResponseTrigger} == {
        "sensitive_data",
        "non_compliant",
        "critical_vulnerabilities",
        "malware",
        "risk_acceptance_expiration",
        "risk_acceptance_expiring",
    }
    assert validate_trigger("malware") is ResponseTrigger.MALWARE
    with pytest.raises(InvalidInput) as error:
        validate_trigger("new_image")
    assert field_of(error) == "trigger"


def test_outputs_name_an_integration_each() -> None:
    outputs = validate_outputs(
        [{"output": "email", "integration": "ops-mail"}, {"output": "webhook", "integration": "ops.hook_2"}]
    )
    assert outputs == (
        Output(IntegrationType.EMAIL, "ops-mail"),
        Output(IntegrationType.WEBHOOK, "ops.hook_2"),
    )
    assert [output.as_dict() for output in outputs] == [
        MAIL_OUTPUT,
        {"output": "webhook", "integration": "ops.hook_2"},
    ]


@pytest.mark.parametrize(
    ("outputs", "field"),
    [
        ([], "outputs"),
        ("email", "outputs"),
        ([{"output": "email", "integration": f"i{n}"} for n in range(MAX_OUTPUTS + 1)], "outputs"),
        (["email"], "outputs[0]"),
        ([{"output": "pager", "integration": "x"}], "outputs[0].output"),
        ([{"output": "email"}], "outputs[0].integration"),
        ([{"output": "email", "integration": "no spaces"}], "outputs[0].integration"),
        ([{"output": "email", "integration": "x", "to": "y"}], "outputs[0].to"),
        (
            [{"output": "email", "integration": "x"}, {"output": "email", "integration": "x"}],
            "outputs[1].integration",
        ),
    ],
)
def test_invalid_outputs_name_the_field(outputs: Any, field: str) -> None:
    with pytest.raises(InvalidInput) as error:
        validate_outputs(outputs)
    assert field_of(error) == field


def test_filters_keep_only_what_is_set_and_narrow_by_repository() -> None:
    assert validate_filters({}) == ResponseFilters()
    assert ResponseFilters().as_dict() == {}
    filters = validate_filters(
        {
            "severity_at_least": "HIGH",
            "repositories": ["team-a/*", "ghcr.io/team-b/api", "team-a/*"],
            "fixable_only": True,
        }
    )
    assert filters.severity_at_least is Severity.HIGH
    assert filters.as_dict() == {
        "severity_at_least": "high",
        "repositories": ["team-a/*", "ghcr.io/team-b/api"],
        "fixable_only": True,
    }
    assert validate_filters(filters.as_dict()) == filters
    assert validate_filters({"severity_at_least": None, "repositories": None}) == ResponseFilters()
    assert filters.covers_repository("ghcr.io", "team-a/web")
    assert filters.covers_repository("ghcr.io", "team-b/api")
    assert not filters.covers_repository("docker.io", "team-b/api")
    assert ResponseFilters().covers_repository("any", "thing")


@pytest.mark.parametrize(
    ("filters", "field"),
    [
        ([], "filters"),
        ({"severity_at_least": "severe"}, "filters.severity_at_least"),
        ({"repositories": "team-a/*"}, "filters.repositories"),
        ({"repositories": ["ok/*", " "]}, "filters.repositories[1]"),
        ({"fixable_only": "yes"}, "filters.fixable_only"),
        ({"registries": ["ghcr.io"]}, "filters.registries"),
    ],
)
def test_invalid_filters_name_the_field(filters: Any, field: str) -> None:
    with pytest.raises(InvalidInput) as error:
        validate_filters(filters)
    assert field_of(error) == field


def test_a_stored_policy_reads_back_as_the_domains() -> None:
    fields = {
        "id": "rsp-0123456789abcdef",
        "name": "Tell ops",
        "description": "",
        "scope": "global",
        "trigger": "non_compliant",
        "outputs": [{"output": "email", "integration": "ops-mail"}],
        "filters": {"repositories": ["team-a/*"]},
        "enabled": False,
        "version": 3,
        "created_at": "2026-01-01T00:00:00Z",
    }
    policy = ResponsePolicy.from_fields(fields)
    assert policy.trigger is ResponseTrigger.NON_COMPLIANT
    assert policy.outputs == (Output(IntegrationType.EMAIL, "ops-mail"),)
    assert policy.enabled is False
    assert policy.as_dict() == {key: value for key, value in fields.items() if key != "created_at"}
