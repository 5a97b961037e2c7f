"""Reports larger than memory: spooling an uploaded object (gzip, BOM, bombs, broken gzip) and reading a
Trivy report as a stream of JSON events, which must give the very findings the in-memory path gives."""

from __future__ import annotations

import copy
import gzip
import io
import json
import struct
import zlib
from pathlib import Path
from typing import Any

import pytest

from riskgate.domain.errors import MalformedInput, PayloadTooLarge
from riskgate.domain.parsers import decode_report, parse_reports
from riskgate.domain.parsers.streaming import (
    STREAMED_VULNERABILITY_FIELDS,
    first_top_level_key,
    read_streamed_trivy_report,
    spool_report,
)
from tests.support.fixture_readme import SCANNER_FIXTURES_FOLDER as FIXTURES

BIG = 1024 * 1024 * 1024
BOM = b"\xef\xbb\xbf"
CHUNK = 1024 * 1024  # streaming._CHUNK: spooling reads and writes at most this much at a time
REPORT = b'{"SchemaVersion": 2, "ArtifactName": "alpine:3.10", "Results": []}'
# A report with what the stream leaves out: the package inventory and the vulnerability's prose.
LIST_ALL_PKGS = "trivy/wild_vulpy.json"


# --- the fixtures -----------------------------------------------------------------------------------


def fixture_bytes(relative: str) -> bytes:
    path = FIXTURES / relative
    if not path.is_file():
        pytest.skip(f"scanner fixtures not found at {FIXTURES}")
    return path.read_bytes()


def trivy_schema_v2_fixtures() -> list[str]:
    """Every Trivy report under trivy/ whose document is an object with SchemaVersion first (the
    legacy list, the k8s report, SARIF and CycloneDX left out); ["missing"] without ../shared."""
    if not FIXTURES.is_dir():
        return ["missing"]
    found = []
    for path in sorted((FIXTURES / "trivy").glob("*.json")):
        # A BOM is dropped by spool_report before the document is read; here it is dropped by hand.
        if first_top_level_key(io.BytesIO(path.read_bytes().removeprefix(BOM))) == "SchemaVersion":
            found.append(path.relative_to(FIXTURES).as_posix())
    return found


TRIVY_FIXTURES = trivy_schema_v2_fixtures()


def streamed(raw: bytes, tmp_path: Path) -> Any:
    """The document as the upload ingester reads a report over its in-memory limit: spooled to a file,
    then read as a stream (`in_memory_limit=0`: everything is over it)."""
    with (tmp_path / "spool").open("w+b") as spool:
        written = spool_report(io.BytesIO(raw), spool, BIG)
        spool.seek(0)
        return read_streamed_trivy_report(spool, written, in_memory_limit=0)


def without_what_is_not_streamed(document: Any) -> Any:
    """The document minus `Results[].Packages` and every vulnerability field outside the allow-list."""
    expected = copy.deepcopy(document)
    for result in expected.get("Results") or []:
        if not isinstance(result, dict):
            continue
        result.pop("Packages", None)
        for vulnerability in result.get("Vulnerabilities") or []:
            if isinstance(vulnerability, dict):
                for field in set(vulnerability) - STREAMED_VULNERABILITY_FIELDS:
                    del vulnerability[field]
    return expected


def test_the_trivy_fixtures_streamed_are_the_schema_2_ones() -> None:
    if not FIXTURES.is_dir():
        pytest.skip(f"scanner fixtures not found at {FIXTURES}")

    assert len(TRIVY_FIXTURES) >= 20
    assert LIST_ALL_PKGS in TRIVY_FIXTURES
    assert "trivy/wild_python-test-baseline-full_bom-crlf.json" in TRIVY_FIXTURES  # BOM and CRLF
    assert "trivy/dd_k8s-cluster-legacy.json" not in TRIVY_FIXTURES
    assert "trivy/dd_legacy-many-vulns_schema-v1.json" not in TRIVY_FIXTURES
    assert "trivy/golden_alpine-310.sarif.json" not in TRIVY_FIXTURES


