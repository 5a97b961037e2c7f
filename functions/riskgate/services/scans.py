"""Receiving a scanner report: decode, parse, judge, store. The store is passed in (a port)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from riskgate.adapters.store import StoredScan
from riskgate.clock import iso
from riskgate.domain.audit import Actor, AuditAction, AuditEvent, audit_event
from riskgate.domain.errors import MissingImage
from riskgate.domain.evaluation import Verdict
from riskgate.domain.findings import Finding
from riskgate.domain.images import ImageRef, parse_image_reference
from riskgate.domain.parsers import ParsedReport, decode_report, parse_report
from riskgate.services.evaluation import AcceptancesFor, judge, no_acceptances
from riskgate.services.policies import PoliciesFor

# Raises when the caller may not submit scans of this image, given the tags it already carries.
Authorize = Callable[[ImageRef, tuple[str, ...]], None]


class ScanStore(Protocol):
    def get_image(self, image_id: str) -> dict[str, Any] | None: ...

    def save_scan(
        self,
        *,
        scan: dict[str, Any],
        image: ImageRef,
        findings: list[Finding],
        image_summary: dict[str, Any],
        audit: AuditEvent | None = None,
        known_tags: tuple[str, ...] | None = None,
        recheck: Callable[[tuple[str, ...]], None] | None = None,
    ) -> StoredScan: ...


@dataclass(frozen=True)
class ReceivedScan:
    scan_id: str
    image: ImageRef
    report: ParsedReport
    verdict: Verdict
    received_at: str
    became_current: bool
    # The report's counts and how many of its findings risk acceptances took out (`accepted`).
    counts: dict[str, Any]


def resolve_image(report_image: ImageRef | None, image_param: str | None) -> ImageRef:
    """The image a report is about: the `image` parameter overrides the name the report carries.

    The report's digest is kept when the parameter names none and the same repository: it describes
    what was scanned. A parameter naming another repository describes another image.
    """
    if image_param:
        given = parse_image_reference(image_param)
        if given.digest or report_image is None or report_image.digest is None:
            return given
        if report_image.name != given.name:
            return given
        return ImageRef(given.registry, given.repository, given.tag, report_image.digest)
    if report_image is None:
        raise MissingImage(
            "the report does not name the image it scanned: pass ?image=registry/repository:tag",
            details=[{"field": "image", "issue": "missing"}],
        )
    return report_image


def receive_scan(
    store: ScanStore,
    body: bytes,
    *,
    content_encoding: str | None,
    image_param: str | None,
    max_report_bytes: int,
    actor: Actor,
    authorize: Authorize,
    policies_for: PoliciesFor,
    acceptances_for: AcceptancesFor = no_acceptances,
    now: datetime,
) -> ReceivedScan:
    """Decode, parse and judge a report, check that the caller may submit for its image, store it.

    `authorize` raises when the caller may not submit scans of that image as named, with the tags the
    stored image of that digest already has (it runs before any write; the store checks again that
    those tags did not change before the image is updated, and asks again if they did).
    The verdict uses the policies whose scope contains the image as submitted (its tag) and the risk
    acceptances in force for it at `now` (a new scan honours them at once); the scan record keeps
    which ones, with their versions: the decision record of this verdict.
    """
    document = decode_report(body, content_encoding, max_report_bytes)
    report = parse_report(document)
    image = resolve_image(report.image, image_param)
    known = store.get_image(image.image_id)
    known_tags = tuple(sorted(known.get("tags") or ())) if known else None
    authorize(image, known_tags or ())
    summary = {
        "image_id": image.image_id,
        "registry": image.registry,
        "repository": image.repository,
        "tags": [image.tag] if image.tag else [],
    }
    judgement = judge(report.findings, policies_for(summary), acceptances_for(summary), now)
    verdict = judgement.verdict
    decision = judgement.decision()
    counts = {**report.counts.as_dict(), "accepted": judgement.applied.accepted_count}
    received_at = iso(now)
    scan_id = "scan-" + uuid.uuid4().hex[:20]
    scan = {
        "scan_id": scan_id,
        "format": report.format,
        "scanner": report.scanner,
        "scanner_version": report.scanner_version,
        "report_created_at": report.created_at,
        "received_at": received_at,
        "submitted_by": actor.user_id,
        "image_reference": image.reference,
        "finding_count": len(report.findings),
        "counts": counts,
        "verdict": verdict.as_dict(),
        **decision,
    }
    stored = store.save_scan(
        scan=scan,
        image=image,
        findings=report.findings,
        image_summary={"counts": counts, "status": verdict.status, "verdict": verdict.as_dict(), **decision},
        known_tags=known_tags,
        recheck=lambda tags: authorize(image, tags),
        audit=audit_event(
            actor,
            AuditAction.CREATE,
            "scan",
            scan_id,
            after={
                "image_id": image.image_id,
                "image": image.reference,
                "format": report.format,
                "counts": counts,
                "status": verdict.status,
                "block": verdict.block,
            },
        ),
    )
    return ReceivedScan(
        scan_id=scan_id,
        image=image,
        report=report,
        verdict=verdict,
        received_at=received_at,
        became_current=stored.became_current,
        counts=counts,
    )
