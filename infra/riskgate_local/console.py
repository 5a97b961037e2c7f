"""The console (`console/dist`, built by `make console`) on the API's origin, as CloudFront serves it
deployed: the same files, the same security headers, the same fallback to `index.html` for the app's
own page URLs.

The gateway hands this route every GET and HEAD outside `/v1` and `/_local/` (RestApiGateway `site`).
Files are read per request, so a rebuild shows without restarting `make run`.
"""

from __future__ import annotations

import gzip
import mimetypes
import re
import uuid
from collections.abc import Mapping
from pathlib import Path

from riskgate_local.gateway import HttpRequest, HttpResponse, LocalRoute

REPO_ROOT = Path(__file__).resolve().parents[2]
CONSOLE_DIST = REPO_ROOT / "console" / "dist"
ASSETS_PREFIX = "/assets/"
INDEX = "index.html"
# A file at the root (`/index.html`, `/favicon.ico`); any other path is one of the app's pages, whatever
# dots it holds further down (`/images/…`).
ROOT_FILE = re.compile(r"/[^/]+\.[^/]+")

# What the deployed console's CloudFront response headers policy sets (riskgate_infra.constructs.console)
# — but HSTS, which a browser ignores over the local stack's plain http.
SECURITY_HEADERS: tuple[tuple[str, str], ...] = (
    (
        "Content-Security-Policy",
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
        "frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
    ),
    ("X-Frame-Options", "DENY"),
    ("Referrer-Policy", "no-referrer"),
    ("X-Content-Type-Options", "nosniff"),
)
# Asset names carry their content's hash: a changed file is a new name, so the old one may be kept a year.
IMMUTABLE = "public, max-age=31536000, immutable"
# index.html names the current assets: always revalidated.
REVALIDATE = "no-cache"

CONTENT_TYPES: Mapping[str, str] = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".svg": "image/svg+xml",
}


def _header(request: HttpRequest, name: str) -> str:
    return ", ".join(value for header, value in request.headers if header.lower() == name.lower())


def _answer(status: int, body: bytes, content_type: str, cache: str, request: HttpRequest) -> HttpResponse:
    headers = [
        ("Content-Type", content_type),
        ("Cache-Control", cache),
        ("x-amzn-RequestId", str(uuid.uuid4())),
        *SECURITY_HEADERS,
    ]
    if content_type.split(";")[0] in ("text/html", "text/javascript", "text/css", "application/json"):
        headers.append(("Vary", "Accept-Encoding"))
        if len(body) > 1024 and "gzip" in _header(request, "Accept-Encoding").lower():
            body = gzip.compress(body, compresslevel=6, mtime=0)
            headers.append(("Content-Encoding", "gzip"))
    return HttpResponse(status=status, headers=headers, body=body)


def _text(status: int, message: str, request: HttpRequest) -> HttpResponse:
    return _answer(status, message.encode("utf-8"), "text/plain; charset=utf-8", "no-store", request)


def _file(directory: Path, name: str) -> Path | None:
    """`name` in `directory` itself: no traversal, no subdirectory, nothing hidden."""
    if not name or "/" in name or name.startswith("."):
        return None
    candidate = (directory / name).resolve()
    return candidate if candidate.parent == directory and candidate.is_file() else None


def console_site(dist: Path = CONSOLE_DIST) -> LocalRoute:
    """GET/HEAD of the console, split as the deployed viewer-request function splits it: `/assets/<name>`
    (hashed, cached a year) and a root file with a dot in its name (`/index.html`) are files, 404 when
    missing; any other path is a page of the app and gets index.html. 503 while the console is not built."""
    root = dist.resolve()

    def route(request: HttpRequest) -> HttpResponse:
        path = request.target.partition("?")[0]
        index = root / INDEX
        if not index.is_file():
            return _text(
                503, "The console is not built: run `make console` (`make run` builds it).\n", request
            )
        if path.startswith(ASSETS_PREFIX):
            found, cache = _file(root / "assets", path.removeprefix(ASSETS_PREFIX)), IMMUTABLE
        elif ROOT_FILE.fullmatch(path):
            found, cache = _file(root, path.removeprefix("/")), REVALIDATE
        else:
            found, cache = index, REVALIDATE
        if found is None:
            return _text(404, "No such file.\n", request)
        content_type = CONTENT_TYPES.get(found.suffix) or (
            mimetypes.guess_type(found.name)[0] or "application/octet-stream"
        )
        return _answer(200, found.read_bytes(), content_type, cache, request)

    return route
