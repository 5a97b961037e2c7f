"""Trivy Operator custom resources (`aquasecurity.github.io/v1alpha1`): one resource or many.

Shapes read: a single resource, as `kubectl get vulnerabilityreport <name> -o json` prints it; a
`kind: List` (or `VulnerabilityReportList`, any kind ending in `List`) with `items[]`, as `kubectl get
vulnerabilityreports,configauditreports -A -o json` prints it; a JSON array of resources; an object whose
values are arrays of resources (or Lists) keyed by resource name (`vulnerabilityreports.aquasecurity.
github.io`, …), as collected by `for r in …; kubectl get $r -o json`. Starboard, the operator's
predecessor, wrote the same kinds under the same apiVersion.

Kinds read, each item one subject (`parse_reports` merges the items of one subject):

- `VulnerabilityReport`, `ClusterVulnerabilityReport` (`report.vulnerabilities[]`) and
  `ExposedSecretReport` (`report.secrets[]`) are about an image: `report.registry.server` + `/` +
  `report.artifact.repository`, `:tag` and `@digest` where given, normalized as Docker does
  (`index.docker.io` is Docker Hub). An item naming no usable image is kept on its workload instead.
- `ConfigAuditReport`, `RbacAssessmentReport`, `InfraAssessmentReport` and their `Cluster…` kinds
  (`report.checks[]`) are about a Kubernetes resource: the workload subject
  `k8s://<cluster>/<namespace>/<kind>/<name>` (`images.workload_ref`). The resource is named by the labels
  `trivy-operator.resource.{namespace,kind,name}`, else by `metadata.ownerReferences[0]` and
  `metadata.namespace`, else by the report itself (its kind and `metadata.name`). Resources name no
  cluster: the parser leaves it to the default, and the API moves workloads to the caller's `?cluster=`.

Not read, on purpose: `SbomReport`/`ClusterSbomReport` (packages, no findings), `ClusterComplianceReport`
(a summary of the checks above, which would count them twice) and any other kind; they are skipped, and
a document holding nothing else is refused, naming the kinds it holds.

Findings. Vulnerability: every entry (the operator writes no suppressed ones); severity is the scanner's
word (`NONE` → negligible); fixed version `fixedVersion` when non-empty (no fix-status word); CVSS
`score`; location `target`, then `:` and the package path (`packagePath`, older `pkgPath`) as the Trivy
parser writes it (the operator often writes `target: ""`, then there is none). Secret: its `target` (the
file) as location; `match` is the secret itself and is never kept; the resource has no line number, so
two matches of one rule in one file are one finding. Check: one misconfiguration per check with
`success: false` (passed checks are not findings), id `checkID`, severity, title, and as location
`<Kind>/<name>` of the resource — the Target the Trivy CLI (`trivy k8s`) gives the same check. Unlike the
CLI, the operator writes one entry per check and resource (its `messages` list every offending
container), so no detail is needed to tell failures apart; `messages` are not kept, so the finding keeps
its identity (and its risk acceptances) when a container is added.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

from riskgate.domain.errors import InvalidInput, UnsupportedFormat
from riskgate.domain.findings import Finding, FindingKind, Severity
from riskgate.domain.images import ImageRef, is_digest, parse_image_reference_or_none, workload_ref
from riskgate.domain.parsers._common import (
    ParsedReport,
    broken,
    child_path,
    expect_object,
    json_type,
    object_field,
    object_list,
    optional_score,
    optional_text,
    required_text,
)

FORMAT = "trivy-operator"
API_GROUP = "aquasecurity.github.io"
API_VERSION = f"{API_GROUP}/v1alpha1"
VULNERABILITY_REPORT = "VulnerabilityReport"
CLUSTER_VULNERABILITY_REPORT = "ClusterVulnerabilityReport"
EXPOSED_SECRET_REPORT = "ExposedSecretReport"
# Kinds whose `report.checks[]` judge a Kubernetes resource, not an image.
CHECK_REPORT_KINDS = (
    "ConfigAuditReport",
    "ClusterConfigAuditReport",
    "RbacAssessmentReport",
    "ClusterRbacAssessmentReport",
    "InfraAssessmentReport",
    "ClusterInfraAssessmentReport",
)
READ_KINDS = (VULNERABILITY_REPORT, CLUSTER_VULNERABILITY_REPORT, EXPOSED_SECRET_REPORT, *CHECK_REPORT_KINDS)
LIST_KIND_SUFFIX = "List"
RESOURCE_LABEL = "trivy-operator.resource."
LOCATION_SEPARATOR = ":"
_REPORT = "report"
_ITEMS = "items"


# --- recognition -------------------------------------------------------------------------------------


def looks_like_trivy_operator(document: Any) -> bool:
    """A resource of the operator's API group, a List or array holding one, or an object keyed by the
    group's resource names; an empty `kind: List` too (kubectl's answer when there is no report)."""
    if isinstance(document, list):
        return any(_is_operator_resource(item) for item in document)
    if not isinstance(document, dict):
        return False
    if _is_list_object(document):
        items = document[_ITEMS]
        return _in_api_group(document.get("apiVersion")) or not items or looks_like_trivy_operator(items)
    if "kind" in document or "apiVersion" in document:
        return _in_api_group(document.get("apiVersion"))
    return any(isinstance(key, str) and key.endswith(f".{API_GROUP}") for key in document)


def _is_operator_resource(value: object) -> bool:
    return isinstance(value, dict) and _in_api_group(value.get("apiVersion"))


def _in_api_group(api_version: object) -> bool:
    return isinstance(api_version, str) and api_version.startswith(f"{API_GROUP}/")


def _is_list_object(document: dict[str, Any]) -> bool:
    kind = document.get("kind")
    has_items = isinstance(document.get(_ITEMS), list)
    return isinstance(kind, str) and kind.endswith(LIST_KIND_SUFFIX) and has_items


# --- the document ------------------------------------------------------------------------------------


def parse_trivy_operator(document: Any) -> list[ParsedReport]:
    """One report per resource read, in document order (kinds without findings skipped).

    Raises InvalidInput naming the path for a broken structure, and saying which kinds the document holds
    when none of them is read.
    """
    shape, resources = _resources(document)
    reports: list[ParsedReport] = []
    kinds_seen: Counter[str] = Counter()
    for path, resource in resources:
        kind = required_text(resource, "kind", path)
        kinds_seen[kind] += 1
        if _in_api_group(resource.get("apiVersion")) and kind in READ_KINDS:
            reports.append(_parse_resource(resource, kind, path))
    if not reports:
        raise _nothing_to_store(shape, kinds_seen)
    return reports


def _resources(document: Any) -> tuple[str, list[tuple[str, dict[str, Any]]]]:
    """What the document is ("the List", …) and its resources, each with its path."""
    if isinstance(document, list):
        return "the array", list(_objects(document, ""))
    resource = expect_object(document, "")
    if _is_list_object(resource):
        return f"the {resource['kind']}", list(_objects(resource[_ITEMS], _ITEMS))
    if "kind" in resource or "apiVersion" in resource:
        return "the document", [("", resource)]
    resources: list[tuple[str, dict[str, Any]]] = []
    for key in resource:
        resources.extend(_keyed_resources(resource, str(key)))
    return "the object of resource lists", resources


def _keyed_resources(document: dict[str, Any], key: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """The resources under one key of the keyed shape: an array of them, or a List holding them."""
    path = child_path("", key)
    value = document[key]
    # `kubectl get <resource> -o json` answers a List; its kind may have been dropped on the way.
    if isinstance(value, dict) and isinstance(value.get(_ITEMS), list):
        yield from _objects(value[_ITEMS], child_path(path, _ITEMS))
    elif isinstance(value, list):
        yield from _objects(value, path)
    elif value is not None:
        raise broken(path, f"expected a list of resources, got {json_type(value)}")


def _objects(items: list[Any], path: str) -> Iterator[tuple[str, dict[str, Any]]]:
    for index, item in enumerate(items):
        item_path = child_path(path, index)
        yield item_path, expect_object(item, item_path)


def _nothing_to_store(shape: str, kinds_seen: Counter[str]) -> InvalidInput:
    """No resource Riskgate reads. Resources of other kinds only (SBOMs, compliance reports, a Pod): a
    format it does not read (422 unsupported_format); no resource at all: nothing to store (422)."""
    seen = ", ".join(f"{count} {kind}" for kind, count in kinds_seen.items())
    holds = f"it holds {seen}" if seen else "it holds no resource at all"
    problem = f"{shape} holds no {', '.join(READ_KINDS)}: nothing to store ({holds})"
    error = UnsupportedFormat if kinds_seen else InvalidInput
    return error(problem, details=[{"read_kinds": list(READ_KINDS), "kinds_seen": dict(kinds_seen)}])


# --- one resource ------------------------------------------------------------------------------------


def _parse_resource(resource: dict[str, Any], kind: str, path: str) -> ParsedReport:
    report_path = child_path(path, _REPORT)
    report = object_field(resource, _REPORT, path)
    scanner_path = child_path(report_path, "scanner")
    scanner = object_field(report, "scanner", report_path)
    scanner_name = optional_text(scanner, "name", scanner_path)
    metadata_path = child_path(path, "metadata")
    metadata = object_field(resource, "metadata", path)
    if kind in CHECK_REPORT_KINDS:
        namespace, workload_kind, name = _workload(metadata, kind, metadata_path)
        image = workload_ref(None, namespace, workload_kind, name)
        location = f"{workload_kind}/{name}"
        findings = [
            _misconfiguration(entry, location, entry_path)
            for entry_path, entry in object_list(report, "checks", report_path)
            if _is_failed_check(entry, entry_path)
        ]
    else:
        if kind == EXPOSED_SECRET_REPORT:
            secrets = object_list(report, "secrets", report_path)
            findings = [_secret(entry, entry_path) for entry_path, entry in secrets]
        else:
            vulnerabilities = object_list(report, "vulnerabilities", report_path)
            findings = [_vulnerability(entry, entry_path) for entry_path, entry in vulnerabilities]
        # Findings of an image that cannot be named stay on the workload the report was made for.
        image = _image(report, report_path) or workload_ref(None, *_workload(metadata, kind, metadata_path))
    return ParsedReport(
        format=FORMAT,
        scanner=scanner_name.lower() if scanner_name else None,
        scanner_version=optional_text(scanner, "version", scanner_path),
        image=image,
        findings=findings,
        created_at=optional_text(report, "updateTimestamp", report_path)
        or optional_text(metadata, "creationTimestamp", metadata_path),
    )


def _workload(metadata: dict[str, Any], report_kind: str, path: str) -> tuple[str | None, str, str]:
    """(namespace, kind, name) of the Kubernetes resource a report is about."""
    labels_path = child_path(path, "labels")
    labels = object_field(metadata, "labels", path)
    namespace = optional_text(labels, RESOURCE_LABEL + "namespace", labels_path) or optional_text(
        metadata, "namespace", path
    )
    kind = optional_text(labels, RESOURCE_LABEL + "kind", labels_path)
    name = optional_text(labels, RESOURCE_LABEL + "name", labels_path)
    if kind and name:
        return namespace, kind, name
    owners = object_list(metadata, "ownerReferences", path)
    if owners:
        owner_path, owner = owners[0]
        kind = optional_text(owner, "kind", owner_path)
        name = optional_text(owner, "name", owner_path)
        if kind and name:
            return namespace, kind, name
    own_name = optional_text(metadata, "name", path)
    if own_name is None:
        raise broken(path, f"missing name (no {RESOURCE_LABEL}* labels or ownerReferences name the resource)")
    return namespace, report_kind, own_name


def _vulnerability(entry: dict[str, Any], path: str) -> Finding:
    package_path = optional_text(entry, "packagePath", path) or optional_text(entry, "pkgPath", path)
    return Finding(
        kind=FindingKind.VULNERABILITY,
        finding_id=required_text(entry, "vulnerabilityID", path),
        severity=Severity.parse(entry.get("severity")),
        title=optional_text(entry, "title", path),
        package=optional_text(entry, "resource", path),
        installed_version=optional_text(entry, "installedVersion", path),
        fixed_version=optional_text(entry, "fixedVersion", path),
        location=_location(optional_text(entry, "target", path), package_path),
        cvss_score=optional_score(entry, "score", path),
    )


def _secret(entry: dict[str, Any], path: str) -> Finding:
    # `match` is read only to check its type: it is the secret and is never kept.
    optional_text(entry, "match", path)
    return Finding(
        kind=FindingKind.SENSITIVE_DATA,
        finding_id=required_text(entry, "ruleID", path),
        severity=Severity.parse(entry.get("severity")),
        title=optional_text(entry, "title", path),
        location=optional_text(entry, "target", path),
    )


def _misconfiguration(entry: dict[str, Any], location: str, path: str) -> Finding:
    return Finding(
        kind=FindingKind.MISCONFIGURATION,
        finding_id=required_text(entry, "checkID", path),
        severity=Severity.parse(entry.get("severity")),
        title=optional_text(entry, "title", path),
        location=location,
    )


def _is_failed_check(entry: dict[str, Any], path: str) -> bool:
    # The operator always writes `success`; without it the check counts as failed, as a Trivy
    # misconfiguration without Status does.
    success = entry.get("success")
    if success is not None and not isinstance(success, bool):
        raise broken(child_path(path, "success"), f"expected a boolean, got {json_type(success)}")
    return success is not True


def _location(target: str | None, package_path: str | None) -> str | None:
    if target and package_path:
        return f"{target}{LOCATION_SEPARATOR}{package_path}"
    return target or package_path


def _image(report: dict[str, Any], report_path: str) -> ImageRef | None:
    registry_path = child_path(report_path, "registry")
    artifact_path = child_path(report_path, "artifact")
    server = optional_text(object_field(report, "registry", report_path), "server", registry_path)
    artifact = object_field(report, "artifact", report_path)
    repository = optional_text(artifact, "repository", artifact_path)
    tag = optional_text(artifact, "tag", artifact_path)
    digest = optional_text(artifact, "digest", artifact_path)
    if repository is None:
        return None
    name = f"{server.rstrip('/')}/{repository}" if server else repository
    reference = name + (f":{tag}" if tag else "")
    # An unusable digest does not make the tag unusable.
    if digest and is_digest(digest):
        return parse_image_reference_or_none(f"{reference}@{digest}")
    return parse_image_reference_or_none(reference)
