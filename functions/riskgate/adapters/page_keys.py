"""The key that seals page tokens, kept in Secrets Manager (the stack and the local stack create it)."""

from __future__ import annotations

from functools import cache
from typing import Any

from riskgate.auth.page_tokens import derive_key
from riskgate.settings import get_settings

# The secret is cached for this long per execution environment: one read per five minutes.
KEY_CACHE_SECONDS = 300


@cache
def secrets_provider() -> Any:
    """Powertools' Secrets Manager provider (its cache, its retries), with a client of our own created on
    first use — not the process-wide default provider, whose client would outlive the endpoint it was made
    for (an in-process local stack in tests; never on Lambda)."""
    import boto3
    from aws_lambda_powertools.utilities.parameters import SecretsProvider

    return SecretsProvider(boto3_client=boto3.client("secretsmanager"))


def page_token_key() -> bytes:
    secret_id = get_settings().page_token_secret_id
    if not secret_id:
        # Fail closed: a made-up key per process would make tokens fail across Lambda instances.
        raise RuntimeError("RISKGATE_PAGE_TOKEN_SECRET_ID is not set: page tokens cannot be sealed")
    secret = secrets_provider().get(secret_id, max_age=KEY_CACHE_SECONDS)
    assert isinstance(secret, str)
    return derive_key(secret)
