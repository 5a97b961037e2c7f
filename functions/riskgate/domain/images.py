"""Container image references, normalized the way Docker normalizes them. Plain data, no AWS.

The grammar is Docker's reference grammar (distribution/reference) with OCI digests:

    reference  := name [":" tag] ["@" digest]
    name       := [registry "/"] repository
    registry   := host [":" port]           (first component containing "." or ":", or "localhost")
    repository := component ("/" component)*, component := [a-z0-9]+ ((".", "_", "__", "-"+) [a-z0-9]+)*
    tag        := [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}
    digest     := algorithm ":" encoded     (sha256: 64 lowercase hex, sha512: 128)
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from riskgate.domain.errors import InvalidInput

DOCKER_HUB = "docker.io"
# Docker Hub answers to these names too; one spelling keeps one image_id per image.
_DOCKER_HUB_ALIASES = frozenset({"docker.io", "index.docker.io", "registry-1.docker.io"})
_OFFICIAL_IMAGES_NAMESPACE = "library"
DEFAULT_TAG = "latest"
# Docker rejects longer names (NameTotalLengthMax).
_MAX_NAME_LENGTH = 255

_PATH_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_REPOSITORY_RE = re.compile(rf"{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*")
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_HOST = rf"(?:{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*|\[[0-9a-fA-F:.]+\])"
_REGISTRY_RE = re.compile(rf"{_HOST}(?::[0-9]+)?")
_TAG_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
_DIGEST_ALGORITHM_RE = re.compile(r"[a-z0-9]+(?:[+._-][a-z0-9]+)*")
# Registered OCI algorithms have a fixed, lower-case hex encoding; others follow Docker's digest-hex.
_REGISTERED_DIGEST_LENGTHS = {"sha256": 64, "sha512": 128}
_LOWER_HEX_RE = re.compile(r"[a-f0-9]+")
_ANY_HEX_RE = re.compile(r"[0-9a-fA-F]{32,}")
_WHITESPACE_RE = re.compile(r"\s")

# Scanners report the thing they scanned; a tarball or a directory is not a pullable image.
_ARCHIVE_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".tar.xz", ".tar.zst", ".tar.bz2")
_PATH_PREFIXES = ("/", "./", "../", "~/", "\\")
_ARCHIVE_SCHEMES = ("docker-archive:", "oci-archive:", "oci-dir:", "dir:", "file:", "singularity:")
_WINDOWS_DRIVE_RE = re.compile(r"[a-zA-Z]:[\\/]")
# Keeps error messages readable when someone sends a megabyte where a name belongs.
_MAX_SHOWN = 200


@dataclass(frozen=True)
class ImageRef:
    registry: str
    repository: str
    tag: str | None
    digest: str | None

    @property
    def name(self) -> str:
        return f"{self.registry}/{self.repository}"

    @property
    def reference(self) -> str:
        tag = f":{self.tag}" if self.tag else ""
        digest = f"@{self.digest}" if self.digest else ""
        return f"{self.name}{tag}{digest}"

    @property
    def image_id(self) -> str:
        """Stable id: the digest identifies the image where known, else the tag does."""
        identity = f"{self.name}@{self.digest}" if self.digest else f"{self.name}:{self.tag or DEFAULT_TAG}"
        return "img-" + hashlib.sha256(identity.encode("utf-8")).hexdigest()[:20]


# Kubernetes resources as subjects of their own (issue 11): misconfigurations and secrets that belong to a
# workload, not to an image, are kept on a "workload" subject of the image-summary shape, so that scopes,
# policies, acceptances, verdicts and notifications apply to it unchanged (docs/architecture.md).
WORKLOAD_REGISTRY_PREFIX = "k8s://"
# The cluster a report does not name (Trivy Operator resources never do; `?cluster=` names it).
DEFAULT_CLUSTER = "default"
# Namespace part of a cluster-scoped resource (ClusterRole, Node, …).
CLUSTER_SCOPED = "_cluster"
_CLUSTER_UNSAFE_RE = re.compile(r"[^a-z0-9.-]+")
_EKS_CLUSTER_ARN_RE = re.compile(r"arn:aws[a-z-]*:eks:[^:]*:[0-9]*:cluster/(?P<name>.+)")
_MAX_CLUSTER_LENGTH = 100


def cluster_label(name: object) -> str:
    """A cluster name as the workload registry carries it: `k8s://<label>`.

    An EKS cluster ARN gives its name; anything else is lower-cased with every run of characters other than
    letters, digits, '.' and '-' made one '-'. No name (or `""`, which `trivy k8s` may write) → `default`.
    """
    if not isinstance(name, str):
        return DEFAULT_CLUSTER
    text = name.strip()
    arn = _EKS_CLUSTER_ARN_RE.fullmatch(text)
    if arn:
        text = arn.group("name")
    label = _CLUSTER_UNSAFE_RE.sub("-", text.lower()).strip("-.")[:_MAX_CLUSTER_LENGTH]
    return label or DEFAULT_CLUSTER


def workload_ref(cluster: object, namespace: str | None, kind: str, name: str) -> ImageRef:
    """The subject of a Kubernetes resource: registry `k8s://<cluster>`, repository
    `<namespace>/<kind>/<name>` (kind lower-cased; `_cluster` for cluster-scoped resources), no tag."""
    return ImageRef(
        registry=WORKLOAD_REGISTRY_PREFIX + cluster_label(cluster),
        repository=f"{namespace or CLUSTER_SCOPED}/{kind.lower()}/{name}",
        tag=None,
        digest=None,
    )


def is_workload(ref: ImageRef) -> bool:
    return ref.registry.startswith(WORKLOAD_REGISTRY_PREFIX)


def in_cluster(ref: ImageRef, cluster: str) -> ImageRef:
    """A workload subject moved to the named cluster (`?cluster=`); an image is returned as it is."""
    if not is_workload(ref):
        return ref
    return replace(ref, registry=WORKLOAD_REGISTRY_PREFIX + cluster_label(cluster))


def parse_image_reference(text: str) -> ImageRef:
    """`alpine` → docker.io/library/alpine:latest; raises InvalidInput naming what is wrong."""
    if not isinstance(text, str) or not text:
        raise InvalidInput("image reference is empty")
    if _WHITESPACE_RE.search(text):
        raise _invalid(text, "it contains whitespace")
    name_and_tag, at, digest = text.partition("@")
    if at and not _is_valid_digest(digest):
        raise _invalid(text, _digest_problem(digest))
    name, tag = _split_tag(name_and_tag)
    if tag is not None and not _TAG_RE.fullmatch(tag):
        raise _invalid(
            text,
            f"tag {tag!r} must be 1-128 letters, digits, '_', '.' or '-' and not start with '.' or '-'",
        )
    if not name:
        raise _invalid(text, "the repository name is missing")
    if len(name) > _MAX_NAME_LENGTH:
        raise _invalid(text, f"the name is longer than {_MAX_NAME_LENGTH} characters")
    registry, repository = _split_registry(name)
    if not repository:
        raise _invalid(text, "the repository name is missing")
    _check_registry(text, registry)
    _check_repository(text, repository)
    registry = _normalize_registry(registry)
    if registry == DOCKER_HUB and "/" not in repository:
        repository = f"{_OFFICIAL_IMAGES_NAMESPACE}/{repository}"
    if tag is None and not at:
        tag = DEFAULT_TAG
    return ImageRef(registry=registry, repository=repository, tag=tag, digest=digest if at else None)


def parse_image_reference_or_none(text: object) -> ImageRef | None:
    """For names read from reports: an unusable name means "no image known", not a bad request."""
    if not isinstance(text, str) or looks_like_archive_path(text):
        return None
    try:
        return parse_image_reference(text)
    except InvalidInput:
        return None


def looks_like_archive_path(text: str) -> bool:
    """True for what scanners report when they scanned a tarball, a directory or a file, not an image."""
    lowered = text.strip().lower()
    return (
        lowered.startswith(_PATH_PREFIXES)
        or lowered.endswith(_ARCHIVE_SUFFIXES)
        or lowered.startswith(_ARCHIVE_SCHEMES)
        or _WINDOWS_DRIVE_RE.match(lowered) is not None
    )


def is_digest(text: object) -> bool:
    return isinstance(text, str) and _is_valid_digest(text)


def digest_of_repo_digest(text: object) -> str | None:
    """`alpine@sha256:…` (a RepoDigests entry) → `sha256:…`, or None when there is no valid digest."""
    if not isinstance(text, str):
        return None
    _, at, digest = text.rpartition("@")
    return digest if at and _is_valid_digest(digest) else None


def with_repo_digest(image: ImageRef | None, repo_digests: list[str]) -> ImageRef | None:
    """Adds the digest scanners list separately (`RepoDigests`: `repo@sha256:…`) to a tag reference.

    The entry of the same repository is preferred; another repository's entry still names the same
    manifest. Without a name, the first parsable entry names the image itself (repository@digest).
    """
    candidates = [ref for text in repo_digests if (ref := parse_image_reference_or_none(text)) and ref.digest]
    if image is None:
        return candidates[0] if candidates else None
    if image.digest or not candidates:
        return image
    same_repository = [ref for ref in candidates if ref.name == image.name]
    return replace(image, digest=(same_repository or candidates)[0].digest)


def _split_tag(name_and_tag: str) -> tuple[str, str | None]:
    # The tag follows the last ':' unless a '/' comes after it: then the ':' was a registry port.
    colon = name_and_tag.rfind(":")
    if colon == -1 or "/" in name_and_tag[colon + 1 :]:
        return name_and_tag, None
    return name_and_tag[:colon], name_and_tag[colon + 1 :]


def _split_registry(name: str) -> tuple[str, str]:
    first, slash, rest = name.partition("/")
    if slash and ("." in first or ":" in first or first == "localhost"):
        return first, rest
    return DOCKER_HUB, name


def _normalize_registry(registry: str) -> str:
    # Host names are case-insensitive; one spelling gives one image_id.
    lowered = registry.lower()
    return DOCKER_HUB if lowered in _DOCKER_HUB_ALIASES else lowered


def _check_registry(text: str, registry: str) -> None:
    if not _REGISTRY_RE.fullmatch(registry):
        raise _invalid(text, f"registry {registry!r} is not a valid host[:port]")


def _check_repository(text: str, repository: str) -> None:
    if _REPOSITORY_RE.fullmatch(repository):
        return
    if _REPOSITORY_RE.fullmatch(repository.lower()):
        raise _invalid(text, f"repository {repository!r} must be lowercase")
    raise _invalid(
        text,
        f"repository {repository!r} must be '/'-separated components of lowercase letters and digits "
        "joined by '.', '_', '__' or '-'",
    )


def _is_valid_digest(digest: str) -> bool:
    algorithm, colon, encoded = digest.partition(":")
    if not colon or not _DIGEST_ALGORITHM_RE.fullmatch(algorithm):
        return False
    expected_length = _REGISTERED_DIGEST_LENGTHS.get(algorithm)
    if expected_length is not None:
        return len(encoded) == expected_length and _LOWER_HEX_RE.fullmatch(encoded) is not None
    return _ANY_HEX_RE.fullmatch(encoded) is not None


def _digest_problem(digest: str) -> str:
    algorithm = digest.partition(":")[0]
    if algorithm in _REGISTERED_DIGEST_LENGTHS:
        length = _REGISTERED_DIGEST_LENGTHS[algorithm]
        return f"digest {_shown(digest)} must be '{algorithm}:' followed by {length} lowercase hex characters"
    return f"digest {_shown(digest)} must be 'algorithm:hex', e.g. 'sha256:' followed by 64 hex characters"


def _invalid(text: str, reason: str) -> InvalidInput:
    return InvalidInput(f"invalid image reference {_shown(text)}: {reason}")


def _shown(text: str) -> str:
    return repr(text if len(text) <= _MAX_SHOWN else text[:_MAX_SHOWN] + "…")


def findings_scan_id(image: Mapping[str, Any]) -> str | None:
    """The scan whose partition holds an image summary's current findings: a re-scan that found the same
    shares an earlier scan's (riskgate.adapters.store); summaries written before that hold their current
    scan's."""
    found = image.get("current_findings_scan_id") or image.get("current_scan_id")
    return str(found) if found else None
