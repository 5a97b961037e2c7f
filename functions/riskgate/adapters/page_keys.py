"""The key that seals page tokens, kept in Secrets Manager (the stack and the local stack create it)."""

from __future__ import annotations

from riskgate.auth.page_tokens import derive_key
from riskgate.settings import get_settings

# Powertools caches the secret for this long per execution environment: one read per five minutes.
KEY_CACHE_SECONDS = 300


def page_token_key() -> bytes:
    secret_id = get_settings().page_token_secret_id
    if not secret_id:
        # Fail closed: a made-up key per process would make tokens fail across Lambda instances.
        raise RuntimeError("RISKGATE_PAGE_TOKEN_SECRET_ID is not set: page tokens cannot be sealed")
    from aws_lambda_powertools.utilities import parameters

    secret = parameters.get_secret(secret_id, max_age=KEY_CACHE_SECONDS)
    assert isinstance(secret, str)
    return derive_key(secret)
