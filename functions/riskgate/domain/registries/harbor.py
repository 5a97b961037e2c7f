"""Harbor: what a webhook says happened, where its vulnerability report is read, and what the report means.

Webhooks. A Harbor webhook policy sends one of two payloads (goharbor/harbor,
`src/pkg/notifier/formats`):

* default: `{type, occur_at (seconds since 1970), operator, event_data{resources[], repository}}`;
* CloudEvents 1.0: `{specversion, id, source, type, time, datacontenttype, operator, data}`, `data` being
  the default payload's `event_data`, `type` Harbor's topic renamed (`harbor.scan.completed` for
  SCANNING_COMPLETED, `harbor.artifact.pushed` for PUSH_ARTIFACT, …). Harbor's own names are mapped
  explicitly; any other `harbor.<words>` (`harbor.scanning.completed`) becomes `<WORDS>` upper-cased.

`event_data.repository` names the project (`namespace`) and the repository inside it (`name`, which may
be nested: `alpine/helm` in project `test`); `resources[]` holds the artifact, one for the events read
here (the first is taken): `digest`, `tag`, `resource_url` (`<host>/<project>/<repository>:<tag>`, or
`@<digest>`). A `tag` that is a digest (Harbor writes one for a pull by digest) is no tag. When `tag` is
missing, the tag of `resource_url` is taken: the URL names the artifact the event is about.

Anything that is not such an event is refused with MalformedInput (the webhook route answers 400) naming
what is missing or of the wrong type, so that a misconfigured endpoint is told, not silently ignored.

Reports. `GET /api/v2.0/projects/{project}/repositories/{repository}/artifacts/{reference}/additions/
vulnerabilities` answers the scanner adapter's report keyed by its media type; it is read by the Harbor
report parser (riskgate.domain.parsers.harbor), and the image is the one the event named: the report
names the repository inside Harbor, without the host. A nested repository name is URL-encoded twice in
that path (`alpine%252Fhelm`), as Harbor's API documentation asks: once encoded, its `/` would still
split the path.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from riskgate.domain.errors import InvalidInput, MalformedInput
from riskgate.domain.images import ImageRef
from riskgate.domain.parsers._common import (
    ParsedReport,
    broken,
    child_path,
    expect_object,
    json_type,
    object_field,
    object_list,
    optional_text,
)
from riskgate.domain.parsers.harbor import REPORT_MEDIA_TYPE, looks_like_harbor, parse_harbor
from riskgate.domain.registries import SCANNER_HARBOR, registry_report, required_field, required_time

HARBOR_REPORT_MIME = REPORT_MEDIA_TYPE

SCANNING_COMPLETED = "SCANNING_COMPLETED"
SCANNING_FAILED = "SCANNING_FAILED"
SCANNING_STOPPED = "SCANNING_STOPPED"
PUSH_ARTIFACT = "PUSH_ARTIFACT"

# Harbor's CloudEvents types and the topics they stand for (formats/cloudevents.go, eventTypeMapping).
_CLOUDEVENTS_PREFIX = "harbor."
_TOPIC_OF_CLOUDEVENT = {
    "harbor.artifact.deleted": "DELETE_ARTIFACT",
    "harbor.artifact.pulled": "PULL_ARTIFACT",
    "harbor.artifact.pushed": PUSH_ARTIFACT,
    "harbor.tag.created": "CREATE_TAG",
    "harbor.quota.exceeded": "QUOTA_EXCEED",
    "harbor.quota.warned": "QUOTA_WARNING",
    "harbor.replication.status.changed": "REPLICATION",
    "harbor.scan.failed": SCANNING_FAILED,
    "harbor.scan.completed": SCANNING_COMPLETED,
    "harbor.scan.stopped": SCANNING_STOPPED,
    "harbor.tag_retention.finished": "TAG_RETENTION",
}
# What the event itself says of a scan that did not complete (Harbor sends no reason).
_FAILURES = {
    SCANNING_FAILED: "the scan failed in Harbor",
    SCANNING_STOPPED: "the scan was stopped in Harbor",
}
_SCAN_TOPICS = frozenset({SCANNING_COMPLETED, SCANNING_FAILED, SCANNING_STOPPED})
_NOT_AN_EVENT = "not a Harbor webhook event"
# Path characters left as they are: `:` is allowed in a path segment (RFC 3986 pchar) and keeps a digest
# reference readable (`sha256:…`); every other reserved character is encoded.
_SEGMENT_SAFE = ":"


@dataclass(frozen=True)
class HarborEvent:
    """What a Harbor webhook says happened to which artifact."""

    # Harbor's topic, upper-case: SCANNING_COMPLETED, SCANNING_FAILED, PUSH_ARTIFACT, …
    type: str
    # "" for an event of no repository (only types other than the scanning ones).
    project: str
    # The repository inside the project, without it; may be nested (`alpine/helm`).
    repository: str
    digest: str | None
    tag: str | None
    # ISO 8601 UTC with `Z`.
    occurred_at: str
    # The host (and port) of `resource_url`: the registry as Harbor names itself.
    registry_host: str | None
    # Why the scan did not complete (SCANNING_FAILED, SCANNING_STOPPED); None otherwise.
    failure: str | None


def harbor_event(payload: Any) -> HarborEvent:
    """A Harbor webhook payload, default or CloudEvents; MalformedInput naming what is wrong otherwise."""
    try:
        return _event(expect_object(payload, ""))
    except InvalidInput as problem:
        raise MalformedInput(f"{_NOT_AN_EVENT}: {problem.message}", details=problem.details) from None


def project_segment(project: str) -> str:
    return quote(project, safe="")


def repository_segment(repository: str) -> str:
    """A repository name inside its project, for a path: URL-encoded twice, as Harbor requires of nested
    names (`alpine/helm` → `alpine%252Fhelm`; its proxy decodes the path once before routing it)."""
    return quote(quote(repository, safe=""), safe="")


def reference_segment(reference: str) -> str:
    """A digest (`sha256:…`) or a tag, for a path: a colon may stay as it is."""
    return quote(reference, safe=_SEGMENT_SAFE)


def report_path(project: str, repository: str, reference: str) -> str:
    """The path of an artifact's vulnerability report in Harbor's API v2.0; `reference` is a digest or a
    tag (riskgate.adapters.harbor_api builds its other paths from the same segments)."""
    return (
        f"/api/v2.0/projects/{project_segment(project)}/repositories/{repository_segment(repository)}"
        f"/artifacts/{reference_segment(reference)}/additions/vulnerabilities"
    )


def harbor_image_ref(registry_host: str, event: HarborEvent) -> ImageRef:
    """The image an event is about, in the registry `registry_host` (`host[:port]`, the connection's)."""
    return ImageRef(
        registry=registry_host.lower(),
        repository=f"{event.project}/{event.repository}",
        tag=event.tag,
        digest=event.digest,
    )


def harbor_report(answer: Any, image_ref: ImageRef) -> ParsedReport:
    """The report of Harbor's `/additions/vulnerabilities` answer, about `image_ref`. An answer without a
    vulnerability report (`{}`, or the report's key with null) is InvalidInput: it is no statement that
    the image is clean."""
    document = expect_object(answer, "")
    present = {key: value for key, value in document.items() if value is not None}
    if not looks_like_harbor(present):
        keys = ", ".join(sorted(map(str, document))) or "none"
        problem = f"Harbor's answer holds no vulnerability report ({HARBOR_REPORT_MIME}); its keys: {keys}"
        raise broken("", problem)
    parsed = parse_harbor(present)
    report = registry_report(
        SCANNER_HARBOR, image_ref, parsed.findings, parsed.created_at, parsed.scanner_version
    )
    # The adapter names the scanner that ran (Trivy, Grype…): more than "harbor", which the format says.
    return dataclasses.replace(report, scanner=parsed.scanner or report.scanner)


# --- reading a webhook ------------------------------------------------------------------------------


def _event(payload: dict[str, Any]) -> HarborEvent:
    if "specversion" in payload:
        topic = _topic_of_cloudevent(required_field(payload, "type", ""))
        occurred_at = required_time(payload, "time", "")
        data_key = "data"
    else:
        topic = required_field(payload, "type", "").upper()
        occurred_at = required_time(payload, "occur_at", "")
        data_key = "event_data"
    if data_key not in payload:
        raise broken(data_key, "missing")
    data = object_field(payload, data_key, "")
    repository_path = child_path(data_key, "repository")
    if topic not in _SCAN_TOPICS and not isinstance(data.get("repository"), dict):
        # Events of no repository (REPLICATION, TAG_RETENTION, QUOTA_…) are acknowledged and ignored:
        # Harbor sends every event type a webhook policy selects, and a 400 would only fill its logs.
        project, name = "", ""
    else:
        project, name = _project_and_repository(object_field(data, "repository", data_key), repository_path)
    resources = object_list(data, "resources", data_key)
    resource_path, resource = resources[0] if resources else (child_path(data_key, "resources"), {})
    resource_url = optional_text(resource, "resource_url", resource_path)
    return HarborEvent(
        type=topic,
        project=project,
        repository=name,
        digest=optional_text(resource, "digest", resource_path),
        tag=_tag(optional_text(resource, "tag", resource_path)) or _tag_of_url(resource_url),
        occurred_at=occurred_at,
        registry_host=_host_of_url(resource_url),
        failure=_failure(topic, resource, resource_path),
    )


def _topic_of_cloudevent(event_type: str) -> str:
    topic = _TOPIC_OF_CLOUDEVENT.get(event_type)
    if topic is not None:
        return topic
    if not event_type.startswith(_CLOUDEVENTS_PREFIX) or event_type == _CLOUDEVENTS_PREFIX:
        raise broken("type", f"expected a Harbor event type (harbor.…), got {event_type[:100]!r}")
    return event_type.removeprefix(_CLOUDEVENTS_PREFIX).replace(".", "_").upper()


def _project_and_repository(repository: dict[str, Any], path: str) -> tuple[str, str]:
    """(project, repository inside it): `namespace` and `name`, else split from `repo_full_name`."""
    project = optional_text(repository, "namespace", path)
    name = optional_text(repository, "name", path)
    full_name = optional_text(repository, "repo_full_name", path)
    if full_name and "/" in full_name:
        full_project, _, full_repository = full_name.partition("/")
        project = project or full_project
        name = name or full_repository
    if project is None:
        raise broken(child_path(path, "namespace"), "missing")
    if name is None:
        raise broken(child_path(path, "name"), "missing")
    return project, name


def _tag(tag: str | None) -> str | None:
    # A tag never holds ":"; Harbor puts the digest where the tag goes for an artifact pulled by digest.
    return None if tag is None or ":" in tag else tag


def _tag_of_url(resource_url: str | None) -> str | None:
    if resource_url is None or "@" in resource_url:
        return None
    last_component = resource_url.rpartition("/")[2]
    _, colon, tag = last_component.rpartition(":")
    return _tag(tag) if colon and tag else None


def _host_of_url(resource_url: str | None) -> str | None:
    if resource_url is None:
        return None
    host, slash, _ = resource_url.partition("/")
    return host if slash and host else None


def _failure(topic: str, resource: dict[str, Any], path: str) -> str | None:
    failure = _FAILURES.get(topic)
    if failure is None:
        return None
    # A failed scan's overview, when Harbor sends one, says its status (`Error`) and nothing more.
    overview_path = child_path(path, "scan_overview")
    for key, summary in object_field(resource, "scan_overview", path).items():
        if isinstance(summary, dict):
            status = optional_text(summary, "scan_status", child_path(overview_path, key))
            if status:
                return f"{failure} (scan status {status})"
        elif summary is not None:
            raise broken(child_path(overview_path, key), f"expected an object, got {json_type(summary)}")
    return failure
