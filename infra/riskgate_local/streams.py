"""A Lambda event source mapping on the table's stream, emulated: the stream polled for real, filtered
and handed to the handler in Lambda's shape, with partial-batch failures retried and given up on as
Lambda does (``ReportBatchItemFailures``, a retry cap, an on-failure destination).

One poller per mapping (the evaluator's, the audit forwarder's): like Lambda, each reads the stream with
iterators of its own, so one consumer's failures never hold the other back."""

from __future__ import annotations

import base64
import logging
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from riskgate.resources import EVALUATOR_BATCH_SIZE, EVALUATOR_RETRY_ATTEMPTS
from riskgate_local.lambdas import LocalFunction
from riskgate_local.pollers import Poller, failed_positions

logger = logging.getLogger(__name__)

# Called with Lambda's on-failure record when a batch has used up its retries.
FailureDestination = Callable[[dict[str, Any]], None]

# The CDK stack's batch size and retry cap for the evaluator's event source, when a poller is given none.
# Locally failing batches are retried from the first failed record without bisecting.
DEFAULT_BATCH_SIZE = EVALUATOR_BATCH_SIZE
DEFAULT_MAX_RETRY_ATTEMPTS = EVALUATOR_RETRY_ATTEMPTS


def matches_filter(pattern: Mapping[str, Any], data: Any) -> bool:
    """Whether `data` matches a Lambda event-filter pattern.

    Supports what Riskgate's patterns use: nested objects, lists of exact values and ``{"prefix": …}``.
    Anything else raises, so a pattern using a newer feature fails loudly here instead of silently
    letting records through that AWS would drop (or the reverse).
    """
    if not isinstance(data, Mapping):
        return False
    for key, expected in pattern.items():
        if key not in data:
            return False
        actual = data[key]
        if isinstance(expected, Mapping):
            if not matches_filter(expected, actual):
                return False
        elif isinstance(expected, list):
            # Lambda matches an array in the event if any of its elements matches.
            candidates = actual if isinstance(actual, list) else [actual]
            if not any(_matches_rule(rule, value) for rule in expected for value in candidates):
                return False
        else:
            raise ValueError(f"filter pattern for {key!r} must be an object or a list, not {expected!r}")
    return True


def _matches_rule(rule: Any, value: Any) -> bool:
    if isinstance(rule, Mapping):
        if set(rule) == {"prefix"} and isinstance(rule["prefix"], str):
            return isinstance(value, str) and value.startswith(rule["prefix"])
        raise ValueError(f"filter rule {rule!r} is not supported locally (exact values and prefix are)")
    # Python's True == 1 must not make a boolean rule match a number.
    return isinstance(rule, bool) == isinstance(value, bool) and rule == value


def lambda_stream_record(record: Mapping[str, Any], stream_arn: str) -> dict[str, Any]:
    """A GetRecords record as Lambda delivers it to a function.

    boto3 parses the response: timestamps become datetimes and binary attributes bytes. Lambda passes
    the wire format instead (epoch seconds, base64 text), plus the stream's ARN.
    """
    dynamodb = dict(record["dynamodb"])
    created = dynamodb.get("ApproximateCreationDateTime")
    if isinstance(created, datetime):
        dynamodb["ApproximateCreationDateTime"] = int(created.timestamp())
    for image in ("Keys", "NewImage", "OldImage"):
        if image in dynamodb:
            dynamodb[image] = {name: _wire_value(value) for name, value in dynamodb[image].items()}
    lambda_record: dict[str, Any] = {
        "eventID": record["eventID"],
        "eventName": record["eventName"],
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": record["awsRegion"],
        "dynamodb": dynamodb,
        "eventSourceARN": stream_arn,
    }
    if "userIdentity" in record:  # present on deletions by TTL
        lambda_record["userIdentity"] = record["userIdentity"]
    return lambda_record


def _wire_value(value: Mapping[str, Any]) -> dict[str, Any]:
    (kind, content), *_ = value.items()
    if kind == "B":
        return {"B": _base64(content)}
    if kind == "BS":
        return {"BS": [_base64(item) for item in content]}
    if kind == "M":
        return {"M": {name: _wire_value(item) for name, item in content.items()}}
    if kind == "L":
        return {"L": [_wire_value(item) for item in content]}
    return dict(value)


def _base64(content: bytes | str) -> str:
    return content if isinstance(content, str) else base64.b64encode(content).decode("ascii")


