"""Image references: Docker's normalization, the grammar's refusals, and a stable digest-based id."""

from __future__ import annotations

import hashlib

import pytest

from riskgate.domain.errors import InvalidInput
from riskgate.domain.images import (
    ImageRef,
    looks_like_archive_path,
    parse_image_reference,
    parse_image_reference_or_none,
    with_repo_digest,
)

DIGEST = "sha256:" + "a" * 64
OTHER_DIGEST = "sha256:" + "b" * 64


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("alpine", "docker.io/library/alpine:latest"),
        ("alpine:3.10", "docker.io/library/alpine:3.10"),
        ("library/alpine", "docker.io/library/alpine:latest"),
        ("keycloak/keycloak:21.0.2", "docker.io/keycloak/keycloak:21.0.2"),
        ("docker.io/alpine", "docker.io/library/alpine:latest"),
        ("index.docker.io/library/nginx", "docker.io/library/nginx:latest"),
        ("registry-1.docker.io/nginx:1.25", "docker.io/library/nginx:1.25"),
        ("ghcr.io/org/app:1.2", "ghcr.io/org/app:1.2"),
        ("GHCR.io/org/app:1.2", "ghcr.io/org/app:1.2"),
        ("localhost/app", "localhost/app:latest"),
        ("localhost:5000/app", "localhost:5000/app:latest"),
        ("localhost:5000/team/app:v1_rc.2", "localhost:5000/team/app:v1_rc.2"),
        (
            "123456789012.dkr.ecr.eu-west-1.amazonaws.com/svc:prod",
            "123456789012.dkr.ecr.eu-west-1.amazonaws.com/svc:prod",
        ),
        ("[::1]:5000/app", "[::1]:5000/app:latest"),
        ("my-app", "docker.io/library/my-app:latest"),
        ("a__b/c.d-e---f", "docker.io/a__b/c.d-e---f:latest"),
        (f"alpine@{DIGEST}", f"docker.io/library/alpine@{DIGEST}"),
        (f"alpine:3.10@{DIGEST}", f"docker.io/library/alpine:3.10@{DIGEST}"),
        (f"localhost:5000/app@{DIGEST}", f"localhost:5000/app@{DIGEST}"),
        ("alpine@sha512:" + "c" * 128, "docker.io/library/alpine@sha512:" + "c" * 128),
    ],
)
def test_references_are_normalized_as_docker_does(text: str, expected: str) -> None:
    # Given a reference as a user or a scanner writes it
    # When it is parsed
    image = parse_image_reference(text)
    # Then it reads in Docker's normalized form
    assert image.reference == expected


def test_parts_of_a_full_reference() -> None:
    # Given a reference with registry, namespace, tag and digest
    image = parse_image_reference(f"ghcr.io/org/team/app:1.2@{DIGEST}")
    # Then each part is where it belongs
    assert image == ImageRef(registry="ghcr.io", repository="org/team/app", tag="1.2", digest=DIGEST)
    assert image.name == "ghcr.io/org/team/app"


def test_a_digest_without_a_tag_does_not_invent_latest() -> None:
    image = parse_image_reference(f"alpine@{DIGEST}")
    assert image.tag is None
    assert image.digest == DIGEST


def test_a_colon_before_a_slash_is_a_port_not_a_tag() -> None:
    image = parse_image_reference("registry.local:5000/app")
    assert (image.registry, image.repository, image.tag) == ("registry.local:5000", "app", "latest")


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", "empty"),
        ("Alpine", "must be lowercase"),
        ("ghcr.io/Org/App:1", "must be lowercase"),
        ("alpine latest", "whitespace"),
        (" alpine", "whitespace"),
        ("alpine@sha256:abc", "64 lowercase hex"),
        ("alpine@sha256:" + "A" * 64, "64 lowercase hex"),
        ("alpine@md5", "algorithm:hex"),
        ("alpine@", "algorithm:hex"),
        ("alpine:", "tag"),
        ("alpine:-bad", "tag"),
        ("alpine:" + "t" * 129, "tag"),
        ("ghcr.io/", "repository name is missing"),
        (":tag", "repository name is missing"),
        ("app//x", "must be '/'-separated"),
        ("-app", "must be '/'-separated"),
        ("app_", "must be '/'-separated"),
        ("bad_host.io/app", "registry"),
        ("x/" * 130 + "y", "longer than 255"),
    ],
)
def test_invalid_references_are_refused_naming_the_reference(text: str, problem: str) -> None:
    # When an invalid reference is parsed
    with pytest.raises(InvalidInput) as raised:
        parse_image_reference(text)
    # Then the message says what is wrong and, when there is one, shows the reference
    assert problem in raised.value.message
    if text:
        assert text[:40] in raised.value.message


def test_image_id_is_derived_from_the_digest_when_known() -> None:
    # Given the same image pulled by two tags with the same digest
    by_one_tag = parse_image_reference(f"app:1.0@{DIGEST}")
    by_another_tag = parse_image_reference(f"app:stable@{DIGEST}")
    # Then both have the same id, documented as sha256 over registry/repository@digest
    expected = "img-" + hashlib.sha256(f"docker.io/library/app@{DIGEST}".encode()).hexdigest()[:20]
    assert by_one_tag.image_id == by_another_tag.image_id == expected
    assert parse_image_reference(f"app:1.0@{OTHER_DIGEST}").image_id != expected


def test_image_id_without_a_digest_comes_from_the_tag_and_is_stable() -> None:
    expected = "img-" + hashlib.sha256(b"docker.io/library/alpine:latest").hexdigest()[:20]
    assert parse_image_reference("alpine").image_id == expected
    assert parse_image_reference("docker.io/library/alpine:latest").image_id == expected
    assert parse_image_reference("alpine:3.10").image_id != expected
    assert len(expected) == len("img-") + 20


@pytest.mark.parametrize(
    "text",
    [
        "testdata/fixtures/images/alpine-310.tar.gz",
        "/tmp/image.tar",
        "./image.tgz",
        "../out/image.tar",
        "image.TAR",
        "docker-archive:/tmp/x.tar",
        "oci-dir:./layout",
        "dir:.",
        "C:\\images\\app.tar",
    ],
)
def test_archive_and_directory_paths_are_not_image_names(text: str) -> None:
    assert looks_like_archive_path(text)
    assert parse_image_reference_or_none(text) is None


@pytest.mark.parametrize("text", ["alpine:3.10", "ghcr.io/org/app:1.2", "localhost:5000/app"])
def test_image_names_are_not_archive_paths(text: str) -> None:
    assert not looks_like_archive_path(text)


def test_unusable_names_from_reports_give_no_image() -> None:
    assert parse_image_reference_or_none("REDACTED") is None
    assert parse_image_reference_or_none(None) is None
    assert parse_image_reference_or_none(42) is None


def test_repo_digest_of_the_same_repository_is_preferred() -> None:
    # Given a tag reference and RepoDigests of two repositories
    image = parse_image_reference("ghcr.io/org/app:1.0")
    repo_digests = [f"docker.io/org/app@{OTHER_DIGEST}", f"ghcr.io/org/app@{DIGEST}"]
    # When the digest is added
    completed = with_repo_digest(image, repo_digests)
    # Then it is the one of the same repository, and the tag stays
    assert completed == ImageRef("ghcr.io", "org/app", "1.0", DIGEST)


def test_repo_digest_alone_names_the_image() -> None:
    assert with_repo_digest(None, ["junk", f"alpine@{DIGEST}"]) == ImageRef(
        "docker.io", "library/alpine", None, DIGEST
    )
    assert with_repo_digest(None, ["REDACTED"]) is None
