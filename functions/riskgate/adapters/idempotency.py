"""Idempotent POSTs: Powertools idempotency, its records kept in Riskgate's own table.

Records live under one partition (`pk = IDEMPOTENCY#<operation>`, `sk = <hash of the key>`) and expire
through the table's TTL attribute. Built on first use: the persistence layer creates a boto3 client.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any

import boto3

from riskgate.resources import TABLE
from riskgate.settings import get_settings

# How long a retried POST with the same Idempotency-Key gets the first answer back.
IDEMPOTENCY_WINDOW_SECONDS = 24 * 60 * 60


def call_idempotent(
    operation: str, function: Callable[..., dict[str, Any]], lambda_context: Any, **kwargs: Any
) -> dict[str, Any]:
    """`function(**kwargs)`, run once per `request["idempotency_key"]` and `request["principal"]`.

    A replay gets the first result back; `request["payload"]` must match it, else Powertools raises
    IdempotencyValidationError. The Lambda context tells it how long an in-progress record may live.
    """
    wrapped, config = _idempotent(operation, function)
    if lambda_context is not None:
        config.register_lambda_context(lambda_context)
    return wrapped(**kwargs)


@cache
def _idempotent(operation: str, function: Callable[..., dict[str, Any]]) -> tuple[Callable[..., Any], Any]:
    from aws_lambda_powertools.utilities.idempotency import (
        DynamoDBPersistenceLayer,
        IdempotencyConfig,
        idempotent_function,
    )

    persistence = DynamoDBPersistenceLayer(
        table_name=get_settings().table_name,
        # The process's default session, like every other client here (one configuration, one place).
        boto3_client=boto3.client("dynamodb"),
        key_attr=TABLE.keys.partition_key,
        sort_key_attr=TABLE.keys.sort_key,
        static_pk_value=f"IDEMPOTENCY#{operation}",
        expiry_attr=TABLE.ttl_attribute,
        status_attr="idempotency_status",
        data_attr="idempotency_data",
    )
    config = IdempotencyConfig(
        event_key_jmespath="[idempotency_key, principal]",
        payload_validation_jmespath="payload",
        raise_on_no_idempotency_key=True,
        expires_after_seconds=IDEMPOTENCY_WINDOW_SECONDS,
    )
    wrapped = idempotent_function(
        function, data_keyword_argument="request", persistence_store=persistence, config=config
    )
    return wrapped, config
