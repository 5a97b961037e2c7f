"""A Lambda event source mapping on an SQS queue, emulated: the queue polled for real, messages handed to
the function in Lambda's SQS event shape, successes deleted, failures (``batchItemFailures``) left for
redelivery after the visibility timeout; the queue's own redrive policy moves a message that keeps
failing to its dead-letter queue, as on AWS."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import boto3

from riskgate_local.lambdas import LocalFunction

logger = logging.getLogger(__name__)

SQS_RECEIVE_LIMIT = 10  # SQS's limit per ReceiveMessage


def lambda_sqs_record(
    message: Mapping[str, Any], queue_arn: str, region: str = "us-east-1"
) -> dict[str, Any]:
    """A ReceiveMessage message as Lambda delivers it to a function."""
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": dict(message.get("Attributes") or {}),
        "messageAttributes": dict(message.get("MessageAttributes") or {}),
        "md5OfBody": message.get("MD5OfBody", ""),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": region,
    }


def failed_message_ids(response: Any, batch: list[dict[str, Any]]) -> set[str]:
    """Which messages of the batch failed, by Lambda's rules for ReportBatchItemFailures: no response or
    no failures is success; an identifier that names no message of the batch fails the whole batch."""
    everything = {record["messageId"] for record in batch}
    if response is None:
        return set()
    if not isinstance(response, Mapping):
        return everything
    failed: set[str] = set()
    for failure in response.get("batchItemFailures") or []:
        identifier = failure.get("itemIdentifier") if isinstance(failure, Mapping) else None
        if not isinstance(identifier, str) or identifier not in everything:
            logger.warning("batch item failure %r names no message of the batch; the batch failed", failure)
            return everything
        failed.add(identifier)
    return failed


class QueuePoller:
    """Receives up to `batch_size` messages a round and invokes the function with them.

    `poll_once` does one round; something else calls it periodically. Like Lambda's poller it does not
    touch a failed message: it becomes visible again when its visibility timeout ends.
    """

    def __init__(
        self, queue_url: str, function: LocalFunction, *, batch_size: int, client: Any | None = None
    ) -> None:
        self.queue_url = queue_url
        self._function = function
        self._batch_size = min(batch_size, SQS_RECEIVE_LIMIT)
        self._client = client
        self._queue_arn: str | None = None

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = boto3.client("sqs")
        return self._client

    @property
    def queue_arn(self) -> str:
        if self._queue_arn is None:
            attributes = self.client.get_queue_attributes(
                QueueUrl=self.queue_url, AttributeNames=["QueueArn"]
            )
            self._queue_arn = str(attributes["Attributes"]["QueueArn"])
        return self._queue_arn

    def poll_once(self) -> int:
        """One round: the number of messages delivered (0: the queue had nothing visible)."""
        received = self.client.receive_message(
            QueueUrl=self.queue_url,
            MaxNumberOfMessages=self._batch_size,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        if not received:
            return 0
        batch = [lambda_sqs_record(message, self.queue_arn) for message in received]
        try:
            failed = failed_message_ids(self._function.invoke({"Records": batch}), batch)
        except Exception:
            # Lambda counts an error as the failure of every message in the batch.
            logger.exception(
                "%s raised; the whole batch of %d messages failed", self._function.name, len(batch)
            )
            failed = {record["messageId"] for record in batch}
        done = [record for record in batch if record["messageId"] not in failed]
        if done:
            self.client.delete_message_batch(
                QueueUrl=self.queue_url,
                Entries=[
                    {"Id": str(index), "ReceiptHandle": record["receiptHandle"]}
                    for index, record in enumerate(done)
                ],
            )
        if failed:
            logger.warning(
                "%s: %d of %d messages failed; they come back after the visibility timeout",
                self._function.name,
                len(failed),
                len(batch),
            )
        return len(batch)

    def drain(self, max_rounds: int = 10_000) -> int:
        """Deliver until a round finds nothing visible (tests, the bench); the messages delivered."""
        total = 0
        for _ in range(max_rounds):
            delivered = self.poll_once()
            if not delivered:
                return total
            total += delivered
        raise RuntimeError(f"{self.queue_url} did not drain in {max_rounds} rounds")
