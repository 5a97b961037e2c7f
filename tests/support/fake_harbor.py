"""A small fake Harbor (v2.0 API) on a loopback port, for the tests of anything that reads Harbor — and
for a person trying Harbor webhooks against `make run` (README): `python -m tests.support.fake_harbor
--port 5010 PROJECT/REPOSITORY@DIGEST REPORT.json` serves that report until Ctrl-C.

    with FakeHarbor() as harbor:                       # started on 127.0.0.1:<free port>, stopped after
        harbor.set_report("test", "alpine/helm", "sha256:b5…", report)     # a dict (JSON) or raw bytes
        harbor.add_artifact("test", "alpine/helm", {"digest": "sha256:b5…", "tags": [...]})
        harbor.answer_next(500, times=2)               # the next two requests get 500, whatever they ask
        client = HarborClient(harbor.url, harbor.robot_name, harbor.robot_secret,
                              insecure_hosts=harbor.insecure_hosts)
        ...
        harbor.requests[-1].path                       # as sent: `…/alpine%252Fhelm/…`
        harbor.requests[-1].header("X-Accept-Vulnerabilities")

What it serves, as Harbor does:

- `GET /api/v2.0/projects/{project}/repositories/{repository}/artifacts/{reference}/additions/
  vulnerabilities`: the report set for (project, repository, reference), else 404;
- `GET /api/v2.0/projects`, `…/projects/{project}/repositories` (names `project/repository`),
  `…/repositories/{repository}/artifacts`: the catalogue made by `add_project` / `add_artifact`, paged by
  `page` / `page_size` (Harbor's default 10) with `X-Total-Count`; an unknown project or repository is 404.

The path is decoded once before it is routed, as Harbor's proxy does, and the repository segment once
more: so a nested repository is found only when its name was URL-encoded twice (`alpine%252Fhelm`), and
a single encoding (`alpine%2Fhelm`) is the 404 real Harbor gives. Every request must carry basic auth
with the robot's name and secret (else 401, with Harbor's error body), except those `answer_next` or
`stall_next` answer. Every request is recorded, answered or not.
"""

from __future__ import annotations

import base64
import json
import re
import threading
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

API = "/api/v2.0"
DEFAULT_PAGE_SIZE = 10

_REPORT = re.compile(
    rf"^{re.escape(API)}/projects/([^/]+)/repositories/([^/]+)/artifacts/([^/]+)/additions/vulnerabilities$"
)
_ARTIFACTS = re.compile(rf"^{re.escape(API)}/projects/([^/]+)/repositories/([^/]+)/artifacts$")
_REPOSITORIES = re.compile(rf"^{re.escape(API)}/projects/([^/]+)/repositories$")
_PROJECTS = re.compile(rf"^{re.escape(API)}/projects$")


@dataclass(frozen=True)
class RecordedRequest:
    """One request as it reached the fake: `target` is the request line's target exactly as sent, `path`
    its path (still encoded), `query` its parameters."""

    method: str
    target: str
    headers: dict[str, str]

    @property
    def path(self) -> str:
        return urlsplit(self.target).path

    @property
    def query(self) -> dict[str, str]:
        return dict(parse_qsl(urlsplit(self.target).query))

    def header(self, name: str) -> str | None:
        """A header's value, whatever the case of its name; None when it was not sent."""
        return next((value for key, value in self.headers.items() if key.lower() == name.lower()), None)


@dataclass
class _Override:
    status: int | None
    delay: float = 0.0
    message: str = ""


@dataclass
class _Catalogue:
    # project → repository → artifacts, in the order they were added.
    projects: dict[str, dict[str, list[dict[str, Any]]]] = field(default_factory=dict)
    reports: dict[tuple[str, str, str], Any] = field(default_factory=dict)


