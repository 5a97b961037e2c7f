"""Receiving a scanner report: decode, parse, judge, store. The store is passed in (a port)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from riskgate.adapters.store import FindingsSet, StoredScan, current_findings
from riskgate.clock import iso
from riskgate.domain.access import Access, ImageTarget
from riskgate.domain.audit import Actor, AuditAction, AuditEvent, audit_event
from riskgate.domain.errors import InvalidInput, MissingImage, PermissionDenied
from riskgate.domain.evaluation import Verdict
from riskgate.domain.findings import Finding
from riskgate.domain.images import ImageRef, in_cluster, is_workload, parse_image_reference
from riskgate.domain.parsers import ParsedReport, decode_report, parse_reports
from riskgate.domain.permissions import Permission
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
        known_findings: FindingsSet | None = None,
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
    # Finding items written: 0 when the findings equal the image's current ones (or were stored before).
    findings_written: int = 0


@dataclass(frozen=True)
class ReceivedReport:
    """One report as stored: one scan per subject (an image, or a Kubernetes workload)."""

    scans: list[ReceivedScan]
    format: str
    scanner: str | None
    scanner_version: str | None
    received_at: str


def may_submit_for(access: Access) -> Authorize:
    """What `scans:write` means for one image: a grant in a scope containing it as named, and, for a digest
    already known under other names, the right to change that image."""

    def authorize(image: ImageRef, known_tags: tuple[str, ...]) -> None:
        target = ImageTarget(image.registry, image.repository, (image.tag,) if image.tag else ())
        if not access.may_on_image(Permission.SCANS_WRITE, target):
            raise PermissionDenied(f"you may not submit scans of {image.name} (outside your scopes)")
        if not access.may_change_image(
            Permission.SCANS_WRITE, image.registry, image.repository, image.tag, known_tags
        ):
            # Says nothing of the other names: only that this digest is not the caller's alone.
            raise PermissionDenied(
                f"you may not submit scans of {image.reference}: an image with this digest is already "
                "known under names outside your scopes"
            )

    return authorize


def new_scan_id(image: ImageRef) -> str:
    return "scan-" + uuid.uuid4().hex[:20]


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


def resolve_subjects(
    reports: list[ParsedReport], image_param: str | None, cluster_param: str | None
) -> list[tuple[ImageRef, ParsedReport]]:
    """Each report with the subject it is stored under.

    `image` names the one image of a single-subject report; a report of several subjects names its
    own. `cluster` names the cluster of the report's Kubernetes workloads (Trivy Operator resources do
    not say which cluster they come from).
    """
    if image_param and len(reports) > 1:
        raise InvalidInput(
            f"the report covers {len(reports)} images and Kubernetes resources and names each of them: "
            "leave out ?image=, which names the one image of a single-image report",
            details=[{"location": "query.image", "message": "not allowed for a report of several subjects"}],
        )
    subjects = []
    for report in reports:
        image = resolve_image(report.image, image_param)
        subjects.append((in_cluster(image, cluster_param) if cluster_param else image, report))
    return subjects


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
    cluster_param: str | None = None,
) -> ReceivedReport:
    """Decode and parse a report, then store it (`store_reports`)."""
    document = decode_report(body, content_encoding, max_report_bytes)
    return store_reports(
        store,
        parse_reports(document),
        image_param=image_param,
        cluster_param=cluster_param,
        actor=actor,
        authorize=authorize,
        policies_for=policies_for,
        acceptances_for=acceptances_for,
        now=now,
    )


def store_reports(
    store: ScanStore,
    reports: list[ParsedReport],
    *,
    image_param: str | None,
    cluster_param: str | None,
    actor: Actor,
    authorize: Authorize,
    policies_for: PoliciesFor,
    acceptances_for: AcceptancesFor = no_acceptances,
    now: datetime,
    scan_id_for: Callable[[ImageRef], str] = new_scan_id,
    already_stored: Callable[[ImageRef, str, str], bool] | None = None,
) -> ReceivedReport:
    """Judge each subject of a parsed report, check that the caller may submit for every one, store them.

    Every subject is authorized before anything is written: a caller who may not submit scans of one of
    them gets one 403 naming each such subject, and nothing is stored. `authorize` raises when the caller
    may not submit scans of an image as named, with the tags the stored image of that digest already has;
    the store checks again that those tags did not change before the image is updated, and asks again if
    they did. Each subject's verdict uses the policies whose scope contains it as submitted (its tag) and
    the risk acceptances in force for it at `now`; its scan record keeps which ones, with their versions:
    the decision record of this verdict. `scan_id_for` names each subject's scan (the upload ingester
    derives them from the upload, and `already_stored(image, received_at, scan_id)` tells which of them
    a first delivery of the same object wrote: those are judged again for the answer, not written twice).
    """
    subjects = resolve_subjects(reports, image_param, cluster_param)
    known = {image.image_id: store.get_image(image.image_id) for image, _ in subjects}
    known_tags = {image_id: _tags(image) for image_id, image in known.items()}
    _authorize_all(authorize, [(image, known_tags[image.image_id]) for image, _ in subjects])
    received_at = iso(now)
    scans = []
    for image, report in subjects:
        scan_id = scan_id_for(image)
        scans.append(
            _store_subject(
                store,
                image,
                report,
                known_tags=known_tags[image.image_id],
                known_findings=current_findings(known[image.image_id]),
                scan_id=scan_id,
                received_at=received_at,
                actor=actor,
                authorize=authorize,
                policies_for=policies_for,
                acceptances_for=acceptances_for,
                now=now,
                write=already_stored is None or not already_stored(image, received_at, scan_id),
            )
        )
    first = reports[0]
    return ReceivedReport(
        scans=scans,
        format=first.format,
        scanner=first.scanner,
        scanner_version=first.scanner_version,
        received_at=received_at,
    )


def _tags(known: dict[str, Any] | None) -> tuple[str, ...] | None:
    """An image's tags as read (None: no such image yet)."""
    return tuple(sorted(known.get("tags") or ())) if known else None


