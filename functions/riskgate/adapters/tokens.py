"""Token authentication and the bootstrap user: who holds a token, when it was last used, and the first
administrator of a deployment. Item shapes are in riskgate.adapters.identity_items; issuing and revoking
tokens is the directory's (riskgate.adapters.directory).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from botocore.exceptions import ClientError

from riskgate.adapters.audit_log import audit_put
from riskgate.adapters.dynamo import (
    TableClient,
    condition_failed_at,
    expression_values,
    now_iso,
    public_fields,
    to_item,
)
from riskgate.adapters.identity_items import (
    ADMIN_BINDINGS,
    ADMIN_USER_ID,
    new_token_id,
    token_item,
    token_key,
    user_item,
    user_key,
)
from riskgate.auth.tokens import hash_token
from riskgate.domain.audit import SYSTEM_ACTOR, AuditAction, audit_event
from riskgate.domain.permissions import GLOBAL_SCOPE, Principal, RoleBinding
from riskgate.settings import get_settings


class TokenStore(TableClient):
    """Tokens as the authorizer and the bootstrap see them. `client` is created lazily when not given."""

    # --- tokens and users -------------------------------------------------------------------------

    def ensure_admin_token(self, secret: str, name: str = "bootstrap") -> str:
        """The user `admin` (administrator on global) and a token for it; safe to repeat.

        How a deployment gets its first token (CLI) and how the local stack starts; both events are
        recorded as the system's.
        """
        now = now_iso()
        admin = user_item(
            user_id=ADMIN_USER_ID,
            name=ADMIN_USER_ID,
            email=None,
            kind="person",
            role_bindings=ADMIN_BINDINGS,
            enabled=True,
            created_at=now,
            created_by=SYSTEM_ACTOR.user_id or "system",
        )
        retention = get_settings().audit_retention_days
        created = audit_event(
            SYSTEM_ACTOR, AuditAction.CREATE, "user", ADMIN_USER_ID, after=public_fields(admin)
        )
        try:
            self.client.transact_write_items(
                TransactItems=[
                    {
                        "Put": {
                            "TableName": self.table_name,
                            "Item": to_item(admin),
                            "ConditionExpression": "attribute_not_exists(pk)",
                        }
                    },
                    audit_put(self.table_name, created, retention),
                ]
            )
        except ClientError as error:
            if not condition_failed_at(error, 0):
                raise
        token_id = new_token_id()
        token = token_item(
            token_id=token_id,
            token_hash=hash_token(secret),
            user_id=ADMIN_USER_ID,
            name=name,
            created_at=now,
            expires_at=None,
        )
        issued = audit_event(
            SYSTEM_ACTOR, AuditAction.TOKEN_ISSUE, "token", token_id, after=public_fields(token)
        )
        self.client.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": self.table_name, "Item": to_item(token)}},
                audit_put(self.table_name, issued, retention),
            ]
        )
        return token_id

    def principal_for_token(self, secret: str, at: str | None = None) -> Principal | None:
        """Who holds this token, or None when it is unknown, expired, or its user is gone or disabled."""
        token = self._get(token_key(hash_token(secret)))
        if token is None or token.get("revoked_at"):
            return None
        expires_at = token.get("expires_at")
        if expires_at and expires_at <= (at or now_iso()):
            return None
        user = self._get(user_key(token["user_id"]))
        if user is None or not user.get("enabled", True):
            return None
        if token.get("generation", 0) < user.get("token_generation", 0):
            return None  # issued before the user was last disabled
        bindings = tuple(
            RoleBinding(role=b["role"], scope=b.get("scope", GLOBAL_SCOPE))
            for b in user.get("role_bindings", [])
        )
        return Principal(user_id=user["id"], token_id=token["id"], role_bindings=bindings)

    def record_token_use(self, secret: str, at: str, every_seconds: int = 60) -> None:
        """Note when a token was last used; at most one write a minute per token, never on a hot loop."""
        moment = datetime.strptime(at, "%Y-%m-%dT%H:%M:%SZ")
        threshold = (moment - timedelta(seconds=every_seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")
        try:
            self.client.update_item(
                TableName=self.table_name,
                Key=to_item(token_key(hash_token(secret))),
                UpdateExpression="SET last_used_at = :at",
                ConditionExpression=(
                    "attribute_exists(pk)"
                    " AND (attribute_not_exists(last_used_at) OR last_used_at < :threshold)"
                ),
                ExpressionAttributeValues=expression_values({":at": at, ":threshold": threshold}),
            )
        except ClientError as error:
            if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
