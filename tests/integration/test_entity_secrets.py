"""The write-only fields of integrations and registry connections, on moto's Secrets Manager: a version's
value is read once per execution environment, and a change is seen at once (the item names the new
version)."""

from __future__ import annotations

from typing import Any

import boto3
import pytest

from riskgate.adapters import entity_secrets
from riskgate.adapters.entity_secrets import MAX_CACHED_VALUES, EntitySecrets


class CountingClient:
    """Secrets Manager, counting the reads of values."""

    def __init__(self) -> None:
        self.client = boto3.client("secretsmanager")
        self.reads: list[dict[str, Any]] = []

    def get_secret_value(self, **request: Any) -> dict[str, Any]:
        self.reads.append(request)
        return dict(self.client.get_secret_value(**request))

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)


@pytest.fixture
def secrets(dynamodb: Any, monkeypatch: pytest.MonkeyPatch) -> tuple[EntitySecrets, CountingClient]:
    monkeypatch.setattr(entity_secrets, "_VALUES", {})
    client = CountingClient()
    return EntitySecrets("registries", tag="riskgate:registry", describe="test", client=client), client


def test_a_version_is_read_from_secrets_manager_once(secrets: tuple[EntitySecrets, CountingClient]) -> None:
    store, client = secrets
    item = store.write("reg-1", {"webhook_secret": "w" * 20})

    assert store.read(item) == {"webhook_secret": "w" * 20}
    assert store.read(item) == {"webhook_secret": "w" * 20}
    # A second store (the next request builds its own) finds it too.
    other = EntitySecrets("registries", tag="riskgate:registry", describe="test", client=client)
    assert other.read(item) == {"webhook_secret": "w" * 20}

    assert client.reads == [{"SecretId": item["secret_arn"], "VersionId": item["secret_version"]}]


def test_a_new_value_is_read_as_soon_as_the_item_names_its_version(
    secrets: tuple[EntitySecrets, CountingClient],
) -> None:
    store, client = secrets
    first = store.write("reg-1", {"webhook_secret": "a" * 20})
    assert store.read(first) == {"webhook_secret": "a" * 20}

    second = store.write("reg-1", {"webhook_secret": "b" * 20})

    assert second["secret_version"] != first["secret_version"]
    assert store.read(second) == {"webhook_secret": "b" * 20}
    # An item read before the change still gets the value it names, not the newest.
    assert store.read(first) == {"webhook_secret": "a" * 20}
    assert len(client.reads) == 2


def test_a_caller_changing_the_answer_does_not_change_the_cache(
    secrets: tuple[EntitySecrets, CountingClient],
) -> None:
    store, _ = secrets
    item = store.write("reg-1", {"robot_secret": "r" * 20})
    store.read(item)["robot_secret"] = "changed"

    assert store.read(item) == {"robot_secret": "r" * 20}


def test_an_item_without_a_version_is_read_every_time(secrets: tuple[EntitySecrets, CountingClient]) -> None:
    store, client = secrets
    item = store.write("reg-1", {"robot_secret": "r" * 20})
    unversioned = {"secret_arn": item["secret_arn"]}

    store.read(unversioned)
    store.read(unversioned)

    assert len(client.reads) == 2


def test_the_cache_is_bounded_and_lets_the_oldest_go(secrets: tuple[EntitySecrets, CountingClient]) -> None:
    store, client = secrets
    oldest = store.write("reg-1", {"robot_secret": "r" * 20})
    store.read(oldest)
    # As if as many other versions had been read since: the cache is full.
    entity_secrets._VALUES.update({("arn", str(number)): {} for number in range(MAX_CACHED_VALUES - 1)})

    newest = store.write("reg-2", {"robot_secret": "n" * 20})
    store.read(newest)

    assert len(entity_secrets._VALUES) == MAX_CACHED_VALUES
    assert (newest["secret_arn"], newest["secret_version"]) in entity_secrets._VALUES
    assert (oldest["secret_arn"], oldest["secret_version"]) not in entity_secrets._VALUES
    assert store.read(oldest) == {"robot_secret": "r" * 20}  # read again from Secrets Manager
    assert len(client.reads) == 3
