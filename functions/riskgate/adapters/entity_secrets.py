"""The write-only fields of a managed entity, kept in Secrets Manager: how integrations and registry
connections keep theirs (one piece for both, held by their stores).

An entity's secret is the Secrets Manager secret `<prefix>/<kind>/<key>` (`integrations/<name>`,
`registries/<id>`), a JSON object of its secret fields. The entity's item never holds a value: it
records `secret_arn` and `secret_version`, and readers ask for that version. So:

- **Written before the item's transaction.** Each write is a new version of the secret (the secret
  created when it does not exist, restored first when it is scheduled for deletion: an entity recreated
  within the recovery window gets its secret back, with the new value); the item's transaction then
  names that version. A write whose transaction fails (a name taken, a stale read, a lost race) leaves
  the entity with the version it named before.
- **Written once per change.** A change retried from a fresh read (`SecretChange`) reuses the version
  its first attempt wrote.
- **Deletion scheduled after.** Once no item names the secret (its removal committed, or the entity
  deleted), its deletion is scheduled with the recovery window; a failure to schedule it is logged, not
  reported: the change itself is done.

Audit events carry the ARN and version, never a value (they are not secrets: the item's own fields).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, ClassVar

import boto3
from aws_lambda_powertools import Logger
from botocore.exceptions import ClientError

from riskgate.adapters.entities import EntityStore
from riskgate.settings import get_settings

logger = Logger(child=True)

# Days a deleted secret can still be restored (Secrets Manager's minimum).
RECOVERY_DAYS = 7
# The item's fields that name its secret (bookkeeping: never shown but as "has a secret").
SECRET_FIELDS = ("secret_arn", "secret_version")

# The values read, by (secret ARN, version id), for the life of the execution environment. A version's
# value never changes (a change writes a new version, and the item then names it), so this cache cannot
# serve a stale value, and a webhook or notification needs no Secrets Manager call after the first. Not
# Powertools' parameters cache: it keys by name and ages entries, and here the version is the key.
# Bounded: the oldest entry goes first.
_VALUES: dict[tuple[str, str], dict[str, str]] = {}
MAX_CACHED_VALUES = 256


class EntitySecrets:
    """The secrets of one kind of entity: `<prefix>/<kind>/<key>`, tagged `<tag>: <key>`.

    `describe` names the entity in the secret's description ("Riskgate integration"). The client is
    created lazily when not given; the prefix defaults to the settings' (RISKGATE_SECRETS_PREFIX)."""

    def __init__(
        self,
        kind: str,
        *,
        tag: str,
        describe: str,
        prefix: str | None = None,
        client: Any | None = None,
    ) -> None:
        self.kind = kind
        self.tag = tag
        self.describe = describe
        self.prefix = prefix or get_settings().secrets_prefix
        self._client = client

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = boto3.client("secretsmanager")
        return self._client

    def name(self, key: str) -> str:
        return f"{self.prefix}/{self.kind}/{key}"

    # --- reading ----------------------------------------------------------------------------------

    def read(self, item: Mapping[str, Any]) -> dict[str, str]:
        """The secret fields of an entity as stored (its item), at the version it names; {} when it has
        none. For whatever uses the entity, never for an API answer."""
        if not item.get("secret_arn"):
            return {}
        request = {"SecretId": item["secret_arn"]}
        version = item.get("secret_version")
        if not version:
            # Items written before versions were recorded: the current value, never cached.
            return dict(json.loads(self.client.get_secret_value(**request)["SecretString"]))
        key = (str(item["secret_arn"]), str(version))
        if key not in _VALUES:
            request["VersionId"] = version
            value = json.loads(self.client.get_secret_value(**request)["SecretString"])
            while len(_VALUES) >= MAX_CACHED_VALUES:
                del _VALUES[next(iter(_VALUES))]
            _VALUES[key] = value
        return dict(_VALUES[key])

    # --- writing ----------------------------------------------------------------------------------

    def write(self, key: str, secrets: Mapping[str, str]) -> dict[str, str]:
        """A new version of the entity's secret (the secret created, or restored, as needed): the item's
        `secret_arn` and `secret_version`."""
        secret_id = self.name(key)
        value = json.dumps(dict(secrets), sort_keys=True)
        try:
            written = self.client.create_secret(
                Name=secret_id,
                SecretString=value,
                Description=f"{self.describe} {key}: its write-only fields",
                Tags=[{"Key": self.tag, "Value": key}],
            )
        except ClientError as error:
            code = error.response["Error"]["Code"]
            # Exists; or (AWS's answer for one scheduled for deletion) "InvalidRequest".
            if code not in ("ResourceExistsException", "InvalidRequestException"):
                raise
            if code == "InvalidRequestException" or self._scheduled_for_deletion(secret_id):
                self.client.restore_secret(SecretId=secret_id)
            written = self.client.put_secret_value(SecretId=secret_id, SecretString=value)
        return {"secret_arn": written["ARN"], "secret_version": written["VersionId"]}

    def schedule_deletion(self, key: str) -> None:
        """Once no item names the secret. A failure here leaves a secret nothing reads (and a log line):
        the change itself is done, so it is not reported to the caller as failed."""
        secret_id = self.name(key)
        try:
            self.client.delete_secret(SecretId=secret_id, RecoveryWindowInDays=RECOVERY_DAYS)
        except ClientError as error:
            code = error.response["Error"]["Code"]
            if code not in ("ResourceNotFoundException", "InvalidRequestException"):  # gone, or going
                logger.warning("could not schedule the deletion of a secret", secret=secret_id, code=code)

    def release(self, key: str, item: Mapping[str, Any]) -> None:
        """After the delete of an entity (as it was read by the attempt that committed): its secret, if it
        named one, is scheduled for deletion."""
        if item.get("secret_arn"):
            self.schedule_deletion(key)

    def change(self, key: str) -> SecretChange:
        """The secret's part in one update of the entity (see `SecretChange`)."""
        return SecretChange(self, key)

    def _scheduled_for_deletion(self, secret_id: str) -> bool:
        return bool(self.client.describe_secret(SecretId=secret_id).get("DeletedDate"))


