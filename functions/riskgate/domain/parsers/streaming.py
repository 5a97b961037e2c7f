"""Reports larger than memory: an uploaded report spooled to disk, then read as a stream of JSON events.

Pure stream processing, no AWS. `spool_report` copies an uploaded object (gzip or not) to a file,
decompressing as it goes and stopping at a size cap. `read_streamed_trivy_report` builds the document
from the file's JSON events while leaving out what the Trivy parser never reads: `Results[].Packages`
(the `--list-all-pkgs` inventory, most of a large report) and, in each vulnerability, everything but
`STREAMED_VULNERABILITY_FIELDS` (descriptions, references, dates). What is left goes through the same
parser as a posted report (`riskgate.domain.parsers.parse_reports`), so the findings are the same; a test
checks this over every Trivy fixture.

Only Trivy JSON is read this way: it is the format whose reports reach hundreds of megabytes (a test with
`--list-all-pkgs` of a large image), and Trivy writes `SchemaVersion` as the first key, so the format is
known from the first bytes. Larger reports of other formats are refused with a message saying so.
"""

from __future__ import annotations

import zlib
from typing import IO, Any

import ijson

from riskgate.domain.errors import MalformedInput, PayloadTooLarge

GZIP_MAGIC = b"\x1f\x8b"
_UTF8_BOM = b"\xef\xbb\xbf"
_GZIP_WBITS = 16 + zlib.MAX_WBITS
_CHUNK = 1024 * 1024

# The fields of a Trivy vulnerability that riskgate.domain.parsers.trivy reads.
STREAMED_VULNERABILITY_FIELDS = frozenset(
    {
        "VulnerabilityID",
        "PkgName",
        "PkgPath",
        "InstalledVersion",
        "FixedVersion",
        "Status",
        "Severity",
        "Title",
        "CVSS",
    }
)
_PACKAGES = "Results.item.Packages"
_VULNERABILITY = "Results.item.Vulnerabilities.item."


def spool_report(source: IO[bytes], target: IO[bytes], max_bytes: int) -> int:
    """Copies `source` to `target`, gunzipping it when it starts with the gzip magic and dropping a UTF-8
    byte order mark; returns the bytes written. Raises PayloadTooLarge past `max_bytes` written and
    MalformedInput for broken gzip, so that a gzip bomb costs at most `max_bytes` of disk."""
    head = source.read(_CHUNK)
    if not head:
        raise MalformedInput("the uploaded report is empty")
    chunks = _gunzipped(head, source) if head.startswith(GZIP_MAGIC) else _plain(head, source)
    written = 0
    first = True
    for chunk in chunks:
        if first and chunk.startswith(_UTF8_BOM):
            chunk = chunk[len(_UTF8_BOM) :]
        first = False
        written += len(chunk)
        if written > max_bytes:
            raise PayloadTooLarge(
                f"the decompressed report is larger than the limit of {max_bytes} bytes",
                details=[{"limit_bytes": max_bytes}],
            )
        target.write(chunk)
    if written == 0:
        raise MalformedInput("the uploaded report is empty")
    target.flush()
    return written


def _plain(head: bytes, source: IO[bytes]) -> Any:
    yield head
    while chunk := source.read(_CHUNK):
        yield chunk


def _gunzipped(head: bytes, source: IO[bytes]) -> Any:
    """Every gzip member, inflated a bounded step at a time."""
    inflater = zlib.decompressobj(wbits=_GZIP_WBITS)
    data = head
    try:
        while True:
            while data:
                out = inflater.decompress(data, _CHUNK)
                if out:
                    yield out
                data = inflater.unconsumed_tail
                if inflater.eof:
                    rest = inflater.unused_data
                    # A read may end inside the next member's magic bytes: read on before deciding.
                    while len(rest) < len(GZIP_MAGIC) and GZIP_MAGIC.startswith(rest):
                        more = source.read(_CHUNK)
                        if not more:
                            break
                        rest += more
                    if rest.strip(b"\x00"):
                        if not rest.startswith(GZIP_MAGIC):
                            raise MalformedInput(
                                "the uploaded report is not valid gzip: unexpected bytes after the data"
                            )
                        inflater = zlib.decompressobj(wbits=_GZIP_WBITS)
                        data = rest
                    else:
                        data = b""
            more = source.read(_CHUNK)
            if not more:
                break
            data = more
    except zlib.error as error:
        raise MalformedInput(f"the uploaded report is not valid gzip: {error}") from error
    if not inflater.eof:
        raise MalformedInput("the uploaded report is not valid gzip: the compressed data is truncated")


def first_top_level_key(stream: IO[bytes]) -> str | None:
    """The first key of the document's top-level object; None when it is not an object."""
    try:
        for prefix, event, value in ijson.parse(stream):
            if prefix == "" and event == "map_key":
                return str(value)
            if prefix == "" and event in ("start_array", "string", "number", "boolean", "null"):
                return None
    except ijson.JSONError as error:
        raise MalformedInput(f"the uploaded report is not valid JSON: {error}") from error
    return None


def read_streamed_trivy_report(stream: IO[bytes], size: int, in_memory_limit: int) -> Any:
    """The Trivy document in `stream` without what the parser does not read (see the module's text)."""
    if first_top_level_key(stream) != "SchemaVersion":
        raise PayloadTooLarge(
            f"the decompressed report is {size} bytes: reports over {in_memory_limit} bytes are read as a "
            "stream only when they are Trivy JSON (SchemaVersion 2); send this format compressed or smaller",
            details=[{"limit_bytes": in_memory_limit}],
        )
    stream.seek(0)
    builder = ijson.ObjectBuilder()
    try:
        for prefix, event, value in ijson.parse(stream, use_float=True):
            if not _left_out(prefix):
                builder.event(event, value)
    except ijson.JSONError as error:
        raise MalformedInput(f"the uploaded report is not valid JSON: {error}") from error
    except UnicodeDecodeError as error:
        raise MalformedInput("the uploaded report is not UTF-8 text") from error
    return builder.value


def _left_out(prefix: str) -> bool:
    # The key event of a left-out member is kept: the builder's next key replaces it.
    if prefix == _PACKAGES or prefix.startswith(_PACKAGES + "."):
        return True
    if prefix.startswith(_VULNERABILITY):
        field = prefix[len(_VULNERABILITY) :].split(".", 1)[0]
        return field not in STREAMED_VULNERABILITY_FIELDS
    return False