def first_failed_index(response: Any, batch: list[dict[str, Any]]) -> int | None:
    """Where Lambda resumes after this response to a batch (None: the whole batch succeeded)."""
    identifiers = [StreamPoller.item_identifier(record) for record in batch]
    return min(failed_positions(response, identifiers), default=None)


@dataclass
class _Shard:
    shard_id: str
    parent_shard_id: str | None
    iterator: str | None
    last_sequence_number: str | None = None
    # Filtered, Lambda-shaped records read but not yet successfully processed, in stream order.
    pending: list[dict[str, Any]] = field(default_factory=list)
    failed_attempts: int = 0
    last_error: str | None = None

    @property
    def finished(self) -> bool:
        return self.iterator is None and not self.pending


class StreamPoller(Poller):
    """Reads every shard of a stream and delivers matching records to a function, batch by batch.

    `poll_once` does one round (discover shards, read each, deliver); something else calls it
    periodically. A batch that fails is retried on the next round, from its first failed record.
    """

    service = "dynamodbstreams"
    kind = "stream"

    def __init__(
        self,
        stream_arn: str,
        function: LocalFunction,
        *,
        filter_pattern: Mapping[str, Any] | None,
        on_failure: FailureDestination | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
        max_retry_attempts: int = DEFAULT_MAX_RETRY_ATTEMPTS,
        rediscover_every_seconds: float = 5.0,
        client: Any | None = None,
    ) -> None:
        super().__init__(function, client=client)
        self.stream_arn = stream_arn
        self._filter_pattern = filter_pattern
        self._on_failure = on_failure
        self._batch_size = batch_size
        self._max_retry_attempts = max_retry_attempts
        self._rediscover_every_seconds = rediscover_every_seconds
        self._shards: dict[str, _Shard] = {}
        self._known_shard_ids: set[str] = set()
        self._last_discovery: float | None = None
        # Rounds are numbered so wait_until_idle can wait for one that started after it was called.
        self._progress = threading.Condition()
        self._rounds_started = 0
        self._last_idle_round = 0

    @staticmethod
    def item_identifier(record: Mapping[str, Any]) -> str:
        return str(record["dynamodb"]["SequenceNumber"])

    def run(self, running: Callable[[], bool]) -> None:
        self.poll_once()

    def poll_once(self, now: float | None = None) -> bool:
        """One round; True when it found nothing new and nothing is waiting for a retry."""
        with self._progress:
            self._rounds_started += 1
            this_round = self._rounds_started
        now = time.monotonic() if now is None else now
        if self._last_discovery is None or now - self._last_discovery >= self._rediscover_every_seconds:
            self._discover_shards()
            self._last_discovery = now
        read_any = False
        for shard in list(self._shards.values()):
            # Lambda finishes a parent shard before it starts on its children, to keep the order of
            # changes to an item.
            if shard.parent_shard_id in self._shards:
                continue
            read_any |= self._read(shard)
            self._deliver(shard)
            if shard.finished:
                del self._shards[shard.shard_id]
        idle = not read_any and not any(shard.pending for shard in self._shards.values())
        if idle:
            with self._progress:
                self._last_idle_round = this_round
                self._progress.notify_all()
        return idle

    def wait_until_idle(self, timeout: float) -> bool:
        """Wait for a round that started after this call to find nothing to do; False on timeout."""
        with self._progress:
            target = self._rounds_started + 1
            return self._progress.wait_for(lambda: self._last_idle_round >= target, timeout)

    def _discover_shards(self) -> None:
        request: dict[str, Any] = {"StreamArn": self.stream_arn}
        while True:
            description = self.client.describe_stream(**request)["StreamDescription"]
            for shard in description["Shards"]:
                shard_id = shard["ShardId"]
                if shard_id in self._known_shard_ids:
                    continue
                # TRIM_HORIZON for every shard: the table was created with the poller, so whatever a
                # shard holds is unprocessed (Lambda's LATEST would only skip records we want).
                iterator = self.client.get_shard_iterator(
                    StreamArn=self.stream_arn, ShardId=shard_id, ShardIteratorType="TRIM_HORIZON"
                )["ShardIterator"]
                self._known_shard_ids.add(shard_id)
                self._shards[shard_id] = _Shard(shard_id, shard.get("ParentShardId"), iterator)
                logger.debug("stream shard found: %s", shard_id)
            if not description.get("LastEvaluatedShardId"):
                return
            request["ExclusiveStartShardId"] = description["LastEvaluatedShardId"]

    def _read(self, shard: _Shard) -> bool:
        if shard.iterator is None:
            return False
        # moto rolls a failed transaction back by putting a copy of the whole table in its place, stream
        # shard included; an iterator goes on reading the replaced shard and would never see a record
        # again. A fresh iterator each round, after the last record read, reads the live one.
        shard.iterator = self._iterator_after(shard)
        try:
            response = self.client.get_records(ShardIterator=shard.iterator, Limit=1000)
        except self.client.exceptions.ExpiredIteratorException:
            shard.iterator = self._iterator_after(shard)
            return True
        shard.iterator = response.get("NextShardIterator")  # None once a closed shard is read to its end
        records = response["Records"]
        for record in records:
            shard.last_sequence_number = record["dynamodb"]["SequenceNumber"]
            converted = lambda_stream_record(record, self.stream_arn)
            # Lambda drops records the filter rejects before batching; they count as processed.
            if self._filter_pattern is None or matches_filter(self._filter_pattern, converted):
                shard.pending.append(converted)
        return bool(records)

    def _iterator_after(self, shard: _Shard) -> str:
        position: dict[str, str] = (
            {"ShardIteratorType": "AFTER_SEQUENCE_NUMBER", "SequenceNumber": shard.last_sequence_number}
            if shard.last_sequence_number
            else {"ShardIteratorType": "TRIM_HORIZON"}
        )
        response = self.client.get_shard_iterator(
            StreamArn=self.stream_arn, ShardId=shard.shard_id, **position
        )
        return str(response["ShardIterator"])

    def _deliver(self, shard: _Shard) -> None:
        while shard.pending:
            batch = shard.pending[: self._batch_size]
            invocation = self._invoke(batch)
            if invocation.error is not None:
                shard.last_error = invocation.error
            failed_at = min(invocation.failed, default=None)
            if failed_at is None:
                del shard.pending[: len(batch)]
                shard.failed_attempts = 0
                continue
            # Like Lambda, keep what succeeded before the first failure and retry from there.
            del shard.pending[:failed_at]
            shard.failed_attempts += 1
            if shard.failed_attempts <= self._max_retry_attempts:
                logger.warning(
                    "%s: batch failed; retry %d of %d on the next poll",
                    self._function.name,
                    shard.failed_attempts,
                    self._max_retry_attempts,
                )
                return
            abandoned = batch[failed_at:]
            self._give_up(shard, abandoned)
            del shard.pending[: len(abandoned)]
            shard.failed_attempts = 0
            shard.last_error = None

    def _give_up(self, shard: _Shard, records: list[dict[str, Any]]) -> None:
        first, last = records[0]["dynamodb"], records[-1]["dynamodb"]
        # The record Lambda sends to an on-failure destination: where the batch is, not its contents.
        failure = {
            "requestContext": {
                "requestId": str(uuid.uuid4()),
                "functionArn": self._function.arn,
                "condition": "RetryAttemptsExhausted",
                "approximateInvokeCount": shard.failed_attempts,
            },
            "responseContext": {
                "statusCode": 200,
                "executedVersion": "$LATEST",
                "functionError": "Unhandled" if shard.last_error else None,
            },
            "version": "1.0",
            "timestamp": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "DDBStreamBatchInfo": {
                "shardId": shard.shard_id,
                "startSequenceNumber": first["SequenceNumber"],
                "endSequenceNumber": last["SequenceNumber"],
                "approximateArrivalOfFirstRecord": _iso(first.get("ApproximateCreationDateTime")),
                "approximateArrivalOfLastRecord": _iso(last.get("ApproximateCreationDateTime")),
                "batchSize": len(records),
                "streamArn": self.stream_arn,
            },
        }
        logger.error(
            "%s gave up on %d records after %d attempts (sequence numbers %s to %s)",
            self._function.name,
            len(records),
            shard.failed_attempts,
            first["SequenceNumber"],
            last["SequenceNumber"],
        )
        if self._on_failure is not None:
            self._on_failure(failure)


def _iso(epoch_seconds: Any) -> str | None:
    if not isinstance(epoch_seconds, int | float):
        return None
    return datetime.fromtimestamp(epoch_seconds, UTC).isoformat().replace("+00:00", "Z")
