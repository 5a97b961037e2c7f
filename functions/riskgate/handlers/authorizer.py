"""The Lambda authorizer: bearer token → the caller's identity and role bindings. Wiring only.

The policy allows the whole API because API Gateway caches it per token for every route; each route
then checks its own permission against the bindings passed in the context.
Tokens never reach the logs: the event is not logged and only the token's id is.
"""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.data_classes import event_source
from aws_lambda_powertools.utilities.data_classes.api_gateway_authorizer_event import (
    APIGatewayAuthorizerRequestEvent,
    APIGatewayAuthorizerResponse,
)
from aws_lambda_powertools.utilities.typing import LambdaContext

from riskgate.adapters.audit_log import record_failed_authentication
from riskgate.adapters.dynamo import now_iso
from riskgate.adapters.store import default_store
from riskgate.auth.tokens import bearer_secret, looks_like_token
from riskgate.clock import system_now
from riskgate.domain.audit import FailedAuthentication
from riskgate.settings import get_settings

logger = Logger()

# API Gateway turns exactly this message into a 401 (its UNAUTHORIZED gateway response).
UNAUTHORIZED = "Unauthorized"


@logger.inject_lambda_context
@event_source(data_class=APIGatewayAuthorizerRequestEvent)
def handler(event: APIGatewayAuthorizerRequestEvent, context: LambdaContext) -> dict[str, Any]:
    store = default_store()
    header = event.headers.get("authorization") or event.headers.get("Authorization")
    secret = bearer_secret(header)
    principal = store.principal_for_token(secret) if secret and looks_like_token(secret) else None
    if principal is None or secret is None:
        reason = failure_reason(header, secret)
        source_ip = event.request_context.identity.source_ip
        # Every failure is logged; the security event log counts them (one event per address and minute,
        # `record_failed_authentication`), so that callers without a token cannot grow the locked archive.
        logger.info("authentication failed", source_ip=source_ip, reason=reason)
        settings = get_settings()
        record_failed_authentication(
            store.client,
            store.table_name,
            FailedAuthentication(
                at=system_now(),
                source_ip=source_ip,
                request_id=event.request_context.request_id,
                reason=reason,
                method=event.http_method,
                path=event.path,
            ),
            addresses_per_window=settings.auth_failure_addresses_per_minute,
            retention_days=settings.audit_retention_days,
        )
        raise Exception(UNAUTHORIZED)
    store.record_token_use(secret, now_iso())

    arn = event.parsed_arn
    response = APIGatewayAuthorizerResponse(
        principal_id=principal.user_id,
        region=arn.region,
        aws_account_id=arn.aws_account_id,
        api_id=arn.api_id,
        stage=arn.stage,
        context={
            "user_id": principal.user_id,
            "token_id": principal.token_id,
            "role_bindings": json.dumps(
                [{"role": b.role, "scope": b.scope} for b in principal.role_bindings], separators=(",", ":")
            ),
        },
    )
    response.allow_all_routes()
    logger.info("authenticated", user_id=principal.user_id, token_id=principal.token_id)
    return response.asdict()


def failure_reason(header: str | None, secret: str | None) -> str:
    """Why a request was refused, in words that never contain the token itself."""
    if not header:
        return "no Authorization header"
    if secret is None:
        return "Authorization is not a Bearer token"
    if not looks_like_token(secret):
        return "not a Riskgate token"
    return "unknown, expired or revoked token, or disabled user"
