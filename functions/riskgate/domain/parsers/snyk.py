"""Snyk JSON: `snyk container test --json` (and `snyk test --json`), one project or a list of projects.

Shapes, as the Snyk CLI writes them:

* one project: `{vulnerabilities[], ok, dependencyCount, packageManager, projectName, path, docker{},
  summary, uniqueCount, …}`. Since application scanning became the default of `snyk container test`
  (January 2023; `--app-vulns` before, `--exclude-app-vulns` to turn it off) the image's application
  projects (npm, pip, jar, Go binaries, …) are nested under `applications[]`, each one a project of
  the same shape;
* a list of projects: `--experimental` container output (the image's own project, then its
  applications), `--all-projects`, several images. An entry may be an error result
  `{ok: false, error, path}`: the report then does not cover that project, so it is refused.

Findings: every entry of every project's `vulnerabilities[]` (the image's own and its applications').
An entry is one vulnerability per dependency path (`from[]`), so one package reached by two paths is two
entries; the path after the project root (`from[1:]`, joined with " > ") tells them apart (`detail`).
With `--group-issues` an entry holds a list of paths: it is one finding without a path. License issues
(`type: "license"`) are not vulnerabilities and are skipped; `filtered.ignore` (ignored by a .snyk
policy) is not read.

Severity: the entry's `severity` as written (`low`/`medium`/`high`/`critical`); `nvdSeverity`,
`severityWithCritical` and `cvssScore` do not change it. Fixed version: `fixedIn[]` joined with ", "
(empty or absent: no fix); `isUpgradable` alone is no fixed version. Package: `packageName` (for OS
packages the source package, `glibc`; `name` is `glibc/libc6`), else `name`. CVSS: `cvssScore`.
Location: an application project's target file (`displayTargetFile`, else `targetFile`); the image's
own project (`projectName` `docker-image|…`) has none.

Image: `path` is the image as the user named it (`alpine:3.19`, `gcr.io/x/y:1`); when it does not
parse, the `docker-image|<name>@<tag>` root of the dependency paths (or `projectName`) names it. A
scanned archive (`docker-archive:x.tar`, a directory) names no image. Open-source projects (no
`docker` key, no `docker-image|` project name) are not images either. Every project of one document
must be of the same image; a report of several images is refused.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from riskgate.domain.findings import Finding, FindingKind, Severity
from riskgate.domain.images import (
    ImageRef,
    digest_of_repo_digest,
    looks_like_archive_path,
    parse_image_reference_or_none,
)
from riskgate.domain.parsers._common import (
    NOT_TEXT,
    ParsedReport,
    broken,
    child_path,
    expect_object,
    is_text,
    json_type,
    list_field,
    object_list,
    objects_of,
    optional_score,
    optional_text,
    required_text,
    text_list,
)

FORMAT = "snyk"
SCANNER = "snyk"
IMAGE_PROJECT_PREFIX = "docker-image|"
PATH_SEPARATOR = " > "
_LICENSE_ISSUE = "license"
# Keys every Snyk test result has besides `vulnerabilities` and `ok`; none of the other formats has them.
_PROJECT_KEYS = frozenset({"packageManager", "projectName", "dependencyCount", "uniqueCount", "summary"})


# --- recognition ------------------------------------------------------------------------------------


def looks_like_snyk(document: Any) -> bool:
    """One Snyk project, an error result of one, or a list whose first item is a result (`ok`)."""
    if isinstance(document, list):
        return (
            bool(document)
            and isinstance(document[0], dict)
            and "ok" in document[0]
            and any(_is_project(item) or _is_error_result(item) for item in document)
        )
    return _is_project(document) or _is_error_result(document)


def _is_project(value: Any) -> bool:
    return (
        isinstance(value, dict)
        and "vulnerabilities" in value
        and isinstance(value.get("ok"), bool)
        and not _PROJECT_KEYS.isdisjoint(value.keys())
    )


def _is_error_result(value: Any) -> bool:
    """What the CLI writes for a project it could not test: `{"ok": false, "error": …, "path": …}`."""
    return (
        isinstance(value, dict)
        and value.get("ok") is False
        and "vulnerabilities" not in value
        and isinstance(value.get("error"), str)
        and "path" in value
    )


# --- parsing ----------------------------------------------------------------------------------------


def parse_snyk(document: Any) -> ParsedReport:
    projects = _projects(document)
    container = any(_is_image_project(project) or "docker" in project for _, project in projects)
    findings: list[Finding] = []
    images: list[tuple[str, ImageRef]] = []
    for path, project in projects:
        findings += _project_findings(project, path)
        image = _project_image(project, path) if container else None
        if image is not None:
            images.append((path, image))
    return ParsedReport(
        format=FORMAT,
        scanner=SCANNER,
        scanner_version=None,
        image=_one_image(images),
        findings=findings,
        created_at=None,
    )


def _projects(document: Any) -> list[tuple[str, dict[str, Any]]]:
    """Every project with its path: the top-level ones, each followed by its `applications[]`."""
    top = objects_of(document, "") if isinstance(document, list) else [("", expect_object(document, ""))]
    projects: list[tuple[str, dict[str, Any]]] = []
    for path, project in top:
        projects.append((path, project))
        projects += object_list(project, "applications", path)
    for path, project in projects:
        _check_tested(project, path)
    return projects


def _check_tested(project: dict[str, Any], path: str) -> None:
    error = project.get("error")
    if "vulnerabilities" in project or error is None:
        return
    error_path = child_path(path, "error")
    if not isinstance(error, str):
        raise broken(error_path, f"expected a string, got {json_type(error)}")
    tested = optional_text(project, "path", path)
    what = f"Snyk could not test {tested!r}" if tested else "Snyk could not test this project"
    shown = error if is_text(error) else NOT_TEXT
    raise broken(error_path, f"{what}, so the report is incomplete: {shown[:300]}")


def _project_findings(project: dict[str, Any], path: str) -> list[Finding]:
    location = _location(project, path)
    findings: list[Finding] = []
    for entry_path, entry in object_list(project, "vulnerabilities", path):
        if optional_text(entry, "type", entry_path) == _LICENSE_ISSUE:
            continue
        findings.append(_vulnerability(entry, entry_path, location))
    return findings


def _vulnerability(entry: dict[str, Any], path: str, location: str | None) -> Finding:
    return Finding(
        kind=FindingKind.VULNERABILITY,
        finding_id=required_text(entry, "id", path),
        severity=Severity.parse(optional_text(entry, "severity", path)),
        title=optional_text(entry, "title", path),
        package=_package(entry, path),
        installed_version=optional_text(entry, "version", path),
        fixed_version=", ".join(text_list(entry, "fixedIn", path)) or None,
        location=location,
        cvss_score=optional_score(entry, "cvssScore", path),
        detail=_dependency_path(entry, path),
    )


def _package(entry: dict[str, Any], path: str) -> str | None:
    """`packageName`; else `name`, which `--group-issues` turns into a list of names."""
    package = optional_text(entry, "packageName", path)
    if package is not None:
        return package
    if isinstance(entry.get("name"), list):
        return ", ".join(dict.fromkeys(text_list(entry, "name", path))) or None
    return optional_text(entry, "name", path)


def _dependency_path(entry: dict[str, Any], path: str) -> str | None:
    """`from[1:]` joined with " > "; None for a `--group-issues` entry, whose `from` is a list of paths."""
    steps = list_field(entry, "from", path)
    from_path = child_path(path, "from")
    if any(isinstance(step, list) for step in steps):
        for index, grouped in enumerate(steps):
            _texts(grouped, f"{from_path}[{index}]")
        return None
    return PATH_SEPARATOR.join(_texts(steps, from_path)[1:]) or None


def _texts(value: Any, path: str) -> list[str]:
    """The non-empty strings of a list that is not under a key of its own (text_list needs one)."""
    if not isinstance(value, list):
        raise broken(path, f"expected a list, got {json_type(value)}")
    texts: list[str] = []
    for index, item in enumerate(value):
        if not isinstance(item, str):
            raise broken(f"{path}[{index}]", f"expected a string, got {json_type(item)}")
        if not is_text(item):
            raise broken(f"{path}[{index}]", NOT_TEXT)
        if item:
            texts.append(item)
    return texts


def _location(project: dict[str, Any], path: str) -> str | None:
    if _is_image_project(project):
        return None
    return optional_text(project, "displayTargetFile", path) or optional_text(project, "targetFile", path)


def _is_image_project(project: dict[str, Any]) -> bool:
    name = project.get("projectName")
    return isinstance(name, str) and name.startswith(IMAGE_PROJECT_PREFIX)


# --- the image --------------------------------------------------------------------------------------


def _project_image(project: dict[str, Any], path: str) -> ImageRef | None:
    target = optional_text(project, "path", path)
    if target is not None:
        if looks_like_archive_path(target):
            return None
        image = parse_image_reference_or_none(target)
        if image is not None:
            return image
    if not _is_image_project(project):
        return None
    return _image_of_root(project, path)


def _image_of_root(project: dict[str, Any], path: str) -> ImageRef | None:
    """`docker-image|name@tag` at the start of a dependency path, else `projectName` (no tag)."""
    roots = [
        steps[0]
        for entry_path, entry in object_list(project, "vulnerabilities", path)
        if (steps := list_field(entry, "from", entry_path)) and isinstance(steps[0], str)
    ]
    for root in roots:
        if root.startswith(IMAGE_PROJECT_PREFIX) and (image := _image_of_name_at_version(root)):
            return image
    name = optional_text(project, "projectName", path) or ""
    return parse_image_reference_or_none(name.removeprefix(IMAGE_PROJECT_PREFIX))


def _image_of_name_at_version(root: str) -> ImageRef | None:
    name, at, version = root.removeprefix(IMAGE_PROJECT_PREFIX).rpartition("@")
    if not at:
        return parse_image_reference_or_none(version)
    if digest_of_repo_digest(root) is not None:
        return parse_image_reference_or_none(f"{name}@{version}")
    return parse_image_reference_or_none(f"{name}:{version}")


def _one_image(images: list[tuple[str, ImageRef]]) -> ImageRef | None:
    """The image all projects name; refuses a report of several (one report is one image)."""
    if not images:
        return None
    _, merged = images[0]
    for path, image in images[1:]:
        combined = _combined(merged, image)
        if combined is None:
            raise broken(
                path,
                f"the report covers more than one image ({merged.reference} and {image.reference}); "
                "a report must be of one image, so send one report per image",
            )
        merged = combined
    return merged


def _combined(first: ImageRef, second: ImageRef) -> ImageRef | None:
    """The two as one image when they agree (a missing tag or digest agrees with any), else None."""
    if first.name != second.name:
        return None
    if first.tag and second.tag and first.tag != second.tag:
        return None
    if first.digest and second.digest and first.digest != second.digest:
        return None
    return replace(first, tag=first.tag or second.tag, digest=first.digest or second.digest)