class SecretChange:
    """The secret's part in one update, whatever its retries: `fields` gives the item's changes for the
    entity as read by an attempt, and `done` schedules the secret's deletion when the attempt that
    committed removed it. A new value is written at most once (the first attempt that has one)."""

    def __init__(self, secrets: EntitySecrets, key: str) -> None:
        self._secrets = secrets
        self._key = key
        self._written: dict[str, str] = {}
        self._removes = False

    def fields(self, current: Mapping[str, Any], secrets: Mapping[str, str] | None) -> dict[str, Any]:
        """The item's changes for `secrets` — None: keep the stored secret; {}: remove it; else the new
        values (written now, or by an earlier attempt) — on the entity as read (`current`)."""
        changes: dict[str, Any] = {}
        if secrets:
            if not self._written:
                self._written.update(self._secrets.write(self._key, secrets))
            changes.update(self._written)
        self._removes = secrets == {} and bool(current.get("secret_arn"))
        if self._removes:
            changes.update(dict.fromkeys(SECRET_FIELDS))
        return changes

    def done(self) -> None:
        """After the update committed."""
        if self._removes:
            self._secrets.schedule_deletion(self._key)


class SecretHoldingStore(EntityStore):
    """An entity store whose entities have write-only fields: held by `secret_store`, an `EntitySecrets`
    of the kind the class names (`secrets_kind`, `secret_tag`, `secrets_describe`). Clients are created
    lazily when not given; the prefix defaults to the settings'."""

    secrets_kind: ClassVar[str]
    secret_tag: ClassVar[str]
    secrets_describe: ClassVar[str]

    def __init__(
        self,
        table_name: str,
        client: Any | None = None,
        *,
        secrets_client: Any | None = None,
        secrets_prefix: str | None = None,
    ) -> None:
        super().__init__(table_name, client)
        self.secret_store = EntitySecrets(
            self.secrets_kind,
            tag=self.secret_tag,
            describe=self.secrets_describe,
            prefix=secrets_prefix,
            client=secrets_client,
        )