@pytest.mark.parametrize("relative", TRIVY_FIXTURES)
def test_a_streamed_trivy_report_gives_the_findings_of_the_in_memory_one(
    relative: str, tmp_path: Path
) -> None:
    raw = fixture_bytes(relative)

    from_stream = parse_reports(streamed(raw, tmp_path))
    in_memory = parse_reports(decode_report(raw, None, BIG))

    assert len(from_stream) == len(in_memory) == 1
    for got, expected in zip(from_stream, in_memory, strict=True):
        assert got.findings == expected.findings  # every field of every finding, in order
        assert got.image == expected.image
        assert (got.format, got.scanner, got.scanner_version, got.created_at) == (
            expected.format,
            expected.scanner,
            expected.scanner_version,
            expected.created_at,
        )


@pytest.mark.parametrize("relative", TRIVY_FIXTURES)
def test_a_streamed_trivy_report_loses_only_packages_and_unread_vulnerability_fields(
    relative: str, tmp_path: Path
) -> None:
    raw = fixture_bytes(relative)

    assert streamed(raw, tmp_path) == without_what_is_not_streamed(decode_report(raw, None, BIG))


def test_the_package_inventory_and_descriptions_are_not_kept(tmp_path: Path) -> None:
    raw = fixture_bytes(LIST_ALL_PKGS)
    original = decode_report(raw, None, BIG)
    assert any("Packages" in result for result in original["Results"])
    assert any(
        "Description" in vulnerability
        for result in original["Results"]
        for vulnerability in result.get("Vulnerabilities") or []
    )

    document = streamed(raw, tmp_path)

    assert len(document["Results"]) == len(original["Results"])
    assert not any("Packages" in result for result in document["Results"])
    vulnerabilities = [v for result in document["Results"] for v in result.get("Vulnerabilities") or []]
    assert vulnerabilities
    assert not any("Description" in vulnerability for vulnerability in vulnerabilities)
    assert set().union(*vulnerabilities) <= STREAMED_VULNERABILITY_FIELDS
    assert document["ArtifactName"] == original["ArtifactName"]
    assert document["Metadata"] == original["Metadata"]


def test_a_member_left_out_last_in_its_object_leaves_no_stray_key(tmp_path: Path) -> None:
    raw = json.dumps(
        {
            "SchemaVersion": 2,
            "Results": [
                {
                    "Target": "t",
                    "Vulnerabilities": [
                        {"VulnerabilityID": "CVE-1", "Severity": "HIGH", "References": ["a", {"b": 1}]},
                        {
                            "Description": "first",
                            "VulnerabilityID": "CVE-2",
                            "CVSS": {"nvd": {"V3Score": 9.8}},
                        },
                    ],
                    "Packages": [{"Name": "zlib", "Vulnerabilities": [1]}],
                }
            ],
        }
    ).encode()

    assert streamed(raw, tmp_path) == {
        "SchemaVersion": 2,
        "Results": [
            {
                "Target": "t",
                "Vulnerabilities": [
                    {"VulnerabilityID": "CVE-1", "Severity": "HIGH"},
                    {"VulnerabilityID": "CVE-2", "CVSS": {"nvd": {"V3Score": 9.8}}},
                ],
            }
        ],
    }


# --- spool_report -----------------------------------------------------------------------------------


def spooled(raw: bytes, max_bytes: int = BIG) -> tuple[int, bytes]:
    target = io.BytesIO()
    written = spool_report(io.BytesIO(raw), target, max_bytes)
    return written, target.getvalue()


def test_a_plain_report_is_copied_as_is() -> None:
    assert spooled(REPORT) == (len(REPORT), REPORT)


def test_a_report_of_several_chunks_is_copied_whole() -> None:
    report = b'{"SchemaVersion": 2, "pad": "' + b"x" * (3 * CHUNK + 17) + b'"}'

    assert spooled(report) == (len(report), report)


def test_gzip_is_inflated() -> None:
    assert spooled(gzip.compress(REPORT)) == (len(REPORT), REPORT)


