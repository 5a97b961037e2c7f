"""Request bodies to JSON: gzip with and without the header, BOM, CRLF, size caps and clear errors."""

from __future__ import annotations

import gzip
import io
import tracemalloc

import pytest

from riskgate.domain.errors import MalformedInput, PayloadTooLarge
from riskgate.domain.parsers import decode_report

MIB = 1024 * 1024
LIMIT = 1 * MIB
REPORT = {"SchemaVersion": 2, "ArtifactName": "alpine:3.10", "Results": []}
REPORT_BYTES = b'{"SchemaVersion": 2, "ArtifactName": "alpine:3.10", "Results": []}'


def test_plain_json_is_decoded() -> None:
    assert decode_report(REPORT_BYTES, None, LIMIT) == REPORT


def test_a_utf8_bom_and_crlf_line_endings_are_accepted() -> None:
    # Given what a Windows shell redirect writes: BOM first, CRLF line ends
    body = (
        b"\xef\xbb\xbf"
        + b'{\r\n  "SchemaVersion": 2,\r\n  "ArtifactName": "alpine:3.10",\r\n  "Results": []\r\n}\r\n'
    )
    # Then it decodes like the plain document
    assert decode_report(body, None, LIMIT) == REPORT


@pytest.mark.parametrize("encoding", ["gzip", "GZIP", "x-gzip", " gzip ", "identity, gzip"])
def test_gzip_with_the_header_is_decompressed(encoding: str) -> None:
    assert decode_report(gzip.compress(REPORT_BYTES), encoding, LIMIT) == REPORT


def test_gzip_without_the_header_is_recognized_by_its_magic_bytes() -> None:
    # Given a CI script that uploads report.json.gz without Content-Encoding
    assert decode_report(gzip.compress(REPORT_BYTES), None, LIMIT) == REPORT


def test_gzip_of_a_bom_file_is_decoded() -> None:
    assert decode_report(gzip.compress(b"\xef\xbb\xbf" + REPORT_BYTES), "gzip", LIMIT) == REPORT


def test_concatenated_gzip_members_are_one_body() -> None:
    body = gzip.compress(REPORT_BYTES[:20]) + gzip.compress(REPORT_BYTES[20:])
    assert decode_report(body, "gzip", LIMIT) == REPORT


@pytest.mark.parametrize(
    ("body", "encoding"),
    [
        (b"\x1f\x8b" + b"definitely not deflate data", None),
        (gzip.compress(REPORT_BYTES)[:-12], "gzip"),
        (gzip.compress(REPORT_BYTES)[:10], None),
        (REPORT_BYTES, "gzip"),
        (gzip.compress(REPORT_BYTES) + b"trailing junk", "gzip"),
    ],
    ids=["garbage after magic", "truncated", "header only", "header says gzip, body is not", "trailing junk"],
)
def test_broken_gzip_is_malformed(body: bytes, encoding: str | None) -> None:
    with pytest.raises(MalformedInput, match=r"^body is not valid gzip: "):
        decode_report(body, encoding, LIMIT)


def test_an_unsupported_content_encoding_is_malformed() -> None:
    with pytest.raises(MalformedInput, match="unsupported Content-Encoding 'br'"):
        decode_report(REPORT_BYTES, "br", LIMIT)


def test_a_body_over_the_limit_is_too_large_and_says_the_limit() -> None:
    with pytest.raises(PayloadTooLarge) as raised:
        decode_report(b" " * (LIMIT + 1), None, LIMIT)
    assert "1 MiB (1048576 bytes)" in raised.value.message


def test_a_body_at_the_limit_is_accepted() -> None:
    body = REPORT_BYTES + b" " * (LIMIT - len(REPORT_BYTES))
    assert decode_report(body, None, LIMIT) == REPORT


def test_a_gzip_bomb_stops_at_the_cap_without_inflating_it() -> None:
    # Given 50 MB of zeros, which gzip squeezes into about 50 KB
    bomb = _gzip_of_zeros(50 * 1000 * 1000)
    assert len(bomb) < LIMIT
    # When it is decoded with a 1 MiB cap, watching memory
    tracemalloc.start()
    try:
        with pytest.raises(PayloadTooLarge, match=r"decompressed report is larger than the limit of 1 MiB"):
            decode_report(bomb, "gzip", LIMIT)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # Then it was refused having held little more than the cap, never the 50 MB
    assert peak < 2 * LIMIT


def test_decompressed_size_at_the_limit_is_accepted() -> None:
    body = REPORT_BYTES + b" " * (LIMIT - len(REPORT_BYTES))
    assert decode_report(gzip.compress(body), "gzip", LIMIT) == REPORT


def test_not_json_is_malformed_naming_line_and_column() -> None:
    # Given JSON broken on its third line
    body = b'{\n  "SchemaVersion": 2,\n  "Results": [,]\n}'
    with pytest.raises(MalformedInput) as raised:
        decode_report(body, None, LIMIT)
    # Then the message says where
    assert raised.value.message.startswith("body is not valid JSON: ")
    assert "line 3, column 15" in raised.value.message


def test_not_utf8_is_malformed_naming_the_position() -> None:
    with pytest.raises(MalformedInput, match=r"not UTF-8 text: invalid byte 0xff at line 2, column 3"):
        decode_report(b'{"a":\n  \xff}', None, LIMIT)


@pytest.mark.parametrize("body", [b'{"score": NaN}', b"[Infinity]", b"-Infinity"])
def test_non_json_constants_are_malformed(body: bytes) -> None:
    with pytest.raises(MalformedInput, match="is not a JSON value"):
        decode_report(body, None, LIMIT)


def test_absurdly_deep_nesting_is_malformed_not_a_crash() -> None:
    depth = 200_000
    with pytest.raises(MalformedInput, match="body is not valid JSON"):
        decode_report(b"[" * depth + b"]" * depth, None, LIMIT)


@pytest.mark.parametrize("body", [b"", b"\xef\xbb\xbf", b"  \r\n "])
def test_an_empty_body_is_malformed(body: bytes) -> None:
    with pytest.raises(MalformedInput, match="request body is empty"):
        decode_report(body, None, LIMIT)


def test_null_is_a_valid_document() -> None:
    # Old Trivy wrote `null` for a clean image; recognizing it is the parser's job, not the decoder's.
    assert decode_report(b"null", None, LIMIT) is None


def _gzip_of_zeros(size: int) -> bytes:
    buffer = io.BytesIO()
    chunk = b"\x00" * MIB
    with gzip.GzipFile(fileobj=buffer, mode="wb") as compressed:
        for _ in range(size // MIB):
            compressed.write(chunk)
        compressed.write(b"\x00" * (size % MIB))
    return buffer.getvalue()


def test_a_huge_integer_is_malformed_saying_what_is_wrong_with_the_report() -> None:
    with pytest.raises(MalformedInput) as refused:
        decode_report(b'{"SchemaVersion": ' + b"9" * 5000 + b"}", None, LIMIT)
    assert "5000 digits" in refused.value.message
    assert "sys." not in refused.value.message  # nothing about how Python works
    assert decode_report(b'{"n": -' + b"9" * 100 + b"}", None, LIMIT) == {"n": -int("9" * 100)}
