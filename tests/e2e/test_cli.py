"""`riskgate scan submit` as a CI job runs it: a subprocess with RISKGATE_URL and RISKGATE_TOKEN, against
the local stack (and, for retries, a tiny stub server that fails on purpose)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.e2e.conftest import REPO_ROOT, RunningStack, free_port

pytestmark = pytest.mark.e2e

CLEAN_REPORT = "grype/explain_keycloak.json"  # six low vulnerabilities: compliant
CRITICAL_REPORT = "trivy/ci_alpine-3.10_trivy-0.72.json"  # alpine:3.10, one critical vulnerability
CRITICAL_VULNERABILITY = "CVE-2021-36159"
# Every scanner fixture is read since issue 11: an SPDX document (an SBOM, no findings) is not.
UNSUPPORTED_DOCUMENT = b'{"spdxVersion": "SPDX-2.3", "SPDXID": "SPDXRef-DOCUMENT", "packages": []}'
FAST_RETRIES = ["--max-attempts", "2", "--retry-base-seconds", "0.01"]


def run_cli(
    *args: str, url: str | None, token: str | None, stdin: bytes | None = None
) -> subprocess.CompletedProcess[str]:
    environment = {key: value for key, value in os.environ.items() if not key.startswith("RISKGATE_")}
    environment["PYTHONPATH"] = os.pathsep.join(
        [str(REPO_ROOT / "functions"), environment.get("PYTHONPATH", "")]
    )
    if url is not None:
        environment["RISKGATE_URL"] = url
    if token is not None:
        environment["RISKGATE_TOKEN"] = token
    return subprocess.run(
        [sys.executable, "-m", "riskgate.cli", "scan", "submit", *args],
        env=environment,
        input=stdin.decode() if stdin is not None else None,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_a_clean_report_passes_the_gate(local_stack: RunningStack, scanner_fixtures: Path) -> None:
    result = run_cli(str(scanner_fixtures / CLEAN_REPORT), url=local_stack.url, token=local_stack.admin_token)

    assert result.returncode == 0, result.stderr
    assert "Status:  compliant" in result.stdout
    assert local_stack.admin_token not in result.stdout + result.stderr


def test_a_critical_vulnerability_fails_the_gate_and_is_named(
    local_stack: RunningStack, scanner_fixtures: Path
) -> None:
    result = run_cli(
        str(scanner_fixtures / CRITICAL_REPORT),
        "--fail-on",
        "block",
        url=local_stack.url,
        token=local_stack.admin_token,
    )

    assert result.returncode == 1, result.stderr
    # Condition names come from the assurance policies in force; the JSON answer says which failed.
    answer = run_cli(
        str(scanner_fixtures / CRITICAL_REPORT),
        "--output",
        "json",
        url=local_stack.url,
        token=local_stack.admin_token,
    )
    failed_conditions = {reason["condition"] for reason in json.loads(answer.stdout)["verdict"]["reasons"]}
    assert failed_conditions
    for condition in failed_conditions:
        assert f": {condition} (" in result.stdout
    assert CRITICAL_VULNERABILITY in result.stdout
    assert "alpine:3.10" in result.stdout


def test_fail_on_never_passes_a_blocked_image(local_stack: RunningStack, scanner_fixtures: Path) -> None:
    result = run_cli(
        str(scanner_fixtures / CRITICAL_REPORT),
        "--fail-on",
        "never",
        url=local_stack.url,
        token=local_stack.admin_token,
    )

    assert result.returncode == 0, result.stderr
    assert "non_compliant" in result.stdout


def test_json_output_is_the_servers_answer(local_stack: RunningStack, scanner_fixtures: Path) -> None:
    result = run_cli(
        str(scanner_fixtures / CRITICAL_REPORT),
        "--output",
        "json",
        url=local_stack.url,
        token=local_stack.admin_token,
    )

    assert result.returncode == 1, result.stderr
    answer = json.loads(result.stdout)
    assert answer["verdict"]["block"] is True
    assert answer["scan_id"].startswith("scan-")


def test_a_report_on_stdin_with_an_image_reference(local_stack: RunningStack, scanner_fixtures: Path) -> None:
    report = (scanner_fixtures / CLEAN_REPORT).read_bytes()

    result = run_cli(
        "-",
        "--image",
        "ghcr.io/acme/shop:1.4",
        url=local_stack.url,
        token=local_stack.admin_token,
        stdin=report,
    )

    assert result.returncode == 0, result.stderr
    assert "ghcr.io/acme/shop:1.4" in result.stdout


def test_a_bad_token_is_reported_as_rejected(local_stack: RunningStack, scanner_fixtures: Path) -> None:
    result = run_cli(str(scanner_fixtures / CLEAN_REPORT), url=local_stack.url, token="rg_" + "x" * 43)

    assert result.returncode == 2
    assert "token rejected" in result.stderr
    assert "x" * 43 not in result.stderr


def test_an_unsupported_report_is_refused_with_the_servers_message(
    local_stack: RunningStack, scanner_fixtures: Path
) -> None:
    result = run_cli(
        "-",
        "--image",
        "ghcr.io/e2e/sbom:1",
        url=local_stack.url,
        token=local_stack.admin_token,
        stdin=UNSUPPORTED_DOCUMENT,
    )

    assert result.returncode == 2
    assert "report refused (422)" in result.stderr
    assert "spdx" in result.stderr.lower()


def test_a_server_nobody_listens_on_is_unreachable(scanner_fixtures: Path) -> None:
    result = run_cli(
        str(scanner_fixtures / CLEAN_REPORT),
        *FAST_RETRIES,
        url=f"http://127.0.0.1:{free_port()}",
        token="rg_any",
    )

    assert result.returncode == 2
    assert "unreachable" in result.stderr
    assert "after 2 attempts" in result.stderr


def test_a_missing_report_file_is_a_usage_error(tmp_path: Path) -> None:
    result = run_cli(str(tmp_path / "absent.json"), url="http://127.0.0.1:9", token="rg_any")

    assert result.returncode == 2
    assert "report file not found" in result.stderr


def test_missing_settings_are_named(scanner_fixtures: Path) -> None:
    result = run_cli(str(scanner_fixtures / CLEAN_REPORT), url=None, token=None)

    assert result.returncode == 2
    assert "RISKGATE_URL and RISKGATE_TOKEN not set" in result.stderr


class FlakyScansServer(ThreadingHTTPServer):
    """Answers 503 to the first `failures` uploads, then 201; keeps every request's headers."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.received: list[dict[str, str]] = []
        super().__init__(("127.0.0.1", 0), FlakyScansHandler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class FlakyScansHandler(BaseHTTPRequestHandler):
    server: FlakyScansServer

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.server.received.append(dict(self.headers))
        if len(self.server.received) <= self.server.failures:
            self.reply(503, {"message": "Service Unavailable"})
        else:
            verdict = {"status": "compliant", "block": False, "reasons": []}
            self.reply(201, {"scan_id": "scan-stub", "image": {"reference": "stub:1"}, "verdict": verdict})

    def reply(self, status: int, document: dict[str, object]) -> None:
        body = json.dumps(document).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: the test reads what it needs from `received`."""


@pytest.fixture
def flaky_server() -> Iterator[FlakyScansServer]:
    server = FlakyScansServer(failures=2)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_503s_are_retried_under_one_idempotency_key(
    flaky_server: FlakyScansServer, scanner_fixtures: Path
) -> None:
    result = run_cli(
        str(scanner_fixtures / CLEAN_REPORT),
        "--max-attempts",
        "3",
        "--retry-base-seconds",
        "0.01",
        url=flaky_server.url,
        token="rg_stub",
    )

    assert result.returncode == 0, result.stderr
    assert len(flaky_server.received) == 3
    assert len({headers["Idempotency-Key"] for headers in flaky_server.received}) == 1
    assert {headers["Content-Encoding"] for headers in flaky_server.received} == {"gzip"}
    assert {headers["Authorization"] for headers in flaky_server.received} == {"Bearer rg_stub"}
    assert result.stderr.count("answer 503, retrying") == 2


def test_a_token_read_from_a_file_with_its_newline_works_and_is_never_printed(
    local_stack: RunningStack, scanner_fixtures: Path
) -> None:
    """`RISKGATE_TOKEN=$(cat token)` keeps no newline, but CI secret files and `export X="$(…)\n"` do."""
    result = run_cli(
        str(scanner_fixtures / CLEAN_REPORT),
        url=f"{local_stack.url}/\n",
        token=f"{local_stack.admin_token}\r\n",
    )

    assert result.returncode == 0, result.stderr
    assert "Status:  compliant" in result.stdout
    assert local_stack.admin_token not in result.stdout + result.stderr


def test_a_token_broken_inside_is_named_never_shown_and_exit_2(scanner_fixtures: Path) -> None:
    token = "rg_" + "s" * 20 + "\n" + "t" * 20

    result = run_cli(str(scanner_fixtures / CLEAN_REPORT), url=f"http://127.0.0.1:{free_port()}", token=token)

    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "riskgate: RISKGATE_TOKEN contains whitespace, control or non-ASCII characters inside it: "
        "check how it is set (its value is not shown)"
    ]
    assert "s" * 20 not in result.stderr
    assert "Traceback" not in result.stderr


def test_version_and_help_exit_0() -> None:
    environment = {**os.environ, "PYTHONPATH": str(REPO_ROOT / "functions")}
    for args, expected in ((["--version"], "riskgate "), (["--help"], "examples:")):
        result = subprocess.run(
            [sys.executable, "-m", "riskgate.cli", *args],
            env=environment,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        assert expected in result.stdout
