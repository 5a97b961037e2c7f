"""`trivy k8s --format json`: one report about the images and resources of a Kubernetes cluster.

Layouts: `{ClusterName, Vulnerabilities: [Resource], Misconfigurations: [Resource]}` (trivy 0.2x to 0.3x),
`{SchemaVersion?, ClusterName, Resources: [Resource]}` (later) and `{ClusterName, Findings: [Resource]}`
(`--report all` of the same versions, the resources' results consolidated per resource). Every list
present is read, in that order. `Resource = {Namespace?, Kind, Name, Metadata?, Results[], Error?}`:
`Results` are Trivy results (read as the Trivy parser reads them), `Metadata` is one Trivy `Metadata`
object per image of the resource (a single object in some versions).

Each result's findings go to one subject:

- an `os-pkgs` result to the image its Target names, `<image> (<os> <version>)`, with the digest of the
  `Metadata` entry of that image (`RepoDigests`);
- `lang-pkgs`, `secret` and any other image result to the image of the `os-pkgs` result before it in the
  resource, else to the resource's only image (`Metadata` `RepoTags`/`RepoDigests`);
- `config` results (misconfigurations of the resource itself) and results whose image cannot be told to
  the workload subject `k8s://<ClusterName>/<namespace>/<kind>/<name>` (`images.workload_ref`; no
  namespace for cluster-scoped resources).

A result without findings still names its subject, and a resource without results gives the images of its
`Metadata`, else its workload: a clean scan is information. A resource with `Error` (its scan failed) gives
only what its results say. The report carries no Trivy version; `CreatedAt` when present.
"""

from __future__ import annotations

from typing import Any

from riskgate.domain.errors import InvalidInput
from riskgate.domain.findings import Finding
from riskgate.domain.images import ImageRef, parse_image_reference_or_none, with_repo_digest, workload_ref
from riskgate.domain.parsers._common import (
    ParsedReport,
    broken,
    child_path,
    json_type,
    object_list,
    optional_int,
    optional_text,
    required_text,
    text_list,
)
from riskgate.domain.parsers.trivy import (
    SCANNER,
    findings_of_result,
    first_repo_tag,
    image_of_os_target,
    repo_digests,
)

FORMAT = "trivy-k8s"
CLUSTER_NAME = "ClusterName"
# The lists of resources, in the order they are read: later layout, its `--report all`, the 0.2x one.
RESOURCE_LISTS = ("Resources", "Findings", "Vulnerabilities", "Misconfigurations")
OS_PACKAGES = "os-pkgs"
CONFIG = "config"
_METADATA = "Metadata"

# A subject and the findings that go to it, in the order found.
_Subjects = dict[str, tuple[ImageRef, list[Finding]]]


def looks_like_trivy_k8s(document: Any) -> bool:
    """Only `trivy k8s` writes `ClusterName` (newer versions also `SchemaVersion`, like image reports)."""
    return isinstance(document, dict) and CLUSTER_NAME in document


def parse_trivy_k8s(document: dict[str, Any]) -> list[ParsedReport]:
    """One report per subject (image or workload), in order of first appearance."""
    cluster = optional_text(document, CLUSTER_NAME, "")
    optional_int(document, "SchemaVersion", "")
    created_at = optional_text(document, "CreatedAt", "")
    resources = [entry for key in RESOURCE_LISTS for entry in object_list(document, key, "")]
    subjects: _Subjects = {}
    errors: list[str] = []
    for path, resource in resources:
        error = _read_resource(resource, path, cluster, subjects)
        if error:
            errors.append(f"{path}: {error}")
    if not subjects:
        raise _nothing_to_store(len(resources), errors)
    return [
        ParsedReport(
            format=FORMAT,
            scanner=SCANNER,
            scanner_version=None,
            image=image,
            findings=findings,
            created_at=created_at,
        )
        for image, findings in subjects.values()
    ]


