"""Scanner reports in: request bytes → JSON document → findings and subjects. Pure functions, no AWS.

`decode_report` turns the request body into a JSON value (gzip, BOM, size limits); `parse_reports`
recognizes the format by the document's structure, never by a file name or header, and parses it into
one report per subject: the image a single-image report is about, or each image and Kubernetes resource
(workload subject, `images.workload_ref`) of a Trivy Operator or `trivy k8s` report. `parse_report` is
the same for documents about one subject.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Callable
from typing import Any

from riskgate.domain.errors import InvalidInput, MalformedInput, PayloadTooLarge, UnsupportedFormat
from riskgate.domain.findings import dedupe
from riskgate.domain.parsers._common import NOT_TEXT, ParsedReport, is_text, json_type
from riskgate.domain.parsers.clair import looks_like_clair, parse_clair
from riskgate.domain.parsers.cyclonedx import parse_cyclonedx
from riskgate.domain.parsers.gitlab import looks_like_gitlab, parse_gitlab
from riskgate.domain.parsers.grype import parse_grype
from riskgate.domain.parsers.harbor import looks_like_harbor, parse_harbor
from riskgate.domain.parsers.sarif import looks_like_sarif, parse_sarif
from riskgate.domain.parsers.snyk import looks_like_snyk, parse_snyk
from riskgate.domain.parsers.trivy import parse_trivy, parse_trivy_legacy
from riskgate.domain.parsers.trivy_k8s import looks_like_trivy_k8s, parse_trivy_k8s
from riskgate.domain.parsers.trivy_operator import looks_like_trivy_operator, parse_trivy_operator

__all__ = ["SUPPORTED_FORMATS", "ParsedReport", "decode_report", "parse_report", "parse_reports"]

SUPPORTED_FORMATS = (
    "Trivy JSON (SchemaVersion 2 or the legacy pre-0.20 list)",
    "Grype JSON",
    "CycloneDX JSON with vulnerabilities",
    "SARIF 2.1.0 (Trivy, Grype, Docker Scout, Snyk)",
    "Snyk JSON",
    "Clair (clair-scanner, klar, Clair v4)",
    "Harbor scanner-adapter reports",
    "GitLab container-scanning reports",
    "Trivy Operator resources (vulnerability, exposed-secret, config-audit, RBAC and infra assessment "
    "reports; one resource, a List, an array or lists keyed by resource)",
    "Trivy Kubernetes reports (trivy k8s)",
)


def _one_subject(parse: Callable[[Any], ParsedReport]) -> Callable[[Any], list[ParsedReport]]:
    """A parser of a single-subject format, answering as the multi-subject ones do."""
    return lambda document: [parse(document)]


# Formats recognized by a sniff of their own (each module's `looks_like_…`), after the key-based ones
# below; no two of them take the same document (each module's tests try every other fixture).
_SNIFFED_FORMATS: tuple[tuple[Callable[[Any], bool], Callable[[Any], list[ParsedReport]]], ...] = (
    (looks_like_sarif, _one_subject(parse_sarif)),
    (looks_like_snyk, _one_subject(parse_snyk)),
    (looks_like_clair, _one_subject(parse_clair)),
    (looks_like_harbor, _one_subject(parse_harbor)),
    (looks_like_gitlab, _one_subject(parse_gitlab)),
    (looks_like_trivy_operator, parse_trivy_operator),
)
_SUPPORTED_TEXT = "Supported formats: " + ", ".join(SUPPORTED_FORMATS) + "."
_TRIVY_SCHEMA_VERSION = 2

GZIP_MAGIC = b"\x1f\x8b"
# zlib's wbits for "gzip container only".
_GZIP_WBITS = 16 + zlib.MAX_WBITS
_GZIP_ENCODINGS = frozenset({"gzip", "x-gzip"})
_MIB = 1024 * 1024
# Output per inflate step: small steps keep the peak near the cap instead of twice the cap.
_INFLATE_STEP = 256 * 1024


# --- decoding ---------------------------------------------------------------------------------------


def decode_report(raw: bytes, content_encoding: str | None, max_bytes: int) -> Any:
    """The JSON value of a request body; `max_bytes` caps the body and its decompressed size.

    gzip is recognized by `Content-Encoding` or by its magic bytes (CI scripts often send a .gz file
    without the header). Decompression stops as soon as the output passes the cap, so a gzip bomb costs
    at most about `max_bytes` of memory.
    """
    if not raw:
        raise MalformedInput("request body is empty")
    if len(raw) > max_bytes:
        raise PayloadTooLarge(
            f"request body is {len(raw)} bytes, larger than the limit of {_size_text(max_bytes)}",
            details=[{"limit_bytes": max_bytes}],
        )
    declares_gzip = _declares_gzip(content_encoding)
    if declares_gzip and not raw.startswith(GZIP_MAGIC):
        raise MalformedInput("body is not valid gzip: it does not start with the gzip magic bytes 1f 8b")
    body: bytes | bytearray = raw
    if declares_gzip or raw.startswith(GZIP_MAGIC):
        body = _gunzip(raw, max_bytes)
    return _json_value(_utf8_text(body))


def _declares_gzip(content_encoding: str | None) -> bool:
    """True for `gzip`/`x-gzip` (`identity` may be listed too); other codings are refused."""
    codings = [coding.strip().lower() for coding in (content_encoding or "").split(",")]
    codings = [coding for coding in codings if coding and coding != "identity"]
    if not codings:
        return False
    if len(codings) == 1 and codings[0] in _GZIP_ENCODINGS:
        return True
    raise MalformedInput(
        f"unsupported Content-Encoding {content_encoding!r}: send the report as is or gzip-compressed"
    )


def _gunzip(raw: bytes, max_bytes: int) -> bytearray:
    """Every gzip member of `raw`, inflated incrementally and never past `max_bytes` + 1 bytes."""
    output = bytearray()
    remaining = raw
    try:
        while remaining:
            remaining = _inflate_member(remaining, output, max_bytes)
            # Some tools pad the stream with zero bytes after the last member; gzip(1) ignores them.
            if not remaining.strip(b"\x00"):
                break
            if not remaining.startswith(GZIP_MAGIC):
                raise MalformedInput("body is not valid gzip: unexpected bytes after the compressed data")
    except zlib.error as error:
        raise MalformedInput(f"body is not valid gzip: {error}") from error
    return output


def _inflate_member(data: bytes, output: bytearray, max_bytes: int) -> bytes:
    """Inflates one gzip member into `output`; returns the bytes that follow it."""
    inflater = zlib.decompressobj(wbits=_GZIP_WBITS)
    while not inflater.eof:
        # max_length bounds each step's output; input it could not use yet waits in unconsumed_tail.
        chunk = inflater.decompress(data, min(_INFLATE_STEP, max_bytes + 1 - len(output)))
        output += chunk
        if len(output) > max_bytes:
            raise PayloadTooLarge(
                f"decompressed report is larger than the limit of {_size_text(max_bytes)}",
                details=[{"limit_bytes": max_bytes}],
            )
        data = inflater.unconsumed_tail
        if not chunk and not data:
            raise MalformedInput("body is not valid gzip: the compressed data is truncated")
    return inflater.unused_data


def _utf8_text(body: bytes | bytearray) -> str:
    try:
        # utf-8-sig drops a leading BOM (Windows shells add one when redirecting to a file).
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = body.count(b"\n", 0, error.start) + 1
        column = error.start - (body.rfind(b"\n", 0, error.start) + 1) + 1
        raise MalformedInput(
            f"body is not UTF-8 text: invalid byte 0x{body[error.start]:02x} at line {line}, column {column}",
            details=[{"line": line, "column": column}],
        ) from error
    if not text.strip():
        raise MalformedInput("request body is empty")
    return text


def _json_value(text: str) -> Any:
    try:
        return json.loads(text, parse_constant=_reject_non_json_constant, parse_int=_bounded_int)
    except json.JSONDecodeError as error:
        raise MalformedInput(
            f"body is not valid JSON: {error.msg} at line {error.lineno}, column {error.colno}",
            details=[{"line": error.lineno, "column": error.colno}],
        ) from error
    except RecursionError as error:
        raise MalformedInput("body is not valid JSON: it is nested too deeply") from error
    except ValueError as error:
        # NaN/Infinity (rejected below).
        raise MalformedInput(f"body is not valid JSON: {error}") from error


def _reject_non_json_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")


# No field of any scanner report holds an integer this long (Python refuses past 4,300 digits anyway).
MAX_INTEGER_DIGITS = 100


def _bounded_int(text: str) -> int:
    digits = len(text.lstrip("-"))
    if digits > MAX_INTEGER_DIGITS:
        raise MalformedInput(
            f"body is not valid JSON for a report: it holds an integer of {digits} digits "
            f"(at most {MAX_INTEGER_DIGITS} are accepted)"
        )
    return int(text)


def _size_text(size: int) -> str:
    return f"{size / _MIB:g} MiB ({size} bytes)"


# --- format recognition -----------------------------------------------------------------------------


def parse_reports(document: Any) -> list[ParsedReport]:
    """One report per subject of a decoded report, in order of first appearance: findings
    (deduplicated by identity), image and scanner.

    A single-subject format gives one report, whose image is None when the document names none (the
    caller names it). A multi-subject format (Trivy Operator, `trivy k8s`) gives reports whose image is
    always set, an image or a workload subject; its items about one subject (same `image_id`) are merged.
    Raises UnsupportedFormat for formats we do not read (naming them when recognized), InvalidInput
    naming the JSON path when a supported format's structure is broken, and InvalidInput saying why
    when a multi-subject document holds nothing to store.
    """
    reports = _merged_by_subject(_parse_by_structure(document))
    for report in reports:
        report.findings = dedupe(report.findings)
        _check_storable(report)
    return reports


def parse_report(document: Any) -> ParsedReport:
    """The one report of a document about one subject (`parse_reports`); InvalidInput for several."""
    reports = parse_reports(document)
    if len(reports) > 1:
        raise InvalidInput(
            f"the {reports[0].format} report covers {len(reports)} subjects (images or Kubernetes "
            "resources); only a report about one subject can be read as one",
            details=[{"format": reports[0].format, "subjects": len(reports)}],
        )
    return reports[0]


def _merged_by_subject(reports: list[ParsedReport]) -> list[ParsedReport]:
    """Reports about one subject merged into the first: findings concatenated, and scanner, version and
    time taken from a later one where the first has none. Reports without an image stay apart."""
    merged: list[ParsedReport] = []
    by_subject: dict[str, ParsedReport] = {}
    for report in reports:
        first = by_subject.get(report.image.image_id) if report.image else None
        if first is None:
            merged.append(report)
            if report.image:
                by_subject[report.image.image_id] = report
            continue
        first.findings = [*first.findings, *report.findings]
        first.scanner = first.scanner or report.scanner
        first.scanner_version = first.scanner_version or report.scanner_version
        first.created_at = first.created_at or report.created_at
    return merged


FINDING_TEXT_FIELDS = (
    "finding_id",
    "title",
    "package",
    "installed_version",
    "fixed_version",
    "location",
    "fix_state",
    "detail",
)


def _check_storable(report: ParsedReport) -> None:
    """Every string kept is text: a lone surrogate read past the field helpers would fail the write."""
    for number, finding in enumerate(report.findings):
        for field in FINDING_TEXT_FIELDS:
            value = getattr(finding, field, None)
            if isinstance(value, str) and not is_text(value):
                raise InvalidInput(
                    f"finding {number} ({field}): {NOT_TEXT}",
                    details=[{"path": f"finding {number}.{field}", "problem": NOT_TEXT}],
                )
    for field in ("scanner", "scanner_version", "created_at"):
        value = getattr(report, field, None)
        if isinstance(value, str) and not is_text(value):
            raise InvalidInput(f"{field}: {NOT_TEXT}", details=[{"path": field, "problem": NOT_TEXT}])


def _parse_by_structure(document: Any) -> list[ParsedReport]:
    # The order matters: newer Trivy k8s reports also carry SchemaVersion (FORMATS.md, section 0).
    if document is None:
        return [parse_trivy_legacy(None)]
    if isinstance(document, list):
        if document and isinstance(document[0], dict) and "Target" in document[0]:
            return [parse_trivy_legacy(document)]
        parsed = _parse_sniffed(document)
        if parsed is None:
            raise _unsupported(_recognize_list(document))
        return parsed
    if not isinstance(document, dict):
        raise UnsupportedFormat(
            f"{json_type(document).capitalize()} is not a scanner report. {_SUPPORTED_TEXT}",
            details=[_unsupported_details(None)],
        )
    if looks_like_trivy_k8s(document):
        return parse_trivy_k8s(document)
    if "SchemaVersion" in document:
        _check_trivy_schema_version(document["SchemaVersion"])
        return [parse_trivy(document)]
    if "matches" in document:
        return [parse_grype(document)]
    if document.get("bomFormat") == "CycloneDX":
        return [parse_cyclonedx(document)]
    parsed = _parse_sniffed(document)
    if parsed is None:
        raise _unsupported(_recognize_object(document))
    return parsed


def _parse_sniffed(document: Any) -> list[ParsedReport] | None:
    for looks_like, parse in _SNIFFED_FORMATS:
        if looks_like(document):
            return parse(document)
    return None


def _check_trivy_schema_version(version: object) -> None:
    if type(version) is int and version == _TRIVY_SCHEMA_VERSION:
        return
    shown = json.dumps(version)[:40]
    raise UnsupportedFormat(
        f"Trivy JSON SchemaVersion {shown} is not supported, only SchemaVersion 2. {_SUPPORTED_TEXT}",
        details=[_unsupported_details(f"Trivy JSON SchemaVersion {shown}")],
    )


def _recognize_object(document: dict[str, Any]) -> str | None:
    """A name for formats we recognize but do not read, so the caller learns what was understood."""
    keys = document.keys()
    if "runs" in keys:
        tool = _sarif_tool_name(document["runs"])
        return f"SARIF reports (from {tool})" if tool else "SARIF reports"
    if "vulnerabilities" in keys and keys & {"ok", "packageManager", "projectName"}:
        return "Snyk reports"
    if "image" in keys and "unapproved" in keys:
        return "Clair (clair-scanner) reports"
    if "LayerCount" in keys:
        return "klar (Clair) reports"
    if any(str(key).startswith("application/vnd.") for key in keys) or keys >= {"scanner", "generated_at"}:
        return "Harbor scanner-adapter reports"
    if "spdxVersion" in keys:
        return "SPDX documents"
    if "bomFormat" in keys:
        return f"{str(document['bomFormat'])[:40]} documents"
    return None


def _recognize_list(document: list[Any]) -> str | None:
    first = document[0] if document else None
    if not isinstance(first, dict):
        return None
    if "vulnerabilities" in first and "ok" in first:
        return "Snyk reports"
    return None


def _sarif_tool_name(runs: object) -> str | None:
    if not isinstance(runs, list) or not runs or not isinstance(runs[0], dict):
        return None
    tool = runs[0].get("tool")
    driver = tool.get("driver") if isinstance(tool, dict) else None
    name = driver.get("name") if isinstance(driver, dict) else None
    return name[:40] if isinstance(name, str) and name else None


def _unsupported(recognized: str | None) -> UnsupportedFormat:
    lead = f"{recognized} are not supported." if recognized else "The report format was not recognized."
    return UnsupportedFormat(f"{lead} {_SUPPORTED_TEXT}", details=[_unsupported_details(recognized)])


def _unsupported_details(recognized: str | None) -> dict[str, Any]:
    return {"recognized_format": recognized, "supported_formats": list(SUPPORTED_FORMATS)}
