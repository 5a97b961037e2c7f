"""What every emulated event source mapping shares: the function invoked with a batch in Lambda's event
shape, and its answer read by Lambda's rules for ``ReportBatchItemFailures``.

A source says how it receives a batch, what names a record in ``batchItemFailures`` and what becomes of
the records that failed: the stream retries from the first one and gives up after a cap
(`riskgate_local.streams`), a queue leaves them for redelivery (`riskgate_local.queues`).
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import boto3

from riskgate_local.lambdas import LocalFunction

logger = logging.getLogger(__name__)


def failed_positions(response: Any, identifiers: Sequence[str]) -> set[int]:
    """The positions in a batch (named by `identifiers`, in order) that a function's answer failed.

    Lambda's rules: no answer, no or an empty list of failures is success; an answer that is not an
    object, or a failure that names no record of the batch, fails the whole batch.
    """
    everything = set(range(len(identifiers)))
    if response is None:
        return set()
    if not isinstance(response, Mapping):
        logger.warning("function returned %r instead of a batch response; the batch failed", type(response))
        return everything
    positions = {identifier: index for index, identifier in enumerate(identifiers)}
    failed: set[int] = set()
    for failure in response.get("batchItemFailures") or []:
        identifier = failure.get("itemIdentifier") if isinstance(failure, Mapping) else None
        if not isinstance(identifier, str) or identifier not in positions:
            logger.warning("batch item failure %r names no record of the batch; the batch failed", failure)
            return everything
        failed.add(positions[identifier])
    return failed


@dataclass(frozen=True)
class Invocation:
    """How a batch went: the positions that failed, and the error's type when the function raised."""

    failed: set[int]
    error: str | None = None


class Poller(ABC):
    """One event source mapping: reads its source with a boto3 client of `service`, hands batches to
    `function` and acts on the records that failed."""

    # The boto3 client the source is read with.
    service: ClassVar[str]
    # What the local stack names the poller's periodic task after: `<kind>-poller-<consumer>`.
    kind: ClassVar[str]

    def __init__(self, function: LocalFunction, *, client: Any | None = None) -> None:
        self._function = function
        self._client = client

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = boto3.client(self.service)
        return self._client

    @staticmethod
    @abstractmethod
    def item_identifier(record: Mapping[str, Any]) -> str:
        """What the function names `record` by in `batchItemFailures`."""

    @abstractmethod
    def run(self, running: Callable[[], bool]) -> None:
        """One tick of the periodic task that drives the poller (`running`: whether to go on)."""

    def _invoke(self, batch: list[dict[str, Any]]) -> Invocation:
        try:
            response = self._function.invoke({"Records": batch})
        except Exception as error:
            # Lambda counts an error as the failure of every record in the batch.
            logger.exception(
                "%s raised; the whole batch of %d records failed", self._function.name, len(batch)
            )
            return Invocation(set(range(len(batch))), type(error).__name__)
        return Invocation(failed_positions(response, [self.item_identifier(record) for record in batch]))
