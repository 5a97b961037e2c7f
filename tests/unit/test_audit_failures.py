"""Failed authentications as the security event log counts them: which event a failure belongs to."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from riskgate.domain.audit import (
    FAILURE_SAMPLE_SLOTS,
    OTHER_ADDRESSES,
    PER_ADDRESS,
    FailedAuthentication,
    address_key,
    failure_event,
    failure_window,
    sample_slot,
)

AT = datetime(2026, 3, 4, 12, 0, 5, 250_000, tzinfo=UTC)


def failure(
    at: datetime = AT, source_ip: str | None = "203.0.113.9", path: str = "/v1/images"
) -> FailedAuthentication:
    return FailedAuthentication(
        at=at, source_ip=source_ip, request_id="r-1", reason="not a Riskgate token", method="GET", path=path
    )


def test_the_window_is_the_utc_minute() -> None:
    assert failure_window(AT) == datetime(2026, 3, 4, 12, 0, tzinfo=UTC)
    elsewhere = AT.astimezone(timezone(timedelta(hours=5, minutes=30)))
    assert failure_window(elsewhere) == datetime(2026, 3, 4, 12, 0, tzinfo=UTC)


def test_failures_of_one_address_and_minute_name_one_event() -> None:
    first = failure_event(failure(), own_address=True)
    later = failure_event(failure(AT + timedelta(seconds=54)), own_address=True)
    next_minute = failure_event(failure(AT + timedelta(seconds=55)), own_address=True)
    other_address = failure_event(failure(source_ip="198.51.100.1"), own_address=True)
    assert first.event_id == later.event_id
    assert len({first.event_id, next_minute.event_id, other_address.event_id}) == 3
    assert first.event_id.startswith("evt-")
    assert first.actor.source_ip == "203.0.113.9"
    assert first.details["aggregation"] == PER_ADDRESS
    assert first.occurred_at == "2026-03-04T12:00:05.250000Z"


def test_the_other_addresses_of_a_minute_share_one_event_without_an_address() -> None:
    events = [failure_event(failure(source_ip=f"198.51.100.{n}"), own_address=False) for n in range(20)]
    assert len({event.event_id for event in events}) == 1
    event = events[0]
    assert event.actor.source_ip is None
    assert event.details["aggregation"] == OTHER_ADDRESSES
    assert event.event_id != failure_event(failure(), own_address=True).event_id


def test_samples_and_keys_are_bounded_whatever_the_caller_sends() -> None:
    assert {sample_slot(f"GET /v1/{n}") for n in range(1000)} == set(range(FAILURE_SAMPLE_SLOTS))
    long = failure(path="/v1/" + "x" * 10_000)
    assert len(long.request_line) == 200
    assert len(failure_event(long, own_address=True).details["path"]) == 200
    assert len(address_key("2001:db8::1")) == len(address_key(None)) == 8
