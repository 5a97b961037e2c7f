"""The API handler against a moto table: what a CI system and a security officer see."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from riskgate.handlers.api import handler
from riskgate.handlers.api.app import app, openapi_json
from riskgate.handlers.api.security import (
    CALLER_EXTENSION,
    CALLER_ROUTES,
    PERMISSION_EXTENSION,
    PUBLIC_EXTENSION,
)
from riskgate.resources import PUBLIC_ROUTES
from tests.support.events import FakeLambdaContext, api_event, response_json

CONTEXT = FakeLambdaContext()

CRITICAL_TRIVY = {
    "SchemaVersion": 2,
    "ArtifactName": "ghcr.io/acme/shop:1.4",
    "ArtifactType": "container_image",
    "Metadata": {
        "RepoTags": ["ghcr.io/acme/shop:1.4"],
        "RepoDigests": ["ghcr.io/acme/shop@sha256:" + "a" * 64],
    },
    "Results": [
        {
            "Target": "ghcr.io/acme/shop:1.4 (debian 12.5)",
            "Class": "os-pkgs",
            "Type": "debian",
            "Vulnerabilities": [
                {
                    "VulnerabilityID": "CVE-2024-0001",
                    "PkgName": "openssl",
                    "InstalledVersion": "3.0.11",
                    "FixedVersion": "3.0.13",
                    "Severity": "CRITICAL",
                },
                {
                    "VulnerabilityID": "CVE-2024-0002",
                    "PkgName": "zlib",
                    "InstalledVersion": "1.2.13",
                    "Severity": "LOW",
                },
            ],
        }
    ],
}
CLEAN_TRIVY = {
    **CRITICAL_TRIVY,
    "Results": [{"Target": "x (debian 12.5)", "Class": "os-pkgs", "Type": "debian"}],
}
# A report that names no image (a filesystem scan): the `image` parameter must say which one it was.
NAMELESS_CLEAN = {**CLEAN_TRIVY, "ArtifactName": "./app", "ArtifactType": "filesystem", "Metadata": {}}


def call(event: dict[str, Any]) -> tuple[int, Any]:
    response = handler(event, CONTEXT)
    body = response_json(response) if response.get("body") else None
    return response["statusCode"], body


def post_report(report: Any, **kwargs: Any) -> tuple[int, Any]:
    body = report if isinstance(report, bytes | str) else json.dumps(report)
    return call(api_event("POST", "/v1/scans", body=body, **kwargs))


def assert_error(body: Any, code: str | None = None) -> None:
    assert set(body) == {"error"}
    assert {"code", "message", "details"} <= set(body["error"])
    assert body["error"]["message"]
    if code:
        assert body["error"]["code"] == code


def test_every_route_declares_its_permission_or_is_public() -> None:
    # Given the OpenAPI document generated from the code
    document = json.loads(openapi_json())
    # Then every operation carries a permission, unless it is one of the public routes or tells the
    # caller about themselves
    public = {(method, path) for method, path in PUBLIC_ROUTES}
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            if (method.upper(), path) in public:
                assert operation.get(PUBLIC_EXTENSION) is True, (method, path)
            elif (method.upper(), path) in CALLER_ROUTES:
                assert operation.get(CALLER_EXTENSION) is True, (method, path)
                assert PERMISSION_EXTENSION not in operation, (method, path)
                assert operation.get("security") == [{"bearerAuth": []}]
            else:
                assert operation.get(PERMISSION_EXTENSION), f"{method.upper()} {path} declares no permission"
                assert operation.get("security") == [{"bearerAuth": []}]
    assert len(document["paths"]) >= 6


def test_health_and_documents_answer_without_token(dynamodb: Any) -> None:
    assert call(api_event("GET", "/v1/health", authorized=False)) == (200, {"status": "ok"})
    status, document = call(api_event("GET", "/v1/openapi.json", authorized=False))
    assert status == 200
    assert "/v1/scans" in document["paths"]
    response = handler(api_event("GET", "/v1/docs", authorized=False), CONTEXT)
    assert response["statusCode"] == 200
    assert "swagger" in response["body"].lower()


def test_routes_refuse_a_request_without_authorizer_context(dynamodb: Any) -> None:
    status, body = call(api_event("GET", "/v1/images", authorized=False))
    assert status == 401
    assert_error(body, "unauthorized")


def test_a_caller_without_the_permission_gets_403(dynamodb: Any) -> None:
    # Given a developer: may read images but not submit scans
    developer = [{"role": "developer", "scope": "global"}]
    status, body = post_report(CRITICAL_TRIVY, role_bindings=developer)
    assert status == 403
    assert_error(body, "forbidden")
    assert "scans:write" in body["error"]["message"]
    assert call(api_event("GET", "/v1/images", role_bindings=developer))[0] == 200


def test_post_scan_stores_it_and_answers_with_the_verdict(dynamodb: Any) -> None:
    status, body = post_report(CRITICAL_TRIVY)
    assert status == 201
    assert body["format"] == "trivy"
    assert body["image"]["reference"] == "ghcr.io/acme/shop:1.4@sha256:" + "a" * 64
    assert body["counts"]["vulnerabilities"] == {
        "critical": 1,
        "high": 0,
        "medium": 0,
        "low": 1,
        "negligible": 0,
        "unknown": 0,
    }
    assert body["counts"]["sensitive_data"] == 0
    assert body["verdict"]["status"] == "non_compliant"
    assert body["verdict"]["block"] is True
    reason = body["verdict"]["reasons"][0]
    assert reason["condition"] == "severity_at_least"
    assert reason["findings"][0]["id"] == "CVE-2024-0001"

    # The image, its findings and its scan can be read back
    status, image = call(api_event("GET", f"/v1/images/{body['image_id']}"))
    assert status == 200
    assert image["status"] == "non_compliant"
    assert image["tags"] == ["1.4"]
    assert image["counts"] == body["counts"]
    status, findings = call(api_event("GET", f"/v1/images/{body['image_id']}/findings"))
    assert [f["id"] for f in findings["items"]] == ["CVE-2024-0001", "CVE-2024-0002"]
    assert findings["items"][0]["fixable"] is True
    assert findings["items"][0]["fixed_version"] == "3.0.13"
    status, scans = call(api_event("GET", f"/v1/images/{body['image_id']}/scans"))
    assert [s["scan_id"] for s in scans["items"]] == [body["scan_id"]]


def test_findings_filter_by_kind_severity_and_fixable(dynamodb: Any) -> None:
    _, body = post_report(CRITICAL_TRIVY)
    path = f"/v1/images/{body['image_id']}/findings"
    _, critical = call(api_event("GET", path, query={"severity": "critical"}))
    assert [f["id"] for f in critical["items"]] == ["CVE-2024-0001"]
    _, unfixable = call(api_event("GET", path, query={"fixable": "false"}))
    assert [f["id"] for f in unfixable["items"]] == ["CVE-2024-0002"]
    _, secrets = call(api_event("GET", path, query={"kind": "sensitive_data"}))
    assert secrets["items"] == []
    status, body = call(api_event("GET", path, query={"severity": "catastrophic"}))
    assert status == 422
    assert_error(body, "invalid_request")
    assert "severity" in body["error"]["message"]


def test_a_new_scan_replaces_the_current_findings_and_keeps_history(dynamodb: Any) -> None:
    _, first = post_report(CRITICAL_TRIVY)
    status, second = post_report(CLEAN_TRIVY)
    assert status == 201
    assert second["image_id"] == first["image_id"]
    assert second["verdict"] == {"status": "compliant", "block": False, "reasons": [], "dry_run": []}
    _, image = call(api_event("GET", f"/v1/images/{first['image_id']}"))
    assert image["status"] == "compliant"
    assert image["current_scan_id"] == second["scan_id"]
    _, findings = call(api_event("GET", f"/v1/images/{first['image_id']}/findings"))
    assert findings["items"] == []
    _, scans = call(api_event("GET", f"/v1/images/{first['image_id']}/scans"))
    assert [s["scan_id"] for s in scans["items"]] == [second["scan_id"], first["scan_id"]]
    # The investigation view follows the current findings only
    _, affected = call(api_event("GET", "/v1/vulnerabilities/CVE-2024-0001/images"))
    assert affected["items"] == []


def test_images_with_a_vulnerability(dynamodb: Any) -> None:
    _, body = post_report(CRITICAL_TRIVY)
    status, affected = call(api_event("GET", "/v1/vulnerabilities/CVE-2024-0001/images"))
    assert status == 200
    assert affected["items"] == [
        {
            "image_id": body["image_id"],
            "registry": "ghcr.io",
            "repository": "acme/shop",
            "tags": ["1.4"],
            "digest": "sha256:" + "a" * 64,
            "status": "non_compliant",
            "package": "openssl",
            "installed_version": "3.0.11",
            "fixed_version": "3.0.13",
            "fixable": True,
            "location": affected["items"][0]["location"],
            "severity": "critical",
            "accepted": None,
        }
    ]


def test_list_images_filters_and_paginates(dynamodb: Any) -> None:
    for tag in ("1", "2", "3"):
        post_report(NAMELESS_CLEAN, query={"image": f"ghcr.io/acme/api:{tag}"})
    post_report(NAMELESS_CLEAN, query={"image": "alpine:3.19"})
    _, everything = call(api_event("GET", "/v1/images"))
    assert len(everything["items"]) == 4
    _, docker = call(api_event("GET", "/v1/images", query={"registry": "docker.io"}))
    assert [i["repository"] for i in docker["items"]] == ["library/alpine"]
    seen: list[str] = []
    query = {"repository": "acme/api", "limit": "2"}
    while True:
        status, page = call(api_event("GET", "/v1/images", query=query))
        assert status == 200
        seen += [i["tags"][0] for i in page["items"]]
        if not page["next_token"]:
            break
        query = {**query, "next_token": page["next_token"]}
    assert sorted(seen) == ["1", "2", "3"]
    status, body = call(api_event("GET", "/v1/images", query={"next_token": "garbage!"}))
    assert status == 400
    assert_error(body, "malformed_request")


def test_image_parameter_supplies_the_name(dynamodb: Any) -> None:
    report = NAMELESS_CLEAN
    status, body = post_report(report)
    assert status == 422
    assert_error(body)
    assert "image" in body["error"]["message"]
    status, body = post_report(report, query={"image": "registry.example.com:5000/team/app"})
    assert status == 201
    assert body["image"] == {
        "registry": "registry.example.com:5000",
        "repository": "team/app",
        "tag": "latest",
        "digest": None,
        "reference": "registry.example.com:5000/team/app:latest",
    }


@pytest.mark.parametrize(
    ("body", "headers", "status", "code"),
    [
        (b"{not json", {}, 400, "malformed_request"),
        (b"", {}, 400, "malformed_request"),
        (b"\x1f\x8b\x08\x00broken", {"Content-Encoding": "gzip"}, 400, "malformed_request"),
        (b'{"hello": "world"}', {}, 422, "unsupported_format"),
        (b'{"apiVersion": "aquasecurity.github.io/v1alpha1", "kind": "X"}', {}, 422, "unsupported_format"),
        (b'{"version": "2.1.0", "runs": []}', {}, 422, "image_unknown"),  # SARIF naming no image
        (b"42", {}, 422, "unsupported_format"),
    ],
)
def test_bad_reports_get_a_clear_4xx_and_store_nothing(
    dynamodb: Any, body: bytes, headers: dict[str, str], status: int, code: str
) -> None:
    got_status, got = call(api_event("POST", "/v1/scans", body=body, headers=headers))
    assert got_status == status
    assert_error(got, code)
    _, images = call(api_event("GET", "/v1/images"))
    assert images["items"] == []


def test_unsupported_format_names_the_supported_ones(dynamodb: Any) -> None:
    _, body = post_report({"hello": "world"})
    message = body["error"]["message"]
    for name in ("Trivy", "Grype", "CycloneDX"):
        assert name in message


def test_report_over_the_limit_is_413(dynamodb: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from riskgate.settings import get_settings

    monkeypatch.setenv("RISKGATE_MAX_REPORT_BYTES", "1000")
    get_settings.cache_clear()
    try:
        status, body = post_report(json.dumps(CRITICAL_TRIVY) + " " * 2000)
    finally:
        get_settings.cache_clear()
    assert status == 413
    assert_error(body, "payload_too_large")
    assert "1000" in body["error"]["message"] or "limit" in body["error"]["message"]


def test_gzip_body_with_bom_and_crlf(dynamodb: Any) -> None:
    text = "\ufeff" + json.dumps(CRITICAL_TRIVY, indent=2).replace("\n", "\r\n")
    status, body = call(api_event("POST", "/v1/scans", body=text.encode("utf-8"), gzip_body=True))
    assert status == 201
    assert body["counts"]["vulnerabilities"]["critical"] == 1


def test_unknown_image_and_route_are_404(dynamodb: Any) -> None:
    status, body = call(api_event("GET", "/v1/images/img-0123456789abcdef0123"))
    assert status == 404
    assert_error(body, "not_found")
    status, body = call(api_event("GET", "/v1/nothing-here"))
    assert status == 404
    assert_error(body, "not_found")


def test_fixture_report_through_the_api(dynamodb: Any, scanner_fixtures: Path) -> None:
    report = (scanner_fixtures / "grype" / "explain_keycloak.json").read_bytes()
    status, body = post_report(report)
    assert status == 201
    assert body["format"] == "grype"
    assert body["image"]["repository"] == "keycloak/keycloak"
    assert body["counts"]["vulnerabilities"]["low"] == 6
    assert body["verdict"]["status"] == "compliant"


def test_resolver_has_no_route_outside_v1() -> None:
    document = json.loads(openapi_json())
    assert all(path.startswith("/v1/") for path in document["paths"])
    assert app is not None


def test_a_retried_post_with_the_same_idempotency_key_stores_one_scan(dynamodb: Any) -> None:
    # Given a CI job that retries its upload after a timeout, with one Idempotency-Key
    headers = {"Idempotency-Key": "build-4711-upload"}
    status, first = post_report(CRITICAL_TRIVY, headers=headers)
    assert status == 201
    status, again = post_report(CRITICAL_TRIVY, headers=headers)
    # Then it gets the first answer back, and there is one scan
    assert status == 201
    assert again == first
    _, scans = call(api_event("GET", f"/v1/images/{first['image_id']}/scans"))
    assert [s["scan_id"] for s in scans["items"]] == [first["scan_id"]]
    # A different report under the same key is refused, naming the header
    status, body = post_report(CLEAN_TRIVY, headers=headers)
    assert status == 422
    assert_error(body, "invalid_request")
    assert "Idempotency-Key" in body["error"]["message"]
    # Without a key, or with another key, each POST is a new scan
    _, other = post_report(CRITICAL_TRIVY, headers={"Idempotency-Key": "build-4712-upload"})
    _, unkeyed = post_report(CRITICAL_TRIVY)
    assert len({first["scan_id"], other["scan_id"], unkeyed["scan_id"]}) == 3


def test_idempotency_keys_are_per_caller(dynamodb: Any) -> None:
    headers = {"Idempotency-Key": "same-key"}
    _, admin = post_report(CRITICAL_TRIVY, headers=headers)
    ci_event = api_event(
        "POST",
        "/v1/scans",
        body=json.dumps(CRITICAL_TRIVY),
        headers=headers,
        role_bindings=[{"role": "ci_pipeline", "scope": "global"}],
    )
    ci_event["requestContext"]["authorizer"]["user_id"] = "ci-bot"
    status, ci = call(ci_event)
    assert status == 201
    assert ci["scan_id"] != admin["scan_id"]


def test_json_bodies_are_read_as_json_whatever_the_content_type(dynamodb: Any) -> None:
    # `curl -d '{...}'` sends Content-Type: application/x-www-form-urlencoded
    event = api_event(
        "POST",
        "/v1/roles",
        body=json.dumps({"name": "readers", "permissions": ["images:read"]}),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    status, body = call(event)
    assert status == 201, body
    assert body["name"] == "readers"
