"""The console on the local gateway: index.html for the app's page URLs, hashed assets cached for a year,
the deployed security headers on every answer — and the API and local routes untouched."""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

import pytest

from riskgate_local.console import SECURITY_HEADERS, console_site
from riskgate_local.gateway import LOCAL_OUTBOX_ROUTE, HttpRequest, HttpResponse, RestApiGateway, outbox_route
from riskgate_local.lambdas import LocalFunction

INDEX = (
    b'<!doctype html><html><head><script type="module" src="/assets/console-AB12.js"></script></head></html>'
)
SCRIPT = b"console.log('riskgate');" * 100


def api(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return {"statusCode": 200, "headers": {"Content-Type": "application/json"}, "body": '{"api": true}'}


def allow(event: dict[str, Any], context: Any) -> dict[str, Any]:
    arn = event["methodArn"].split("/", 1)[0]
    return {
        "principalId": "admin",
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [{"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": f"{arn}/*/*"}],
        },
    }


def gateway_for(dist: Path) -> RestApiGateway:
    return RestApiGateway(
        LocalFunction("api", api, timeout_seconds=29),
        LocalFunction("authorizer", allow, timeout_seconds=10),
        local_routes={LOCAL_OUTBOX_ROUTE: outbox_route(list)},
        site=console_site(dist),
    )


def get(gateway: RestApiGateway, target: str, method: str = "GET", **headers: str) -> HttpResponse:
    return gateway.handle(
        HttpRequest(
            method=method, target=target, headers=list(headers.items()), body=b"", source_ip="127.0.0.1"
        )
    )


def header(response: HttpResponse, name: str) -> str | None:
    return next((value for key, value in response.headers if key.lower() == name.lower()), None)


@pytest.fixture
def dist(tmp_path: Path) -> Path:
    (tmp_path / "assets").mkdir()
    (tmp_path / "index.html").write_bytes(INDEX)
    (tmp_path / "assets" / "console-AB12.js").write_bytes(SCRIPT)
    (tmp_path / "secret.txt").write_text("not served")
    return tmp_path


@pytest.mark.parametrize(
    "target",
    ["/", "/index.html", "/images", "/images/img-1?status=compliant", "/images/ghcr.io%2Fa:1.2", "/audit"],
)
def test_the_apps_page_urls_answer_index_html_with_the_security_headers(dist: Path, target: str) -> None:
    response = get(gateway_for(dist), target)

    assert response.status == 200
    assert response.body == INDEX
    assert header(response, "Content-Type") == "text/html; charset=utf-8"
    assert header(response, "Cache-Control") == "no-cache"
    for name, value in SECURITY_HEADERS:
        assert header(response, name) == value
    assert "'unsafe-inline'" not in (header(response, "Content-Security-Policy") or "")


def test_a_hashed_asset_is_cached_for_a_year_and_compressed_when_asked(dist: Path) -> None:
    gateway = gateway_for(dist)

    plain = get(gateway, "/assets/console-AB12.js")
    compressed = get(gateway, "/assets/console-AB12.js", **{"Accept-Encoding": "gzip, br"})

    assert plain.status == compressed.status == 200
    assert plain.body == SCRIPT
    assert header(plain, "Content-Type") == "text/javascript; charset=utf-8"
    assert header(plain, "Cache-Control") == "public, max-age=31536000, immutable"
    assert header(compressed, "Content-Encoding") == "gzip"
    assert gzip.decompress(compressed.body) == SCRIPT
    assert header(plain, "X-Frame-Options") == "DENY"


@pytest.mark.parametrize(
    "target",
    [
        "/assets/console-ZZ.js",
        "/assets/../secret.txt",
        "/assets/%2e%2e/secret.txt",
        "/assets/",
        "/assets/.x",
        "/favicon.ico",
        "/.env.local",
    ],
)
def test_only_existing_files_are_served(dist: Path, target: str) -> None:
    response = get(gateway_for(dist), target)

    assert response.status == 404
    assert b"not served" not in response.body


def test_the_api_and_the_local_routes_stay_theirs(dist: Path) -> None:
    gateway = gateway_for(dist)

    assert get(gateway, "/v1/images", Authorization="Bearer rg_x").body == b'{"api": true}'
    assert get(gateway, "/v1/images").status == 401
    assert get(gateway, "/v1").status == 404
    assert get(gateway, "/_local/outbox").body == b'{"items": []}'
    assert get(gateway, "/_local/nothing").status == 404
    # Only reading is the console's: other methods outside the API get the gateway's 404
    assert get(gateway, "/images", method="POST").status == 404
    head = get(gateway, "/images/img-1", method="HEAD")
    assert head.status == 200


def test_before_a_build_the_console_says_how_to_build_it(tmp_path: Path) -> None:
    response = get(gateway_for(tmp_path / "missing"), "/")

    assert response.status == 503
    assert b"make console" in response.body


def test_without_a_site_nothing_changes(dist: Path) -> None:
    gateway = RestApiGateway(
        LocalFunction("api", api, timeout_seconds=29), LocalFunction("authorizer", allow, timeout_seconds=10)
    )

    assert get(gateway, "/").status == 404
