"""POST /v1/scans: a scanner report in, the scan's verdict out."""

from __future__ import annotations

import base64
import binascii
from typing import Annotated

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Query

from riskgate.adapters.store import default_store
from riskgate.domain.errors import MalformedInput
from riskgate.domain.permissions import Permission
from riskgate.handlers.api import models
from riskgate.handlers.api.security import current_principal, secured_route
from riskgate.services.scans import receive_scan
from riskgate.settings import get_settings

router = Router()
logger = Logger(child=True)


def raw_body(event: dict[str, object]) -> bytes:
    """The request body as sent. API Gateway base64-encodes it (binary media types `*/*`)."""
    body = event.get("body")
    if not body:
        return b""
    if not isinstance(body, str):
        raise MalformedInput("request body is not text or base64")
    if event.get("isBase64Encoded"):
        try:
            return base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError) as error:
            raise MalformedInput("request body is not valid base64") from error
    return body.encode("utf-8")


@secured_route(
    router,
    "POST",
    "/v1/scans",
    Permission.SCANS_WRITE,
    status_code=201,
    summary="Submit a scanner report",
    description=(
        "The body is the report exactly as the scanner wrote it: Trivy JSON (SchemaVersion 2 or the "
        "legacy list), Grype JSON or CycloneDX JSON; optionally gzip-compressed (Content-Encoding: gzip). "
        "The latest scan of an image replaces its current findings."
    ),
    responses={
        400: {"description": "Not JSON, or broken gzip"},
        413: {"description": "Report over the size limit"},
        422: {"description": "Unsupported format, or no image name"},
    },
    tags=["scans"],
)
def submit_scan(
    image: Annotated[
        str | None,
        Query(description="registry/repository:tag[@sha256:…]; supplies or overrides the report's image"),
    ] = None,
) -> Response[models.ScanAccepted]:
    event = router.current_event
    principal = current_principal(router)
    received = receive_scan(
        default_store(),
        raw_body(event.raw_event),
        content_encoding=event.headers.get("content-encoding") or event.headers.get("Content-Encoding"),
        image_param=image,
        max_report_bytes=get_settings().max_report_bytes,
        submitted_by=principal.user_id,
    )
    logger.info(
        "scan stored",
        scan_id=received.scan_id,
        image_id=received.image.image_id,
        format=received.report.format,
        findings=len(received.report.findings),
        status=received.verdict.status,
    )
    ref = received.image
    body = models.ScanAccepted(
        scan_id=received.scan_id,
        image_id=ref.image_id,
        image=models.ImageReference(
            registry=ref.registry,
            repository=ref.repository,
            tag=ref.tag,
            digest=ref.digest,
            reference=ref.reference,
        ),
        format=received.report.format,
        scanner=received.report.scanner,
        scanner_version=received.report.scanner_version,
        received_at=received.received_at,
        counts=models.Counts.model_validate(received.report.counts.as_dict()),
        verdict=models.Verdict.model_validate(received.verdict.as_dict()),
        current=received.became_current,
    )
    return Response(
        status_code=201,
        content_type=content_types.APPLICATION_JSON,
        body=body,
        headers={"Location": f"/v1/images/{ref.image_id}/scans"},
    )
