"""A moto DynamoDB table built from the same definition as the CDK stack and the local stack."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from riskgate.adapters.store import Store, default_store
from riskgate.resources import TABLE
from riskgate.settings import get_settings

TABLE_NAME = "riskgate-test"


@pytest.fixture
def dynamodb(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setenv("RISKGATE_TABLE_NAME", TABLE_NAME)
    get_settings.cache_clear()
    default_store.cache_clear()
    with mock_aws():
        client = boto3.client("dynamodb")
        client.create_table(**TABLE.create_table_kwargs(TABLE_NAME))
        yield client
    get_settings.cache_clear()
    default_store.cache_clear()


@pytest.fixture
def store(dynamodb: Any) -> Store:
    return Store(TABLE_NAME, client=dynamodb)
