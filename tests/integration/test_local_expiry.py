"""The expiry checker on the local stack: EventBridge Scheduler's stand-in ticks it, and
`POST /_local/expiry-check` runs it for any time, both with the scheduled event the deployed schedule sends.

One in-process stack for the module. The checker is the real handler, seen through a recorder that keeps
each event it is given; what a run expires or reminds is the service's business (tested there), here only
the wiring is.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from riskgate.clock import parse_iso
from riskgate.resources import (
    LOCAL_EXPIRY_CHECK_INTERVAL_SECONDS,
    SCHEDULED_EVENT_DETAIL_TYPE,
    SCHEDULED_EVENT_SOURCE,
)
from riskgate_local import LocalStack
from riskgate_local.stack import EXPIRY_CHECK_TASK
from tests.e2e.conftest import http_request

pytestmark = pytest.mark.e2e

TICK_TIMEOUT_SECONDS = 10
RESULT_KEYS = {"as_of", "due", "expired", "reminded", "skipped"}

# Every event the expiry checker was invoked with, in order.
checker_events: list[dict[str, Any]] = []


def recording_checker(event: dict[str, Any], context: Any) -> Any:
    # Imported at the first call, as Lambda would at its first start: after the stack set the environment.
    from riskgate.handlers.expiry_checker import handler

    checker_events.append(event)
    return handler(event, context)


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalStack]:
    checker_events.clear()
    with LocalStack(port=0, expiry_checker=recording_checker) as running:
        yield running


def scheduled_events() -> list[dict[str, Any]]:
    return [event for event in checker_events if event.get("source") == SCHEDULED_EVENT_SOURCE]


def test_the_schedule_stand_in_is_registered_and_ticks_with_a_scheduled_event(stack: LocalStack) -> None:
    (task,) = [task for task in stack.periodic_tasks if task.name == EXPIRY_CHECK_TASK]
    assert task.interval_seconds == LOCAL_EXPIRY_CHECK_INTERVAL_SECONDS
    assert task.running

    # The first tick comes as the stack starts, as the schedule's first run would after its rate.
    deadline = time.monotonic() + TICK_TIMEOUT_SECONDS
    while not scheduled_events():
        assert time.monotonic() < deadline, "the expiry checker was not ticked"
        time.sleep(0.05)
    event = scheduled_events()[0]
    assert set(event) == {"source", "detail-type", "time"}
    assert event["detail-type"] == SCHEDULED_EVENT_DETAIL_TYPE
    assert abs(parse_iso(event["time"]) - datetime.now(UTC)) < timedelta(minutes=1)


def test_the_local_route_runs_the_checker_for_the_time_given(stack: LocalStack) -> None:
    before = len(checker_events)

    response = http_request(
        stack.url,
        "POST",
        "/_local/expiry-check",
        body=json.dumps({"as_of": "2031-06-30T23:30:00-01:00"}).encode(),
        headers={"Content-Type": "application/json"},
    )

    assert response.status == 200, response.body
    result = response.json()
    assert set(result) == RESULT_KEYS
    assert result["as_of"] == "2031-07-01T00:30:00.000000Z"
    # The checker got the scheduled event the deployed schedule sends, with that time.
    (event,) = [event for event in checker_events[before:] if event["time"].startswith("2031-")]
    assert event == {
        "source": SCHEDULED_EVENT_SOURCE,
        "detail-type": SCHEDULED_EVENT_DETAIL_TYPE,
        "time": "2031-07-01T00:30:00.000000Z",
    }


def test_the_local_route_refuses_a_time_without_a_zone(stack: LocalStack) -> None:
    response = http_request(
        stack.url, "POST", "/_local/expiry-check", body=b'{"as_of": "2031-06-30T23:30:00"}'
    )

    assert response.status == 400
    assert response.json()["error"]["code"] == "malformed_request"


def test_run_expiry_check_invokes_the_checker_and_returns_its_result(stack: LocalStack) -> None:
    as_of = datetime(2032, 2, 29, 12, 0, tzinfo=UTC)

    result = stack.run_expiry_check(as_of)

    assert set(result) == RESULT_KEYS
    assert parse_iso(result["as_of"]) == as_of
    assert checker_events[-1]["time"] == "2032-02-29T12:00:00.000000Z"


def test_the_checker_refuses_a_malformed_time_and_runs_without_one_for_now(stack: LocalStack) -> None:
    # A malformed time fails the invocation (Lambda retries it, then the dead-letter queue keeps it) ...
    with pytest.raises(ValueError, match="isoformat"):
        stack.expiry_checker_function.invoke({"source": SCHEDULED_EVENT_SOURCE, "time": "soon"})

    # ... while an event without one runs as of the system clock.
    result = stack.expiry_checker_function.invoke({"source": SCHEDULED_EVENT_SOURCE})

    assert abs(parse_iso(result["as_of"]) - datetime.now(UTC)) < timedelta(minutes=1)
