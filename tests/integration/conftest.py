"""A moto DynamoDB table built from the same definition as the CDK stack and the local stack."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from riskgate.adapters.page_keys import secrets_provider
from riskgate.adapters.store import Store, default_store
from riskgate.adapters.uploads import default_objects, default_uploads
from riskgate.resources import TABLE
from riskgate.settings import get_settings

TABLE_NAME = "riskgate-test"
PAGE_TOKEN_SECRET = "riskgate-test/page-token-key"
UPLOADS_BUCKET = "riskgate-test-uploads"


@pytest.fixture
def dynamodb(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setenv("RISKGATE_TABLE_NAME", TABLE_NAME)
    forget_cached_ports()
    with mock_aws():
        client = boto3.client("dynamodb")
        client.create_table(**TABLE.create_table_kwargs(TABLE_NAME))
        # Lists seal their page tokens with this secret's value, as the stack's own secret.
        secret = boto3.client("secretsmanager").create_secret(Name=PAGE_TOKEN_SECRET, SecretString="s" * 48)
        monkeypatch.setenv("RISKGATE_PAGE_TOKEN_SECRET_ID", secret["ARN"])
        # Reports of any size go through this bucket (POST /v1/scans/uploads).
        boto3.client("s3").create_bucket(Bucket=UPLOADS_BUCKET)
        monkeypatch.setenv("RISKGATE_UPLOADS_BUCKET", UPLOADS_BUCKET)
        get_settings.cache_clear()
        yield client
    forget_cached_ports()


def forget_cached_ports() -> None:
    """Settings and the stores built from them are cached per process, as in Lambda; each test has its
    own table."""
    for cached in (get_settings, default_store, secrets_provider, default_uploads, default_objects):
        cached.cache_clear()


@pytest.fixture
def store(dynamodb: Any) -> Store:
    return Store(TABLE_NAME, client=dynamodb)
