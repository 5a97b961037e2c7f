"""The API Lambda: wiring only. Routes live in the routes_* modules, errors map in errors.py."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from riskgate.handlers.api.app import app

logger = Logger()


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(read_bodies_as_json(event), context)


def read_bodies_as_json(event: dict[str, Any]) -> dict[str, Any]:
    """The API speaks JSON whatever Content-Type says (POST /v1/scans reads its body raw anyway).

    `curl -d` labels a JSON body as a form, which Powertools would otherwise parse as form fields.
    """
    for field, value in (("headers", "application/json"), ("multiValueHeaders", ["application/json"])):
        headers = event.get(field) or {}
        for name in list(headers):
            if name.lower() == "content-type":
                headers[name] = value
    return event
