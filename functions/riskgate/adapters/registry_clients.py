"""The AWS side of the registry ingester: ECR and Inspector2 read in each connection's region, and SQS to
put a message back on the registry-work queue for later.

A connection names its own region, which need not be the function's: each region's clients are made on
first use and kept for the execution environment (a warm function meets the same few regions again and
again). Nothing is created at import, so that moto's mocks are in place when the first client is made.
What is read, and how its failures are told apart, is riskgate.adapters.registry_sources.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any

import boto3

from riskgate.adapters import registry_sources


class AwsRegistries:
    """ECR and Inspector2 of any region, through clients made once per region."""

    def __init__(self) -> None:
        self._clients: dict[tuple[str, str], Any] = {}

    def ecr_scan_findings(
        self, region: str, *, registry_id: str, repository: str, digest: str
    ) -> list[dict[str, Any]]:
        return registry_sources.ecr_scan_findings(
            self._client("ecr", region), registry_id=registry_id, repository=repository, digest=digest
        )

    def inspector_findings(
        self, region: str, *, account_id: str, repository: str, digest: str
    ) -> list[dict[str, Any]]:
        return registry_sources.inspector_findings(
            self._client("inspector2", region), account_id=account_id, repository=repository, digest=digest
        )

    def ecr_images(
        self,
        region: str,
        *,
        registry_id: str,
        matches: Callable[[str], bool],
        cursor: dict[str, Any] | None,
        page_size: int,
    ) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
        return registry_sources.ecr_images(
            self._client("ecr", region),
            registry_id=registry_id,
            matches=matches,
            cursor=cursor,
            page_size=page_size,
        )

    def _client(self, service: str, region: str) -> Any:
        key = (service, region)
        if key not in self._clients:
            self._clients[key] = boto3.client(service, region_name=region)
        return self._clients[key]


@cache
def aws_registries() -> AwsRegistries:
    """The registries' clients of this execution environment."""
    return AwsRegistries()


@cache
def sqs_client() -> Any:
    return boto3.client("sqs")


def postpone_message(queue_url: str, receipt_handle: str, delay_seconds: int) -> None:
    """Make a received message visible again only after `delay_seconds` instead of the queue's visibility
    timeout: its record then fails, and SQS hands the message over again once the delay is over."""
    sqs_client().change_message_visibility(
        QueueUrl=queue_url, ReceiptHandle=receipt_handle, VisibilityTimeout=delay_seconds
    )
