"""What AWS registries know about an image, read with the boto3 clients the caller passes in: ECR's scan
findings (basic and enhanced), Inspector2's findings, and the images of a registry for a sync.

The registry ingester (docs/architecture.md, "Registry connections (issue 14) — design") reads these
when an event says a scan finished, or while a sync walks the registry. Everything here answers in one
of three ways, because the ingester acts differently on each:

- the raw answers (pages, findings, image dicts): `riskgate.domain.registries` maps them, nothing here
  knows what a finding means;
- `NotReady`: the findings cannot be read *yet* (the scan is still running, or ECR has no scan for the
  image so far): the ingester puts the message back with a growing delay and gives up after its
  attempts;
- `PullRefused`: reading again cannot help (the repository or the image was deleted, access is denied,
  the registry could not scan the image): the ingester records it at once.

Throttling, AWS-side failures and anything not known to be permanent propagate as the SDK raised them:
the queue's own retries are the right answer to those. `riskgate.adapters.harbor_api` raises the same
two exceptions, so the ingester treats every registry alike.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from riskgate.adapters.delivery_errors import one_line


class NotReady(Exception):
    """The findings are not readable yet: try again later."""


class PullRefused(Exception):
    """Reading the findings again cannot help; the message says why (never a secret)."""


# AWS error codes that say the request itself can never succeed as made. Anything else (throttling,
# ServerException, InternalServerException, a code not known here) propagates: the queue retries.
_REFUSALS = frozenset(
    {
        "AccessDenied",
        "AccessDeniedException",
        "UnrecognizedClientException",
        "InvalidParameterException",
        "ValidationException",
    }
)

# ECR's imageScanStatus.status values. COMPLETE (basic) and ACTIVE (enhanced, continuously scanned)
# have findings to read; these two will have them soon. Every other status (FAILED, UNSUPPORTED_IMAGE,
# FINDINGS_UNAVAILABLE, SCAN_ELIGIBILITY_EXPIRED, LIMIT_EXCEEDED, IMAGE_ARCHIVED, IMAGE_SIZE_EXCEEDED and
# any added later) means this scan will never have findings: refused with ECR's own description.
_SCAN_READABLE = frozenset({"COMPLETE", "ACTIVE"})
_SCAN_PENDING = frozenset({"IN_PROGRESS", "PENDING"})

# The largest pages each API allows: fewest calls.
ECR_FINDINGS_PAGE = 1000
ECR_LIST_PAGE = 1000
INSPECTOR_FINDINGS_PAGE = 100


def _error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code") or "")


def _error_text(error: ClientError) -> str:
    code = _error_code(error)
    message = one_line(str(error.response.get("Error", {}).get("Message") or ""))
    return f"{code}: {message}" if message else code


# --- ECR scan findings ----------------------------------------------------------------------------------


def ecr_scan_findings(client: Any, *, registry_id: str, repository: str, digest: str) -> list[dict[str, Any]]:
    """Every page of ECR's `DescribeImageScanFindings` for the image `repository@digest`, as ECR answered
    them (each with `imageScanStatus` and `imageScanFindings`, its `findings` or `enhancedFindings`).

    `NotReady` while the scan is pending or in progress, or when ECR has no scan of the image yet;
    `PullRefused` when the scan cannot have findings (its status and ECR's description say why), the
    repository or the image is gone, or access is denied."""
    image = f"{repository}@{digest}"
    pages: list[dict[str, Any]] = []
    next_token: str | None = None
    while True:
        request: dict[str, Any] = {
            "registryId": registry_id,
            "repositoryName": repository,
            "imageId": {"imageDigest": digest},
            "maxResults": ECR_FINDINGS_PAGE,
        }
        if next_token:
            request["nextToken"] = next_token
        try:
            page = client.describe_image_scan_findings(**request)
        except ClientError as error:
            refusal = _ecr_refusal(error, registry_id, repository, image)
            if refusal is None:
                raise
            raise refusal from error
        _check_scan_status(page, image)
        page.pop("ResponseMetadata", None)
        pages.append(page)
        next_token = page.get("nextToken")
        if not next_token:
            return pages


def _check_scan_status(page: dict[str, Any], image: str) -> None:
    scan = page.get("imageScanStatus") or {}
    status = str(scan.get("status") or "")
    if status in _SCAN_READABLE:
        return
    if status in _SCAN_PENDING:
        raise NotReady(f"ECR's scan of {image} is {status}")
    description = one_line(str(scan.get("description") or "no description"))
    raise PullRefused(f"ECR's scan of {image} has no findings: {status or 'no status'}: {description}")


def _ecr_refusal(error: ClientError, registry_id: str, repository: str, image: str) -> Exception | None:
    """What ECR's error means here; None for an error that must propagate as it is."""
    code = _error_code(error)
    if code == "ScanNotFoundException":
        return NotReady(f"ECR has no scan of {image} yet")
    if code == "RepositoryNotFoundException":
        return PullRefused(f"ECR repository {repository} in registry {registry_id} was deleted")
    if code == "ImageNotFoundException":
        return PullRefused(f"ECR image {image} no longer exists")
    if code in _REFUSALS:
        return PullRefused(f"ECR refused to read the findings of {image}: {_error_text(error)}")
    return None


# --- Inspector2 findings --------------------------------------------------------------------------------


def inspector_findings(client: Any, *, account_id: str, repository: str, digest: str) -> list[dict[str, Any]]:
    """Inspector2's active findings for the ECR image `repository@digest` of `account_id`, every page of
    `ListFindings`, each finding as Inspector2 gave it. An empty list is an answer (an image without
    vulnerabilities, or one Inspector2 has not reported on yet): whether to wait is the caller's call,
    as only it knows what the event announced. `PullRefused` when access is denied or the request is
    invalid."""
    criteria = {
        "awsAccountId": [_equals(account_id)],
        "ecrImageRepositoryName": [_equals(repository)],
        "ecrImageHash": [_equals(digest)],
        "findingStatus": [_equals("ACTIVE")],
        "resourceType": [_equals("AWS_ECR_CONTAINER_IMAGE")],
    }
    findings: list[dict[str, Any]] = []
    next_token: str | None = None
    while True:
        request: dict[str, Any] = {"filterCriteria": criteria, "maxResults": INSPECTOR_FINDINGS_PAGE}
        if next_token:
            request["nextToken"] = next_token
        try:
            page = client.list_findings(**request)
        except ClientError as error:
            if _error_code(error) in _REFUSALS:
                raise PullRefused(
                    f"Inspector2 refused to list the findings of {repository}@{digest}: {_error_text(error)}"
                ) from error
            raise
        findings.extend(page.get("findings") or [])
        next_token = page.get("nextToken")
        if not next_token:
            return findings


def _equals(value: str) -> dict[str, str]:
    return {"comparison": "EQUALS", "value": value}


# --- ECR images, for a sync -----------------------------------------------------------------------------


def ecr_images(
    client: Any,
    *,
    registry_id: str,
    matches: Callable[[str], bool],
    cursor: dict[str, Any] | None,
    page_size: int,
) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """One step of a sync: at most `page_size` images of the repositories `matches` accepts, each
    `{"repository", "digest", "tags", "pushed_at"}` (`pushed_at` ISO 8601 text, or None), and
    the cursor to pass next time (a JSON object), or None when every image has been seen.

    The cursor is where this step stopped: the `DescribeRepositories` page (`repositories_token`, the
    token that fetched it), the repository on it (`repository`), the `DescribeImages` page of that
    repository (`images_token`) and how many of that page's images were already taken (`images_taken`).
    Repositories are taken in name order within each page, so a repository deleted between two steps
    is passed over (the next name goes on) rather than losing the way. Resuming from each cursor
    returned visits every image exactly once while the registry does not change; an image pushed or
    deleted meanwhile may be missed or seen twice, which the ingester's per-image marker absorbs.

    A repository deleted while it is walked is left; `PullRefused` when the registry cannot be listed
    (access denied, the registry unknown)."""
    if page_size < 1:
        raise ValueError(f"page_size must be at least 1, not {page_size}")
    images_page_size = min(page_size, ECR_LIST_PAGE)
    position = _SyncPosition.from_cursor(cursor)
    images: list[dict[str, Any]] = []
    repositories_token = position.repositories_token
    while True:
        repositories_page = _describe_repositories(client, registry_id, repositories_token)
        names = sorted(
            str(found["repositoryName"])
            for found in repositories_page.get("repositories") or []
            if matches(str(found["repositoryName"]))
        )
        start = bisect.bisect_left(names, position.repository) if position.repository is not None else 0
        for name in names[start:]:
            resuming = name == position.repository
            images_token = position.images_token if resuming else None
            taken = position.images_taken if resuming else 0
            while True:
                if len(images) >= page_size:
                    return images, _SyncPosition(repositories_token, name, images_token, taken).cursor()
                images_page = _describe_images(client, registry_id, name, images_token, images_page_size)
                if images_page is None:  # the repository was deleted meanwhile
                    break
                details = images_page.get("imageDetails") or []
                room = page_size - len(images)
                images.extend(
                    _image(name, detail) for detail in details[taken : taken + room] if _has_digest(detail)
                )
                if taken + room < len(details):
                    return images, _SyncPosition(
                        repositories_token, name, images_token, taken + room
                    ).cursor()
                images_token, taken = images_page.get("nextToken"), 0
                if not images_token:
                    break
        position = _SyncPosition(None, None, None, 0)
        repositories_token = repositories_page.get("nextToken")
        if not repositories_token:
            return images, None


@dataclass(frozen=True)
class _SyncPosition:
    """Where a sync stands; its cursor is plain JSON, so that it can travel in a queue message."""

    repositories_token: str | None
    repository: str | None
    images_token: str | None
    images_taken: int

    @classmethod
    def from_cursor(cls, cursor: dict[str, Any] | None) -> _SyncPosition:
        if not cursor:
            return cls(None, None, None, 0)
        taken = cursor.get("images_taken") or 0
        if not isinstance(taken, int) or isinstance(taken, bool) or taken < 0:
            raise ValueError("the sync cursor's images_taken is not a count")
        return cls(
            _optional_text(cursor, "repositories_token"),
            _optional_text(cursor, "repository"),
            _optional_text(cursor, "images_token"),
            taken,
        )

    def cursor(self) -> dict[str, Any]:
        return {
            "repositories_token": self.repositories_token,
            "repository": self.repository,
            "images_token": self.images_token,
            "images_taken": self.images_taken,
        }


def _optional_text(cursor: dict[str, Any], key: str) -> str | None:
    value = cursor.get(key)
    if value is not None and not isinstance(value, str):
        raise ValueError(f"the sync cursor's {key} is not text")
    return value


def _describe_repositories(client: Any, registry_id: str, token: str | None) -> dict[str, Any]:
    request: dict[str, Any] = {"registryId": registry_id, "maxResults": ECR_LIST_PAGE}
    if token:
        request["nextToken"] = token
    try:
        page: dict[str, Any] = client.describe_repositories(**request)
    except ClientError as error:
        if _error_code(error) in _REFUSALS:
            raise PullRefused(
                f"ECR refused to list the repositories of registry {registry_id}: {_error_text(error)}"
            ) from error
        raise
    return page


def _describe_images(
    client: Any, registry_id: str, repository: str, token: str | None, page_size: int
) -> dict[str, Any] | None:
    request: dict[str, Any] = {
        "registryId": registry_id,
        "repositoryName": repository,
        "maxResults": page_size,
    }
    if token:
        request["nextToken"] = token
    try:
        page: dict[str, Any] = client.describe_images(**request)
    except ClientError as error:
        code = _error_code(error)
        if code == "RepositoryNotFoundException":
            return None
        if code in _REFUSALS:
            raise PullRefused(
                f"ECR refused to list the images of {repository} in registry {registry_id}: "
                f"{_error_text(error)}"
            ) from error
        raise
    return page


def _has_digest(detail: dict[str, Any]) -> bool:
    return bool(detail.get("imageDigest"))


def _image(repository: str, detail: dict[str, Any]) -> dict[str, Any]:
    return {
        "repository": repository,
        "digest": str(detail["imageDigest"]),
        "tags": list(detail.get("imageTags") or []),
        "pushed_at": _iso(detail.get("imagePushedAt")),
    }


def _iso(moment: object) -> str | None:
    """boto3's datetime as ISO 8601 text, so that the image can travel in a queue message too."""
    if isinstance(moment, datetime):
        return moment.isoformat()
    return None if moment is None else str(moment)
