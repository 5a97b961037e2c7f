"""POST /v1/scans/uploads and GET /v1/scans/uploads/{id}: reports of any size, through S3."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Header, Path, Query

from riskgate.adapters.uploads import default_objects, default_uploads
from riskgate.clock import system_now
from riskgate.domain.permissions import Permission
from riskgate.handlers.api import models
from riskgate.handlers.api.openapi_docs import documented
from riskgate.handlers.api.routes_scans import replayable
from riskgate.handlers.api.security import (
    current_access,
    current_actor,
    principal_from_event,
    secured_route,
)
from riskgate.services.scans import may_submit_for
from riskgate.services.uploads import create_upload, read_upload
from riskgate.settings import get_settings

router = Router()

UploadId = Annotated[str, Path(pattern=r"^upl-[0-9a-f]{24}$", description="Upload id")]


@secured_route(
    router,
    "POST",
    "/v1/scans/uploads",
    Permission.SCANS_WRITE,
    status_code=201,
    summary="Start an upload of a report of any size",
    description=(
        "For reports larger than a request body may be (about 6 MB on AWS). The answer is a presigned S3 "
        "form POST: send `fields` and then the report (as is or gzip-compressed) as `file` to `url`, e.g. "
        "`curl -F key=… -F policy=… … -F file=@report.json.gz URL`. The report is then parsed, judged and "
        "stored as POST /v1/scans would, as the caller and with their access at that time; "
        "GET /v1/scans/uploads/{upload_id} tells when it is done, with the answer or the error POST "
        "/v1/scans would have given. `riskgate scan submit` does all of this by itself for large reports."
    ),
    responses=documented(
        201,
        "Upload created; where to put the report",
        {
            403: "scans:write is not granted (in a scope containing `image`, when it is named)",
            409: "A request with this Idempotency-Key is still being processed",
            422: "A malformed image name, or an Idempotency-Key reused with other parameters",
        },
    ),
    tags=["scans"],
)
def start_upload(
    image: Annotated[
        str | None,
        Query(description="registry/repository:tag[@sha256:…]; supplies or overrides the report's image"),
    ] = None,
    cluster: Annotated[
        str | None,
        Query(
            max_length=100, description="The Kubernetes cluster of the report's workloads (as POST /v1/scans)"
        ),
    ] = None,
    idempotency_key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            max_length=255,
            description="Retries with the same key within 24 h get the first answer; no second upload",
        ),
    ] = None,
) -> Response[models.UploadCreated]:
    if idempotency_key:
        request = {
            "idempotency_key": idempotency_key,
            "principal": current_actor(router).user_id,
            "payload": [image, cluster],
        }
        created = replayable(
            "uploads", _create_once, "image or cluster", request=request, image=image, cluster=cluster
        )
    else:
        created = _create(image, cluster)
    return Response(
        status_code=201,
        content_type=content_types.APPLICATION_JSON,
        body=models.UploadCreated.model_validate(created),
        headers={"Location": f"/v1/scans/uploads/{created['upload_id']}"},
    )


def _create_once(*, request: dict[str, Any], image: str | None, cluster: str | None) -> dict[str, Any]:
    return _create(image, cluster)


def _create(image: str | None, cluster: str | None) -> dict[str, Any]:
    principal = principal_from_event(router.current_event.raw_event)
    return create_upload(
        default_uploads(),
        default_objects(),
        actor=current_actor(router),
        role_bindings=[{"role": b.role, "scope": b.scope} for b in principal.role_bindings],
        authorize=may_submit_for(current_access(router)),
        image=image,
        cluster=cluster,
        max_bytes=get_settings().max_upload_bytes,
        now=system_now(),
    )


@secured_route(
    router,
    "GET",
    "/v1/scans/uploads/<upload_id>",
    Permission.SCANS_WRITE,
    summary="An upload's progress, and its answer when done",
    description=(
        "pending (no object yet), processing, done (`result`: the answer of POST /v1/scans) or failed "
        "(`error` and `error_status`: what POST /v1/scans would have answered; an upload never made reads "
        "failed once its URL expired). Only the caller who created the upload sees it."
    ),
    responses=documented(200, "The upload", {404: "No such upload, or another caller's"}),
    tags=["scans"],
)
def get_upload(upload_id: UploadId) -> models.Upload:
    answer = read_upload(default_uploads(), upload_id, current_actor(router).user_id, system_now())
    return models.Upload.model_validate(answer)
