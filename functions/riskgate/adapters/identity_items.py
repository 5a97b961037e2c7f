"""Item shapes for users and tokens, shared by the authorizer's reads and the directory's writes."""

from __future__ import annotations

import secrets
from typing import Any

from riskgate.domain.permissions import GLOBAL_SCOPE


def user_key(user_id: str) -> dict[str, str]:
    return {"pk": f"USER#{user_id}", "sk": "META"}


def token_key(token_hash: str) -> dict[str, str]:
    return {"pk": f"TOKEN#{token_hash}", "sk": "TOKEN"}


def new_token_id() -> str:
    """Random, so the id tells nothing about the secret."""
    return "tok-" + secrets.token_hex(8)


def user_item(
    *,
    user_id: str,
    name: str,
    email: str | None,
    kind: str,
    role_bindings: list[dict[str, str]],
    enabled: bool,
    created_at: str,
    created_by: str,
    version: int = 1,
) -> dict[str, Any]:
    return {
        **user_key(user_id),
        "item_type": "user",
        "gsi2pk": "USERS",
        "gsi2sk": f"{name}#{user_id}",
        "id": user_id,
        "name": name,
        "email": email,
        "kind": kind,
        "role_bindings": role_bindings,
        "enabled": enabled,
        "created_at": created_at,
        "created_by": created_by,
        "updated_at": created_at,
        "version": version,
    }


def token_item(
    *,
    token_id: str,
    token_hash: str,
    user_id: str,
    name: str,
    created_at: str,
    expires_at: str | None,
) -> dict[str, Any]:
    """A token: found by the hash of its secret (authentication) and listed per user (gsi1)."""
    return {
        **token_key(token_hash),
        "item_type": "token",
        "gsi1pk": f"USER_TOKENS#{user_id}",
        "gsi1sk": f"{created_at}#{token_id}",
        "id": token_id,
        "user_id": user_id,
        "name": name,
        "created_at": created_at,
        "expires_at": expires_at,
    }


ADMIN_USER_ID = "admin"
ADMIN_BINDINGS = [{"role": "administrator", "scope": GLOBAL_SCOPE}]