def test_a_large_gzip_report_is_inflated_whole() -> None:
    report = b'{"SchemaVersion": 2, "pad": "' + bytes(range(48, 58)) * (CHUNK // 2) + b'"}'

    assert spooled(gzip.compress(report)) == (len(report), report)


def test_every_gzip_member_is_inflated() -> None:
    members = gzip.compress(REPORT[:20]) + gzip.compress(REPORT[20:40]) + gzip.compress(REPORT[40:])

    assert spooled(members) == (len(REPORT), REPORT)


@pytest.mark.parametrize("padding", [1, 512, CHUNK + 3])
def test_zero_padding_after_the_gzip_data_is_ignored(padding: int) -> None:
    assert spooled(gzip.compress(REPORT) + b"\x00" * padding) == (len(REPORT), REPORT)


@pytest.mark.parametrize("compress", [False, True])
def test_a_utf8_bom_is_dropped(compress: bool) -> None:
    raw = BOM + REPORT

    assert spooled(gzip.compress(raw) if compress else raw) == (len(REPORT), REPORT)


def test_a_bom_later_in_the_report_is_kept() -> None:
    report = b'{"SchemaVersion": 2, "x": "' + BOM + b'"}'

    assert spooled(report) == (len(report), report)


@pytest.mark.parametrize("raw", [b"", BOM, gzip.compress(b""), gzip.compress(BOM)])
def test_an_empty_report_is_malformed(raw: bytes) -> None:
    with pytest.raises(MalformedInput, match="empty"):
        spooled(raw)


@pytest.mark.parametrize("cut", [2, 10, 30, -8, -1])
def test_truncated_gzip_is_malformed_naming_the_truncation(cut: int) -> None:
    raw = gzip.compress(REPORT * 20)[:cut]

    with pytest.raises(MalformedInput, match="not valid gzip: the compressed data is truncated"):
        spooled(raw)


@pytest.mark.parametrize("garbage", [b"garbage", b"\x00\x00junk", b"\n", b"\x1f"])
def test_bytes_after_a_gzip_member_are_malformed(garbage: bytes) -> None:
    with pytest.raises(MalformedInput, match="not valid gzip"):
        spooled(gzip.compress(REPORT) + garbage)


def test_corrupt_gzip_data_is_malformed() -> None:
    raw = bytearray(gzip.compress(REPORT * 20))
    raw[12:20] = b"\xff" * 8

    with pytest.raises(MalformedInput, match="not valid gzip"):
        spooled(bytes(raw))


def test_a_gzip_bomb_stops_at_the_limit() -> None:
    bomb = gzip.compress(b"0" * 50_000_000)
    target = io.BytesIO()

    with pytest.raises(PayloadTooLarge, match="larger than the limit of 1000000 bytes") as raised:
        spool_report(io.BytesIO(bomb), target, 1_000_000)

    assert raised.value.details == [{"limit_bytes": 1_000_000}]
    assert len(target.getvalue()) <= 1_000_000 + CHUNK


def test_a_plain_report_over_the_limit_is_too_large() -> None:
    target = io.BytesIO()

    with pytest.raises(PayloadTooLarge):
        spool_report(io.BytesIO(b" " * (3 * CHUNK)), target, CHUNK + 1)

    assert len(target.getvalue()) <= CHUNK + 1


def test_a_report_of_exactly_the_limit_is_spooled() -> None:
    assert spooled(REPORT, max_bytes=len(REPORT)) == (len(REPORT), REPORT)
    with pytest.raises(PayloadTooLarge):
        spooled(REPORT, max_bytes=len(REPORT) - 1)


# --- read_streamed_trivy_report and first_top_level_key -----------------------------------------------


def test_a_large_report_of_another_format_is_refused_saying_only_trivy_is_streamed() -> None:
    raw = fixture_bytes("grype/" + sorted(p.name for p in (FIXTURES / "grype").glob("*.json"))[0])

    with pytest.raises(PayloadTooLarge) as raised:
        read_streamed_trivy_report(io.BytesIO(raw), len(raw), in_memory_limit=1000)

    message = raised.value.message
    assert f"the decompressed report is {len(raw)} bytes" in message
    assert "over 1000 bytes are read as a stream only when they are Trivy JSON" in message
    assert raised.value.details == [{"limit_bytes": 1000}]


@pytest.mark.parametrize(
    "raw",
    [
        b'[{"Target": "x"}]',  # the legacy Trivy list
        b'{"ArtifactName": "a", "SchemaVersion": 2}',  # SchemaVersion, but not first
        b"null",
    ],
)
def test_a_document_without_schema_version_first_is_not_streamed(raw: bytes) -> None:
    with pytest.raises(PayloadTooLarge, match="Trivy JSON"):
        read_streamed_trivy_report(io.BytesIO(raw), len(raw), in_memory_limit=0)


def test_a_truncated_trivy_report_is_malformed() -> None:
    raw = fixture_bytes("trivy/golden_alpine-310.json")

    with pytest.raises(MalformedInput, match="not valid JSON"):
        read_streamed_trivy_report(io.BytesIO(raw[: len(raw) // 2]), len(raw) // 2, in_memory_limit=0)


def test_broken_json_after_the_first_key_is_malformed() -> None:
    raw = b'{"SchemaVersion": 2, "Results": [}'

    with pytest.raises(MalformedInput, match="not valid JSON"):
        read_streamed_trivy_report(io.BytesIO(raw), len(raw), in_memory_limit=0)


def test_a_report_that_is_not_utf8_is_malformed() -> None:
    raw = b'{"SchemaVersion": 2, "ArtifactName": "\xff\xfe"}'

    with pytest.raises(MalformedInput):
        read_streamed_trivy_report(io.BytesIO(raw), len(raw), in_memory_limit=0)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b'{"SchemaVersion": 2, "Results": []}', "SchemaVersion"),
        (b'  {\r\n "ClusterName": "c"}', "ClusterName"),
        (b"{}", None),
        (b'[{"SchemaVersion": 2}]', None),
        (b"[]", None),
        (b'"text"', None),
        (b"42", None),
        (b"true", None),
        (b"null", None),
    ],
)
def test_first_top_level_key(raw: bytes, expected: str | None) -> None:
    assert first_top_level_key(io.BytesIO(raw)) == expected


def test_first_top_level_key_reads_only_the_start_of_the_document() -> None:
    # Broken further on: the first key is known before the break is reached.
    assert first_top_level_key(io.BytesIO(b'{"SchemaVersion": 2, "Results": [}' + b" " * 100)) == (
        "SchemaVersion"
    )


@pytest.mark.parametrize("raw", [b"{", b"", b"{]", b"nope"])
def test_first_top_level_key_of_broken_json_is_malformed(raw: bytes) -> None:
    with pytest.raises(MalformedInput, match="not valid JSON"):
        first_top_level_key(io.BytesIO(raw))


def _member_of_length(length: int, payload: bytes) -> bytes:
    """A gzip member of exactly `length` bytes: its FNAME header field pads it."""

    def member(name_length: int) -> bytes:
        header = b"\x1f\x8b\x08\x08\x00\x00\x00\x00\x00\xff" + b"n" * name_length + b"\x00"
        deflate = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
        body = deflate.compress(payload) + deflate.flush()
        return header + body + struct.pack("<II", zlib.crc32(payload), len(payload))

    padded = member(1 + length - len(member(1)))
    assert len(padded) == length
    return padded


@pytest.mark.parametrize("first_member_length", [CHUNK - 2, CHUNK - 1, CHUNK, CHUNK + 1])
def test_a_read_ending_inside_the_next_members_magic_bytes_still_reads_it(first_member_length: int) -> None:
    # With 1 MiB reads, a member ending 1 byte before a read's end leaves only 0x1f of the next one's magic.
    blob = _member_of_length(first_member_length, b'{"a": 1}') + gzip.compress(b" ", mtime=0)
    target = io.BytesIO()

    assert spool_report(io.BytesIO(blob), target, 10**6) == 9
    assert target.getvalue() == b'{"a": 1} '
