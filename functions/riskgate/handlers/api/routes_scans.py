"""POST /v1/scans: a scanner report in, the scan's verdict out."""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Callable
from typing import Annotated, Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Header, Query

from riskgate import metrics
from riskgate.adapters.idempotency import call_idempotent
from riskgate.adapters.store import default_store
from riskgate.clock import system_now
from riskgate.domain.errors import Conflict, InvalidInput, MalformedInput
from riskgate.domain.permissions import Permission
from riskgate.handlers import judging
from riskgate.handlers.api import models
from riskgate.handlers.api.openapi_docs import documented
from riskgate.handlers.api.security import current_access, current_actor, secured_route
from riskgate.resources import METRIC_FINDINGS_STORED, METRIC_SCANS_INGESTED
from riskgate.services.scans import accepted_answer, may_submit_for, receive_scan
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
        "The body is the report exactly as the scanner wrote it, its format recognized from its content "
        "(docs/formats.md): Trivy JSON, `trivy k8s`, Trivy Operator resources and lists, Grype, CycloneDX, "
        "SARIF, Snyk, Clair, Harbor, GitLab container scanning; optionally gzip-compressed "
        "(Content-Encoding: gzip). A report of several images and Kubernetes resources is stored as one "
        "scan of each (`scans`). The latest scan of an image replaces its current findings. Reports over "
        "the request size limit go through POST /v1/scans/uploads."
    ),
    responses=documented(
        201,
        "Scan stored; its verdict",
        {
            400: "Not JSON, or broken gzip",
            403: "scans:write is not granted in a scope containing the image (or one of the report's images)",
            409: "A request with this Idempotency-Key is still being processed",
            413: "Report over the size limit",
            422: "Unsupported format, no image name, ?image= on a report of several images, or an "
            "Idempotency-Key reused with another report",
        },
    ),
    tags=["scans"],
)
def submit_scan(
    image: Annotated[
        str | None,
        Query(description="registry/repository:tag[@sha256:…]; supplies or overrides the report's image"),
    ] = None,
    cluster: Annotated[
        str | None,
        Query(
            max_length=100,
            description="The Kubernetes cluster the report's workloads belong to (Trivy Operator resources "
            "do not say); default: the report's ClusterName, else `default`",
        ),
    ] = None,
    idempotency_key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            max_length=255,
            description="Retries with the same key within 24 h get the first answer; no second scan",
        ),
    ] = None,
) -> Response[models.ScanAccepted]:
    event = router.current_event
    actor = current_actor(router)
    body = raw_body(event.raw_event)
    content_encoding = event.headers.get("content-encoding") or event.headers.get("Content-Encoding")
    if idempotency_key:
        request = {
            "idempotency_key": idempotency_key,
            "principal": actor.user_id,
            "payload": [hashlib.sha256(body).hexdigest(), content_encoding, image, cluster],
        }
        accepted = _replayable_accept(request, body, content_encoding, image, cluster)
    else:
        accepted = accept_report(body, content_encoding, image, cluster)
    # A report of several images has no one place to point at.
    location = {"Location": f"/v1/images/{accepted['image_id']}/scans"} if accepted["image_id"] else {}
    return Response(
        status_code=201,
        content_type=content_types.APPLICATION_JSON,
        body=models.ScanAccepted.model_validate(accepted),
        headers=location,
    )


def accept_report(
    body: bytes, content_encoding: str | None, image: str | None, cluster: str | None
) -> dict[str, Any]:
    received = receive_scan(
        default_store(),
        body,
        content_encoding=content_encoding,
        image_param=image,
        cluster_param=cluster,
        max_report_bytes=get_settings().max_report_bytes,
        actor=current_actor(router),
        authorize=may_submit_for(current_access(router)),
        policies_for=judging.policies_for(),
        acceptances_for=judging.acceptances_for(),
        now=system_now(),
    )
    for scan in received.scans:
        logger.info(
            "scan stored",
            scan_id=scan.scan_id,
            image_id=scan.image.image_id,
            format=received.format,
            findings=len(scan.report.findings),
            status=scan.verdict.status,
        )
    # Here, not in submit_scan: a retry with the same Idempotency-Key gets the first answer back without
    # coming here, so its scans are counted once.
    with metrics.collected():  # one EMF line for the request
        metrics.count(METRIC_SCANS_INGESTED, len(received.scans))
        metrics.count(METRIC_FINDINGS_STORED, sum(scan.findings_written for scan in received.scans))
    return accepted_answer(received)


def _accept_once(
    *,
    request: dict[str, Any],
    body: bytes,
    content_encoding: str | None,
    image: str | None,
    cluster: str | None,
) -> dict[str, Any]:
    return accept_report(body, content_encoding, image, cluster)


def _replayable_accept(
    request: dict[str, Any], body: bytes, content_encoding: str | None, image: str | None, cluster: str | None
) -> dict[str, Any]:
    return replayable(
        "scans",
        _accept_once,
        "report",
        request=request,
        body=body,
        content_encoding=content_encoding,
        image=image,
        cluster=cluster,
    )


def replayable(
    operation: str, function: Callable[..., dict[str, Any]], what: str, **kwargs: Any
) -> dict[str, Any]:
    """`function(**kwargs)` once per Idempotency-Key (`kwargs["request"]`); a retry gets the first answer.

    `what` names the payload in the error of a key reused with another one."""
    from aws_lambda_powertools.utilities.idempotency.exceptions import (
        IdempotencyAlreadyInProgressError,
        IdempotencyValidationError,
    )

    try:
        return call_idempotent(operation, function, router.lambda_context, **kwargs)
    except IdempotencyValidationError as error:
        raise InvalidInput(
            f"Idempotency-Key was already used with a different {what}: use a new key for a new one",
            details=[{"location": "header.Idempotency-Key", "message": "reused with another payload"}],
        ) from error
    except IdempotencyAlreadyInProgressError as error:
        raise Conflict(
            "a request with this Idempotency-Key is still being processed: retry shortly"
        ) from error
