"""A consumer of the local stack: one of the CDK stack's event source mappings, declared as a row
(function, source, filter, batch size, retries, failure destination) and emulated by a poller."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any

from riskgate_local.aws import send_to_queue
from riskgate_local.lambdas import LocalFunction
from riskgate_local.pollers import Poller
from riskgate_local.queues import QueuePoller
from riskgate_local.streams import DEFAULT_MAX_RETRY_ATTEMPTS, StreamPoller

# The source of a consumer of the table's stream (any other source is a queue's URL).
STREAM = "stream"


@dataclass(frozen=True)
class Consumer:
    """`function` reads `source` in batches of up to `batch_size`.

    On the stream, records the `filter_pattern` rejects never reach the function, a failing batch is
    retried `retry_attempts` times and then sent to the queue `failure_queue_url` (Lambda's on-failure
    destination). On a queue those three stay None: the queue's own redrive policy and dead-letter queue
    take their place, as on AWS. `name` names the poller's periodic task: `<kind>-poller-<name>`.
    """

    name: str
    function: LocalFunction
    source: str
    batch_size: int
    filter_pattern: Mapping[str, Any] | None = None
    retry_attempts: int | None = None
    failure_queue_url: str | None = None

    def poller(self, stream_arn: str, *, max_retry_attempts: int | None = None) -> Poller:
        """The poller emulating this mapping; `max_retry_attempts` overrides a stream consumer's own cap
        (tests shorten every one)."""
        if self.source != STREAM:
            return QueuePoller(self.source, self.function, batch_size=self.batch_size)
        own_cap = DEFAULT_MAX_RETRY_ATTEMPTS if self.retry_attempts is None else self.retry_attempts
        destination = self.failure_queue_url
        return StreamPoller(
            stream_arn,
            self.function,
            filter_pattern=self.filter_pattern,
            on_failure=None if destination is None else partial(send_to_queue, destination),
            batch_size=self.batch_size,
            max_retry_attempts=own_cap if max_retry_attempts is None else max_retry_attempts,
        )
