"""The `If-Match` header of every change to a versioned entity (see `riskgate.domain.versions`)."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Header

IfMatch = Annotated[
    str | None,
    Header(
        alias="If-Match",
        pattern=r'^(\*|(W/)?"?[0-9]{1,9}"?)$',
        description=(
            "The `version` you read (as a number, or quoted like an ETag): the change applies only to that "
            "version, else 409. Without it, or with `*`, the change applies to the current version."
        ),
    ),
]


def expected_version(if_match: str | None) -> int | None:
    """The version an `If-Match` value names (its shape is checked by the parameter's pattern)."""
    if if_match is None or if_match == "*":
        return None
    return int(if_match.removeprefix("W/").strip('"'))
