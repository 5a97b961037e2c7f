"""The clock is read in one place (riskgate.clock) and times are written in one format."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from riskgate.clock import iso, parse_iso

PACKAGE = Path(__file__).resolve().parents[2] / "functions" / "riskgate"
# The CLI runs in CI pipelines, not behind the API: it takes `now` as an argument where it decides by time.
READERS_OF_THE_CLOCK = {"clock.py", "client.py"}


def test_nothing_but_the_clock_module_reads_the_system_clock() -> None:
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        if path.name in READERS_OF_THE_CLOCK:
            continue
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            if re.search(
                r"datetime\.now\(|datetime\.utcnow\(|\btime\.time\(|time\.gmtime\(|date\.today\(", line
            ):
                offenders.append(f"{path.relative_to(PACKAGE)}:{number}: {line.strip()}")
    assert offenders == []


def test_iso_strings_sort_as_the_moments_do() -> None:
    base = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
    moments = [base + timedelta(microseconds=n) for n in (0, 1, 999_999, 1_000_000)]
    assert sorted(iso(m) for m in moments) == [iso(m) for m in moments]
    assert iso(base) == "2026-11-22T12:00:00.000000Z"


def test_parse_iso_needs_a_zone_and_normalizes_to_utc() -> None:
    assert parse_iso("2026-12-01T02:00:00+02:00") == datetime(2026, 12, 1, 0, 0, tzinfo=UTC)
    assert parse_iso("2026-12-01T00:00:00Z") == datetime(2026, 12, 1, tzinfo=UTC)
    with pytest.raises(ValueError, match="zone"):
        parse_iso("2026-12-01T00:00:00")
    with pytest.raises(ValueError, match="zone"):
        iso(datetime(2026, 12, 1))
    assert iso(datetime(2026, 12, 1, 1, tzinfo=timezone(timedelta(hours=1)))) == "2026-12-01T00:00:00.000000Z"
