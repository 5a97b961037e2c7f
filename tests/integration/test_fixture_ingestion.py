"""Every real report of ../shared/fixtures/scanners, ingested through the API handler into moto.

Supported reports are stored and answer with counts equal to the figures derived from the fixtures'
README (tests/support/fixture_readme.py); the stored image shows the same counts and lists exactly that
many findings. Reports of other formats get 422 and store nothing. One test per report, each with a
table of its own.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from riskgate.domain.parsers import decode_report
from riskgate.handlers.api import handler
from tests.support.events import FakeLambdaContext, api_event, response_json
from tests.support.fixture_readme import (
    MAX_BYTES,
    expected_counts,
    our_format,
    raw_entries,
    readme_rows,
    readme_rows_if_present,
)

# Reports of tarballs, directories and repositories name no image: CI says which one it built.
FALLBACK_IMAGE = "registry.example.com/fixtures/unnamed:1"


def call(event: dict[str, Any]) -> tuple[int, Any]:
    response = handler(event, FakeLambdaContext())
    return response["statusCode"], response_json(response)


def all_findings(image_id: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    query: dict[str, str] = {"limit": "200"}
    while True:
        status, page = call(api_event("GET", f"/v1/images/{image_id}/findings", query=query))
        assert status == 200
        items += page["items"]
        if not page["next_token"]:
            return items
        query = {**query, "next_token": page["next_token"]}


def total(counts: dict[str, Any]) -> int:
    return (
        sum(counts["vulnerabilities"].values())
        + counts["sensitive_data"]
        + counts["misconfigurations"]
        + counts["malware"]
    )


def stored_scan_count() -> int:
    status, images = call(api_event("GET", "/v1/images", query={"limit": "200"}))
    assert status == 200
    assert not images["next_token"]
    return sum(image["scan_count"] for image in images["items"])


# One test per report, each with a table of its own: moto copies the whole table for every transaction,
# so ingesting every report into one table took time quadratic in their findings. The README is read
# when tests are collected; without the folder the only parameter is MISSING, and `scanner_fixtures`
# skips the test, saying why.
ROWS = readme_rows_if_present()
MISSING = "scanner-fixtures-missing"


@pytest.mark.parametrize("path", sorted(ROWS) or [MISSING])
def test_the_fixture_is_ingested_with_the_readme_counts(
    scanner_fixtures: Path, dynamodb: Any, path: str
) -> None:
    row = ROWS[path]
    body = (scanner_fixtures / path).read_bytes()
    report_format = our_format(row.format_and_schema)
    status, answer = call(api_event("POST", "/v1/scans", body=body))
    if report_format is None:
        assert status == 422, answer
        assert answer["error"]["code"] == "unsupported_format"
        # An unsupported report leaves nothing behind.
        assert stored_scan_count() == 0
        return
    if status == 422 and answer["error"]["code"] == "image_unknown":
        status, answer = call(api_event("POST", "/v1/scans", body=body, query={"image": FALLBACK_IMAGE}))
    assert status == 201, answer
    assert answer["format"] == report_format
    document = decode_report(body, None, MAX_BYTES)
    expected = expected_counts(row, raw_entries(document, report_format))
    # No risk acceptance exists here: none of the findings is accepted. A report of several images and
    # Kubernetes resources answers their summed counts; the README counts all of them.
    assert answer["counts"] == {**expected, "accepted": 0}
    scans = answer["scans"]
    assert len(scans) >= 1
    if len(scans) == 1:
        assert scans[0]["scan_id"] == answer["scan_id"]
    assert sum(total(scan["counts"]) for scan in scans) == total(expected)
    stored = 0
    for scan in scans:
        status, image = call(api_event("GET", f"/v1/images/{scan['image_id']}"))
        assert image["current_scan_id"] == scan["scan_id"]
        assert image["counts"] == scan["counts"]
        stored += len(all_findings(scan["image_id"]))
    assert stored == total(expected)
    # The report is stored once, one scan per subject (a refused first attempt stored nothing).
    assert stored_scan_count() == len(scans)


def test_every_readme_row_is_tested_and_enough_are_supported(scanner_fixtures: Path) -> None:
    rows = readme_rows((scanner_fixtures / "README.md").read_text(encoding="utf-8"))
    assert set(rows) == set(ROWS)
    assert sum(our_format(row.format_and_schema) is not None for row in rows.values()) >= 40


def test_a_fixture_survives_gzip_bom_and_crlf_on_the_way(dynamodb: Any, scanner_fixtures: Path) -> None:
    body = (scanner_fixtures / "trivy/wild_python-test-baseline-full_bom-crlf.json").read_bytes()
    assert body.startswith(b"\xef\xbb\xbf")
    status, answer = call(api_event("POST", "/v1/scans", body=body, gzip_body=True))
    assert status == 201, json.dumps(answer)[:300]
    assert answer["counts"]["vulnerabilities"]["critical"] == 6