def _read_resource(
    resource: dict[str, Any], path: str, cluster: str | None, subjects: _Subjects
) -> str | None:
    """Adds the resource's subjects and findings to `subjects`; returns the resource's Error."""
    workload = workload_ref(
        cluster,
        optional_text(resource, "Namespace", path),
        required_text(resource, "Kind", path),
        required_text(resource, "Name", path),
    )
    error = optional_text(resource, "Error", path)
    metadata = _metadata_entries(resource, path)
    only_image = _only_image(metadata)
    results = object_list(resource, "Results", path)
    # The image the results that follow an os-pkgs result belong to.
    current_image = only_image
    for result_path, result in results:
        result_class = optional_text(result, "Class", result_path)
        subject: ImageRef | None
        if result_class == CONFIG:
            subject = workload
        elif result_class == OS_PACKAGES:
            subject = current_image = _image_of_os_result(result, result_path, metadata) or only_image
        else:
            subject = current_image
        _add(subjects, subject or workload, findings_of_result(result, result_path))
    if not results and error is None:
        for image in _images(metadata) or [workload]:
            _add(subjects, image, [])
    return error


def _add(subjects: _Subjects, subject: ImageRef, findings: list[Finding]) -> None:
    subjects.setdefault(subject.image_id, (subject, []))[1].extend(findings)


def _metadata_entries(resource: dict[str, Any], path: str) -> list[tuple[str, dict[str, Any]]]:
    """`Metadata` as a list of (path, object): newer versions write one per image, older a single one."""
    value = resource.get(_METADATA)
    if isinstance(value, dict):
        return [(child_path(path, _METADATA), value)]
    if value is not None and not isinstance(value, list):
        raise broken(child_path(path, _METADATA), f"expected an object or a list, got {json_type(value)}")
    return object_list(resource, _METADATA, path)


def _image_of_entry(entry: dict[str, Any], path: str) -> ImageRef | None:
    return with_repo_digest(first_repo_tag(entry, path), repo_digests(entry, path))


def _images(metadata: list[tuple[str, dict[str, Any]]]) -> list[ImageRef]:
    """The distinct images the `Metadata` entries name."""
    images: dict[str, ImageRef] = {}
    for path, entry in metadata:
        image = _image_of_entry(entry, path)
        if image is not None:
            images.setdefault(image.image_id, image)
    return list(images.values())


def _only_image(metadata: list[tuple[str, dict[str, Any]]]) -> ImageRef | None:
    images = _images(metadata)
    return images[0] if len(images) == 1 else None


def _image_of_os_result(
    result: dict[str, Any], path: str, metadata: list[tuple[str, dict[str, Any]]]
) -> ImageRef | None:
    """The image an os-pkgs Target names, with the digest of its own `Metadata` entry: with several
    images in a resource, another entry's digest would name another image."""
    image = image_of_os_target(optional_text(result, "Target", path))
    if image is None or image.digest:
        return image
    same_repository: list[str] = []
    for entry_path, entry in metadata:
        digests = repo_digests(entry, entry_path)
        tags = [parse_image_reference_or_none(tag) for tag in text_list(entry, "RepoTags", entry_path)]
        if any(tag is not None and (tag.name, tag.tag) == (image.name, image.tag) for tag in tags):
            return with_repo_digest(image, digests)
        same_repository.extend(digest for digest in digests if _names(digest, image.name))
    return with_repo_digest(image, same_repository)


def _names(repo_digest: str, name: str) -> bool:
    ref = parse_image_reference_or_none(repo_digest)
    return ref is not None and ref.name == name


def _nothing_to_store(resource_count: int, errors: list[str]) -> InvalidInput:
    if resource_count == 0:
        problem = f"the trivy k8s report holds no resources ({', '.join(RESOURCE_LISTS)}): nothing to store"
    else:
        problem = (
            f"the scan of each of the {resource_count} resources of the trivy k8s report failed, "
            f"so it tells nothing about them (first error: {errors[0]}): nothing to store"
        )
    return InvalidInput(problem, details=[{"resources": resource_count, "errors": errors[:10]}])