class FakeHarbor:
    """A fake Harbor: start it with `with`, or `start()` / `stop()`."""

    def __init__(
        self,
        robot_name: str = "robot$riskgate",
        robot_secret: str = "fake-harbor-robot-secret",
        port: int = 0,
    ) -> None:
        self.port = port
        self.robot_name = robot_name
        self.robot_secret = robot_secret
        self._catalogue = _Catalogue()
        self._overrides: deque[_Override] = deque()
        self._requests: list[RecordedRequest] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- running --------------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """`http://127.0.0.1:<port>`, once started."""
        if self._server is None:
            raise RuntimeError("the fake Harbor is not started")
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def insecure_hosts(self) -> frozenset[str]:
        """What a client must allow to reach this fake over plain http."""
        return frozenset({"127.0.0.1"})

    def start(self) -> FakeHarbor:
        server = ThreadingHTTPServer(("127.0.0.1", self.port), _handler_for(self))
        server.daemon_threads = True
        self._server = server
        # A short poll: stopping waits for the loop to notice, once per test.
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.02}, name="fake-harbor", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()  # ends any stall at once
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = self._thread = None

    def __enter__(self) -> FakeHarbor:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.stop()

    # --- what it serves -------------------------------------------------------------------------------

    def set_report(self, project: str, repository: str, reference: str, report: Any) -> None:
        """Serve `report` (JSON-able, or bytes sent as they are) as the vulnerability report of the
        artifact `reference` (a digest or a tag) of `project/repository`."""
        with self._lock:
            self._catalogue.reports[(project, repository, reference)] = report

    def add_project(self, project: str) -> None:
        with self._lock:
            self._catalogue.projects.setdefault(project, {})

    def add_artifact(self, project: str, repository: str, artifact: dict[str, Any]) -> None:
        """List `artifact` (served as it is) in `project/repository`, creating both as needed."""
        with self._lock:
            self._catalogue.projects.setdefault(project, {}).setdefault(repository, []).append(artifact)

    def answer_next(self, status: int, times: int = 1, message: str = "answered as the test asked") -> None:
        """Answer the next `times` requests with `status` and Harbor's error body saying `message`,
        whatever they ask."""
        with self._lock:
            self._overrides.extend(_Override(status, message=message) for _ in range(times))

    def stall_next(self, seconds: float, times: int = 1) -> None:
        """Wait `seconds` before answering each of the next `times` requests (normally): a slow Harbor."""
        with self._lock:
            self._overrides.extend(_Override(None, seconds) for _ in range(times))

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request so far, oldest first."""
        with self._lock:
            return list(self._requests)

    # --- answering (on the server's threads) ----------------------------------------------------------

    def _answer(self, method: str, target: str, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        with self._lock:
            self._requests.append(RecordedRequest(method, target, headers))
            override = self._overrides.popleft() if self._overrides else None
        if override is not None:
            if override.delay:
                self._stopping.wait(override.delay)
            if override.status is not None:
                return _error(override.status, override.message)
        if not self._authorized(headers):
            status, answer_headers, body = _error(401, "unauthorized")
            return status, {**answer_headers, "WWW-Authenticate": 'Basic realm="harbor"'}, body
        if method != "GET":
            return _error(405, f"{method} is not served by the fake")
        with self._lock:
            return self._route(target)

    def _authorized(self, headers: dict[str, str]) -> bool:
        token = base64.b64encode(f"{self.robot_name}:{self.robot_secret}".encode()).decode("ascii")
        given = next((value for key, value in headers.items() if key.lower() == "authorization"), "")
        return given == f"Basic {token}"

    def _route(self, target: str) -> tuple[int, dict[str, str], bytes]:
        parts = urlsplit(target)
        path = unquote(parts.path)  # Harbor's proxy decodes the path once, then it is split
        query = dict(parse_qsl(parts.query))
        projects = self._catalogue.projects
        if match := _REPORT.match(path):
            key = (match[1], unquote(match[2]), match[3])
            if key not in self._catalogue.reports:
                return _error(404, f"report of {key[0]}/{key[1]}@{key[2]} not found")
            report = self._catalogue.reports[key]
            return 200, _JSON, report if isinstance(report, bytes) else json.dumps(report).encode()
        if match := _ARTIFACTS.match(path):
            project, repository = match[1], unquote(match[2])
            if repository not in projects.get(project, {}):
                return _error(404, f"repository {project}/{repository} not found")
            return _page(projects[project][repository], query)
        if match := _REPOSITORIES.match(path):
            project = match[1]
            if project not in projects:
                return _error(404, f"project {project} not found")
            listed = [
                {"id": index + 1, "name": f"{project}/{name}", "artifact_count": len(artifacts)}
                for index, (name, artifacts) in enumerate(projects[project].items())
            ]
            return _page(listed, query)
        if _PROJECTS.match(path):
            return _page(
                [{"project_id": index + 1, "name": name} for index, name in enumerate(projects)], query
            )
        return _error(404, f"{path} is not served by the fake")


_JSON = {"Content-Type": "application/json"}
_CODES = {401: "UNAUTHORIZED", 403: "FORBIDDEN", 404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED"}


def _error(status: int, message: str) -> tuple[int, dict[str, str], bytes]:
    code = _CODES.get(status, "INTERNAL_SERVER_ERROR" if status >= 500 else "BAD_REQUEST")
    return status, _JSON, json.dumps({"errors": [{"code": code, "message": message}]}).encode()


def _page(items: list[dict[str, Any]], query: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
    page, size = int(query.get("page", "1")), int(query.get("page_size", str(DEFAULT_PAGE_SIZE)))
    chosen = items[(page - 1) * size : page * size]
    return 200, {**_JSON, "X-Total-Count": str(len(items))}, json.dumps(chosen).encode()


def _handler_for(harbor: FakeHarbor) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self._serve()

        def do_POST(self) -> None:
            self._serve()

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)
            status, headers, body = harbor._answer(self.command, self.path, dict(self.headers.items()))
            try:
                self.send_response(status)
                for name, value in {**headers, "Content-Length": str(len(body))}.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (a timeout test): nothing to tell it

        def log_message(self, format: str, *args: Any) -> None:
            pass  # quiet: tests read `harbor.requests` instead

    return Handler


def main(argv: list[str] | None = None) -> int:
    """Serve one artifact's report on a fixed loopback port until interrupted (the README's Harbor)."""
    import argparse
    import time
    from pathlib import Path

    parser = argparse.ArgumentParser(prog="python -m tests.support.fake_harbor")
    parser.add_argument("--port", type=int, default=5010)
    parser.add_argument("--robot-name", default="robot$riskgate")
    parser.add_argument("--robot-secret", default="fake-harbor-robot-secret")
    parser.add_argument("artifact", help="PROJECT/REPOSITORY@DIGEST, e.g. test/alpine/helm@sha256:…")
    parser.add_argument("report", type=Path, help="the /additions/vulnerabilities answer (JSON)")
    arguments = parser.parse_args(argv)
    name, _, digest = arguments.artifact.partition("@")
    project, _, repository = name.partition("/")
    harbor = FakeHarbor(arguments.robot_name, arguments.robot_secret, port=arguments.port)
    harbor.set_report(project, repository, digest, json.loads(arguments.report.read_text()))
    with harbor:
        print(f"fake Harbor at {harbor.url} (robot {harbor.robot_name!r})", flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            return 0


if __name__ == "__main__":
    raise SystemExit(main())