def _authorize_all(authorize: Authorize, subjects: list[tuple[ImageRef, tuple[str, ...] | None]]) -> None:
    refused: list[tuple[ImageRef, PermissionDenied]] = []
    for image, tags in subjects:
        try:
            authorize(image, tags or ())
        except PermissionDenied as error:
            refused.append((image, error))
    if not refused:
        return
    if len(subjects) == 1:
        raise refused[0][1]
    names = ", ".join(image.reference for image, _ in refused)
    raise PermissionDenied(
        f"you may not submit scans of {len(refused)} of the report's {len(subjects)} images and "
        f"Kubernetes resources: {names}; nothing was stored",
        details=[{"image": image.reference, "message": error.message} for image, error in refused],
    )


def _store_subject(
    store: ScanStore,
    image: ImageRef,
    report: ParsedReport,
    *,
    known_tags: tuple[str, ...] | None,
    known_findings: FindingsSet | None,
    scan_id: str,
    received_at: str,
    actor: Actor,
    authorize: Authorize,
    policies_for: PoliciesFor,
    acceptances_for: AcceptancesFor,
    now: datetime,
    write: bool = True,
) -> ReceivedScan:
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
    if not write:
        return ReceivedScan(scan_id, image, report, verdict, received_at, became_current=True, counts=counts)
    stored = store.save_scan(
        scan=scan,
        image=image,
        findings=report.findings,
        image_summary={"counts": counts, "status": verdict.status, "verdict": verdict.as_dict(), **decision},
        known_tags=known_tags,
        known_findings=known_findings,
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
        findings_written=stored.findings_written,
    )


# --- the answer: the same for a POST and for a finished upload ----------------------------------------


def accepted_answer(received: ReceivedReport) -> dict[str, Any]:
    """The 201 body of `POST /v1/scans` (and of a `done` upload).

    `scans` lists every subject's scan, one entry for a single-image report. The top-level verdict blocks
    when any subject's blocks; its reasons carry the subject they concern when there are several. A
    single-image answer keeps the fields it always had (scan_id, image_id, image, counts); a report of
    several subjects has none of them but the summed counts.
    """
    entries = [_scan_entry(scan) for scan in received.scans]
    single = len(entries) == 1
    answer: dict[str, Any] = {
        "scan_id": entries[0]["scan_id"] if single else None,
        "image_id": entries[0]["image_id"] if single else None,
        "image": entries[0]["image"] if single else None,
        "format": received.format,
        "scanner": received.scanner,
        "scanner_version": received.scanner_version,
        "received_at": received.received_at,
        "counts": entries[0]["counts"] if single else summed_counts([entry["counts"] for entry in entries]),
        "verdict": entries[0]["verdict"] if single else combined_verdict(received.scans),
        "current": all(entry["current"] for entry in entries),
        "scans": entries,
    }
    return answer


def _scan_entry(scan: ReceivedScan) -> dict[str, Any]:
    ref = scan.image
    return {
        "scan_id": scan.scan_id,
        "image_id": ref.image_id,
        "image": {
            "registry": ref.registry,
            "repository": ref.repository,
            "tag": ref.tag,
            "digest": ref.digest,
            "reference": ref.reference,
        },
        "kind": "workload" if is_workload(ref) else "image",
        "counts": scan.counts,
        "verdict": scan.verdict.as_dict(),
        "current": scan.became_current,
    }


def summed_counts(counts: list[dict[str, Any]]) -> dict[str, Any]:
    total: dict[str, Any] = {}
    for one in counts:
        for key, value in one.items():
            if isinstance(value, dict):
                inner = total.setdefault(key, {})
                for severity, number in value.items():
                    inner[severity] = inner.get(severity, 0) + number
            else:
                total[key] = total.get(key, 0) + value
    return total


def combined_verdict(scans: list[ReceivedScan]) -> dict[str, Any]:
    """Non-compliant when any subject is; blocks when any subject blocks; every reason names its subject."""
    verdicts = [(scan.image.reference, scan.verdict.as_dict()) for scan in scans]
    non_compliant = any(v["status"] == "non_compliant" for _, v in verdicts)
    return {
        "status": "non_compliant" if non_compliant else "compliant",
        "block": any(v["block"] for _, v in verdicts),
        "reasons": [{**reason, "image": ref} for ref, v in verdicts for reason in v["reasons"]],
        "dry_run": [{**reason, "image": ref} for ref, v in verdicts for reason in v["dry_run"]],
    }
