"""The local stack started as `make run` starts it: `python -m riskgate_local` in a subprocess, ready
once it prints its one line on stdout. Its stderr goes to a file, shown when something fails."""

from __future__ import annotations

import json
import os
import queue
import re
import secrets
import signal
import socket
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
READY_LINE = re.compile(r"^Riskgate is running at (?P<url>http://\S+) — admin token: (?P<token>rg_\S+)$")
READY_TIMEOUT_SECONDS = 60
STOP_TIMEOUT_SECONDS = 10


@dataclass(frozen=True)
class HttpResult:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class RunningStack:
    process: subprocess.Popen[str]
    url: str
    admin_token: str
    stderr_path: Path

    def request(
        self,
        method: str,
        path: str,
        *,
        token: str | None = None,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> HttpResult:
        return http_request(self.url, method, path, token=token, body=body, headers=headers)

    def stop_with(self, signal_number: signal.Signals) -> int:
        """Send the signal; the exit code, or pytest.fail when the stack does not stop in time."""
        self.process.send_signal(signal_number)
        try:
            return self.process.wait(timeout=STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            pytest.fail(
                f"the local stack ignored {signal_number.name} for {STOP_TIMEOUT_SECONDS} s{self.log_tail()}"
            )

    def log_tail(self, lines: int = 40) -> str:
        text = self.stderr_path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:]
        return "\n--- local stack stderr (tail) ---\n" + "\n".join(text)


def http_request(
    base_url: str,
    method: str,
    path: str,
    *,
    token: str | None = None,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> HttpResult:
    """One request with the standard library; error statuses are results, not exceptions."""
    request = urllib.request.Request(base_url + path, data=body, method=method, headers=headers or {})
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return HttpResult(response.status, dict(response.headers), response.read())
    except urllib.error.HTTPError as error:
        return HttpResult(error.code, dict(error.headers), error.read())


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_local_stack(stderr_path: Path, extra_environment: dict[str, str] | None = None) -> RunningStack:
    """`python -m riskgate_local` from the repository root with a free port and a known token
    (`extra_environment`: more of the variables `make run` reads, e.g. RISKGATE_AWS_PORT)."""
    admin_token = "rg_" + secrets.token_urlsafe(32)
    environment = {key: value for key, value in os.environ.items() if key != "AWS_ENDPOINT_URL"}
    environment |= {
        "RISKGATE_PORT": str(free_port()),
        "RISKGATE_ADMIN_TOKEN": admin_token,
        # As the editable install would; the suite may also run without one.
        "PYTHONPATH": os.pathsep.join(
            [str(REPO_ROOT / "functions"), str(REPO_ROOT / "infra"), environment.get("PYTHONPATH", "")]
        ),
    }
    environment |= extra_environment or {}
    with stderr_path.open("w", encoding="utf-8") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "riskgate_local"],
            cwd=REPO_ROOT,
            env=environment,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
            encoding="utf-8",
        )
    stdout = process.stdout
    assert stdout is not None
    # readline() has no timeout of its own; the queue gives it one.
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: lines.put(stdout.readline()), daemon=True).start()
    stack = RunningStack(process, url="", admin_token=admin_token, stderr_path=stderr_path)
    try:
        line = lines.get(timeout=READY_TIMEOUT_SECONDS)
    except queue.Empty:
        process.kill()
        process.wait()
        pytest.fail(f"no ready line within {READY_TIMEOUT_SECONDS} s{stack.log_tail()}")
    ready = READY_LINE.match(line.rstrip("\n"))
    if ready is None:
        process.kill()
        process.wait()
        pytest.fail(
            f"unexpected first line on stdout: {line!r} (exit code {process.poll()}){stack.log_tail()}"
        )
    stack.url = ready["url"]
    assert ready["token"] == admin_token
    return stack


@pytest.fixture(scope="module")
def local_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    """One stack for the module: starting one takes seconds."""
    stack = start_local_stack(tmp_path_factory.mktemp("local-stack") / "stderr.log")
    yield stack
    if stack.process.poll() is None:
        stack.process.kill()
        stack.process.wait()
