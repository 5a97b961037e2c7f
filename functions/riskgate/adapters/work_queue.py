"""Putting work on an SQS queue: one JSON message at a time (the API's registry syncs and Harbor webhooks
go to the registry ingester's queue this way). The client is created on first use, never at import."""

from __future__ import annotations

import json
from typing import Any

import boto3

from riskgate.settings import get_settings


class WorkQueue:
    """One queue, by URL."""

    def __init__(self, queue_url: str, client: Any | None = None) -> None:
        self.queue_url = queue_url
        self._client = client

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = boto3.client("sqs")
        return self._client

    def send(self, message: dict[str, Any]) -> None:
        """Put `message` on the queue as compact JSON (an SDK error propagates: nothing was queued)."""
        self.client.send_message(
            QueueUrl=self.queue_url, MessageBody=json.dumps(message, separators=(",", ":"))
        )


def send(queue_url: str, message: dict[str, Any]) -> None:
    """Put one message on the queue at `queue_url`."""
    WorkQueue(queue_url).send(message)


def registry_work_queue() -> WorkQueue | None:
    """The registry ingester's queue (RISKGATE_REGISTRY_WORK_QUEUE_URL); None when it is not configured."""
    url = get_settings().registry_work_queue_url
    return WorkQueue(url) if url else None
