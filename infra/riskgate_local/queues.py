"""A Lambda event source mapping on an SQS queue, emulated: the queue polled for real, messages handed to
the function in Lambda's SQS event shape, successes deleted, failures (``batchItemFailures``) left for
redelivery after the visibility timeout; the queue's own redrive policy moves a message that keeps
failing to its dead-letter queue, as on AWS."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from riskgate_local.lambdas import LocalFunction
from riskgate_local.pollers import Poller

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


class QueuePoller(Poller):
    """Receives up to `batch_size` messages a round and invokes the function with them.

    `poll_once` does one round; something else calls it periodically. Like Lambda's poller it does not
    touch a failed message: it becomes visible again when its visibility timeout ends.
    """

    service = "sqs"
    kind = "queue"

    def __init__(
        self, queue_url: str, function: LocalFunction, *, batch_size: int, client: Any | None = None
    ) -> None:
        super().__init__(function, client=client)
        self.queue_url = queue_url
        self._batch_size = min(batch_size, SQS_RECEIVE_LIMIT)
        self._queue_arn: str | None = None

    @staticmethod
    def item_identifier(record: Mapping[str, Any]) -> str:
        return str(record["messageId"])

    def run(self, running: Callable[[], bool]) -> None:
        """Deliver what the queue holds, batch after batch, until nothing is visible or `running` is no
        longer true."""
        while running() and self.poll_once():
            pass

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
        failed = self._invoke(batch).failed
        done = [record for index, record in enumerate(batch) if index not in failed]
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
