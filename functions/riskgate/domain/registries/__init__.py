"""Registry ingestion, the pure part: what a registry's events and answers mean, with no AWS and no HTTP.

A registry connection (docs/architecture.md, "Registry connections") makes Riskgate pull the scan results a
registry already has. The modules here turn what comes back into the `ParsedReport` a posted report
becomes, so that storing, judging and notifying do not know where a scan came from (its `format` does):

* `ecr` — EventBridge events of ECR and Inspector (which scan finished), DescribeImageScanFindings pages;
* `inspector` — Inspector2 findings, also the shape of ECR's enhanced findings (one mapping for both);
* `harbor` — Harbor webhooks (default and CloudEvents payloads) and its `/additions/vulnerabilities`.

This package holds what they share: the image of an ECR event, the scan it announces, the report and the
scan id built from them, and the reading of a registry's timestamps.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from fnmatch import fnmatchcase
from typing import Any

from riskgate.clock import iso, parse_iso
from riskgate.domain.findings import Finding, dedupe
from riskgate.domain.images import ImageRef
from riskgate.domain.parsers._common import ParsedReport, broken, child_path, json_type, optional_text

# The scanners a registry scan comes from; each is also the stored report's `format`.
SCANNER_ECR = "ecr"
SCANNER_INSPECTOR = "inspector"
SCANNER_HARBOR = "harbor"

_SCAN_ID_PREFIX = "scan-"
_SCAN_ID_HEX_LENGTH = 20
# ECR's registry host: `<account>.dkr.ecr.<region>.amazonaws.com`, with `.cn` in the China regions.
_CHINA_REGION_PREFIX = "cn-"


def matches_any(globs: Sequence[str], name: str) -> bool:
    """Whether `name` matches one of the globs (`fnmatch`, case-sensitive as repository names are).

    `*` also crosses `/`: `team/*` covers `team/api` and `team/tools/lint`, which is what people mean
    when they scope a connection to a team's repositories (Docker names have no other separator).
    """
    return any(fnmatchcase(name, glob) for glob in globs)


@dataclass(frozen=True)
class RegistryImage:
    """An image in an ECR registry, as an ECR or Inspector event names it."""

    account_id: str
    region: str
    repository: str
    digest: str
    tags: tuple[str, ...]

    @property
    def registry(self) -> str:
        domain = "amazonaws.com.cn" if self.region.startswith(_CHINA_REGION_PREFIX) else "amazonaws.com"
        return f"{self.account_id}.dkr.ecr.{self.region}.{domain}"

    @property
    def image_ref(self) -> ImageRef:
        """The image with its digest, tagged with the first tag in sorted order: a redelivered event
        names the same reference whatever order the tags came in (further tags arrive with further scans
        of the same digest)."""
        tag = min(self.tags) if self.tags else None
        return ImageRef(registry=self.registry, repository=self.repository, tag=tag, digest=self.digest)


@dataclass(frozen=True)
class ScanFinished:
    """A registry finished scanning an image: what to pull, from which scanner, and the scan's time."""

    scanner: str
    image: RegistryImage
    # ISO 8601 UTC with `Z` (riskgate.clock.iso): the registry's time of the scan.
    scanned_at: str
    event_id: str


def registry_report(
    scanner: str,
    image_ref: ImageRef,
    findings: list[Finding],
    scanned_at: str | None,
    scanner_version: str | None = None,
) -> ParsedReport:
    """What a registry's findings become: a report about `image_ref` whose format is the scanner, findings
    deduplicated (a finding repeated across pages, or by a scanner, is one finding)."""
    return ParsedReport(
        format=scanner,
        scanner=scanner,
        scanner_version=scanner_version,
        image=image_ref,
        findings=dedupe(findings),
        created_at=scanned_at,
    )


def registry_scan_id(connection_id: str, scanner: str, digest: str, scanned_at: str) -> str:
    """The id of the scan one registry scan becomes: derived, not random, so that a redelivered event (or
    one racing the first delivery) writes the same items instead of a second scan. The time is read and
    written back first, so two spellings of one moment name one scan."""
    basis = "\x1f".join((connection_id, scanner, digest, iso(parse_iso(scanned_at))))
    return _SCAN_ID_PREFIX + hashlib.sha256(basis.encode("utf-8")).hexdigest()[:_SCAN_ID_HEX_LENGTH]


def registry_time(value: object, path: str) -> str:
    """A registry's timestamp as Riskgate writes times (ISO 8601, UTC, `Z`).

    Registries and their clients write times three ways: a `datetime` (boto3), an ISO 8601 string with a
    zone (EventBridge `time`, AWS CLI output with a local offset, CloudEvents) or seconds since the epoch
    (Harbor's `occur_at`, aws-cli v1). A `datetime` without a zone is taken as UTC (botocore never makes
    one, a test may); a string without a zone is refused, as the moment it names is unknown. Raises
    InvalidInput naming `path`.
    """
    if isinstance(value, datetime):
        return iso(value if value.tzinfo is not None else value.replace(tzinfo=UTC))
    if isinstance(value, str):
        try:
            return iso(parse_iso(value))
        except ValueError:
            raise broken(path, f"expected an ISO 8601 time with a zone, got {value[:80]!r}") from None
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            if not math.isfinite(value):
                raise ValueError(value)
            return iso(datetime.fromtimestamp(value, UTC))
        except (ValueError, OverflowError, OSError):
            raise broken(path, f"expected seconds since 1970, got {value!r}") from None
    raise broken(path, f"expected a time, got {json_type(value)}")


def required_field(parent: dict[str, Any], key: str, path: str) -> str:
    """The text under `key`; InvalidInput `<path>.<key>: missing` without one (registry events are read
    field by field, so the message names the field itself)."""
    value = optional_text(parent, key, path)
    if value is None:
        raise broken(child_path(path, key), "missing")
    return value


def required_time(parent: dict[str, Any], key: str, path: str) -> str:
    """The time under `key` (see `registry_time`); InvalidInput `<path>.<key>: missing` without one."""
    value = parent.get(key)
    if value is None:
        raise broken(child_path(path, key), "missing")
    return registry_time(value, child_path(path, key))
