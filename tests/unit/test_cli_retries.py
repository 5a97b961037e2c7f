"""The CLI retries 429, 503 (and 409, 500, 502, 504, resets, timeouts) with back-off under the same
Idempotency-Key, honours Retry-After up to a cap, stays within its attempts and its time limit, and never
retries another 4xx. Over real HTTP to a local stub; sleeping is injected, so nothing waits."""

from __future__ import annotations

import functools
import os
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from email.utils import formatdate
from pathlib import Path
from typing import Any

import pytest

import riskgate.cli as cli
from riskgate.client import (
    RETRY_AFTER_LIMIT_SECONDS,
    HttpAnswer,
    RetryPolicy,
    ScanRequest,
    SubmitError,
    retry_after_seconds,
    submit_report,
)
from riskgate.client_verdict import EXIT_ERROR, EXIT_PASSED
from tests.unit.cli_stub_api import COMPLIANT, CUT_SHORT, RESET, Reply, StubApi, error_body, stub_api

TOKEN = "rg_cmV0cmllcy11bmRlci1vbmUta2V5LWFuZC1vbmUtYm9keQ"


class FakeTime:
    """sleep() advances clock(); nothing waits."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def fake_time(monkeypatch: pytest.MonkeyPatch) -> FakeTime:
    """The CLI's submit_report, with the fake clock and sleep (and no jitter: rng gives the ceiling)."""
    fake = FakeTime()
    monkeypatch.setattr(
        cli,
        "submit_report",
        functools.partial(submit_report, sleep=fake.sleep, clock=fake.clock, rng=lambda: 1.0),
    )
    return fake


@pytest.fixture
def report(tmp_path: Path) -> Path:
    path = tmp_path / "report.json"
    path.write_text('{"SchemaVersion": 2, "ArtifactName": "registry.example/shop/api:1.0"}')
    return path


@pytest.fixture(autouse=True)
def environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [name for name in os.environ if name.startswith("RISKGATE_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("RISKGATE_TOKEN", f"{TOKEN}\n")


def submit(api: StubApi, report: Path, *extra: str) -> int:
    return cli.main(["scan", "submit", str(report), "--url", api.url, *extra])


def test_503_with_retry_after_then_201_arrives_under_one_idempotency_key(
    report: Path, fake_time: FakeTime, capsys: pytest.CaptureFixture[str]
) -> None:
    http_date = formatdate(time.time() + 30, usegmt=True)
    with stub_api(
        Reply(503, {"message": "Service Unavailable"}, {"Retry-After": "2"}),
        Reply(429, error_body("slow down"), {"Retry-After": http_date}),
        RESET,
        Reply(502, {"message": "Bad Gateway"}),
        CUT_SHORT,
        Reply(504, {"message": "Endpoint request timed out"}),
        Reply(201, COMPLIANT),
    ) as api:
        assert submit(api, report, "--max-attempts", "7", "--retry-base-seconds", "0.5") == EXIT_PASSED

    received = api.received
    assert len(received) == 7
    assert len({request.headers["Idempotency-Key"] for request in received}) == 1
    assert received[0].headers["Idempotency-Key"].startswith("riskgate-cli-")
    assert len({request.body for request in received}) == 1
    assert {request.headers["Authorization"] for request in received} == {f"Bearer {TOKEN}"}
    # Retry-After (seconds, then an HTTP date) wins; otherwise 0.5 s doubling (jitter pinned to its ceiling)
    assert 28.0 < fake_time.sleeps[1] <= 30.0  # an HTTP date has whole seconds
    assert fake_time.sleeps == [2.0, fake_time.sleeps[1], 2.0, 4.0, 8.0, 8.0]
    captured = capsys.readouterr()
    assert "Status:  compliant" in captured.out
    assert captured.err.splitlines() == [
        "riskgate: answer 503, retrying in 2.0 s",
        f"riskgate: answer 429, retrying in {fake_time.sleeps[1]:.1f} s",
        "riskgate: no answer (RemoteDisconnected: Remote end closed connection without response), "
        "retrying in 2.0 s",
        "riskgate: answer 502, retrying in 4.0 s",
        "riskgate: no answer (IncompleteRead(12 bytes read, 988 more expected)), retrying in 8.0 s",
        "riskgate: answer 504, retrying in 8.0 s",
    ]
    assert TOKEN not in captured.err


def test_a_retry_after_beyond_the_cap_is_cut_to_it(
    report: Path, fake_time: FakeTime, capsys: pytest.CaptureFixture[str]
) -> None:
    with stub_api(Reply(503, None, {"Retry-After": "86400"}), Reply(201, COMPLIANT)) as api:
        assert submit(api, report) == EXIT_PASSED

    assert fake_time.sleeps == [RETRY_AFTER_LIMIT_SECONDS]


def test_retry_after_is_read_whatever_its_case(
    report: Path, fake_time: FakeTime, capsys: pytest.CaptureFixture[str]
) -> None:
    """API Gateway's HTTP APIs and HTTP/2 send header names in lower case."""
    with stub_api(Reply(429, error_body("slow down"), {"retry-after": "7"}), Reply(201, COMPLIANT)) as api:
        assert submit(api, report) == EXIT_PASSED

    assert fake_time.sleeps == [7.0]


@pytest.mark.parametrize(
    ("status", "message"),
    [
        (400, "report refused (400)"),
        (401, "token rejected (401)"),
        (403, "not permitted"),
        (404, "report refused (404)"),
        (408, "report refused (408)"),
        (413, "report too large (413)"),
        (422, "report refused (422)"),
        (501, "report refused (501)"),
    ],
)
def test_other_answers_are_final_and_not_retried(
    report: Path, fake_time: FakeTime, status: int, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with stub_api(Reply(status, error_body("no"), {"Retry-After": "1"}), Reply(201, COMPLIANT)) as api:
        assert submit(api, report) == EXIT_ERROR

    assert len(api.received) == 1
    assert fake_time.sleeps == []
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1
    assert message in lines[0]


def test_retries_stop_at_max_attempts_with_one_line_and_exit_2(
    report: Path, fake_time: FakeTime, capsys: pytest.CaptureFixture[str]
) -> None:
    with stub_api(Reply(429, error_body("slow down"))) as api:
        assert submit(api, report, "--max-attempts", "3") == EXIT_ERROR

    assert len(api.received) == 3
    assert len({request.headers["Idempotency-Key"] for request in api.received}) == 1
    assert len(fake_time.sleeps) == 2
    assert (
        capsys.readouterr().err.splitlines()[-1] == "riskgate: server still throttling (429) after 3 attempts"
    )


def test_retries_stop_at_the_time_limit_without_sleeping_past_it(
    report: Path, fake_time: FakeTime, capsys: pytest.CaptureFixture[str]
) -> None:
    with stub_api(Reply(503, {"message": "Service Unavailable"}, {"Retry-After": "20"})) as api:
        assert submit(api, report, "--max-attempts", "10", "--max-retry-seconds", "45") == EXIT_ERROR

    # 0 s: try, wait 20; 20 s: try, wait 20; 40 s: try, and a wait of 20 would end at 60 s > 45 s
    assert len(api.received) == 3
    assert fake_time.sleeps == [20.0, 20.0]
    assert capsys.readouterr().err.splitlines()[-1] == (
        "riskgate: server error (503) after 3 attempts: Service Unavailable "
        "(gave up: waiting 20.0 s more would pass the 45 s retry limit)"
    )


def test_a_time_limit_of_zero_means_one_attempt(
    report: Path, fake_time: FakeTime, capsys: pytest.CaptureFixture[str]
) -> None:
    with stub_api(RESET) as api:
        assert submit(api, report, "--max-retry-seconds", "0") == EXIT_ERROR

    assert len(api.received) == 1
    assert "gave up" in capsys.readouterr().err


def test_a_server_that_keeps_resetting_is_unreachable_after_the_attempts(
    report: Path, fake_time: FakeTime, capsys: pytest.CaptureFixture[str]
) -> None:
    with stub_api(RESET) as api:
        assert submit(api, report, "--max-attempts", "2") == EXIT_ERROR

    assert len(api.received) == 2
    assert capsys.readouterr().err.splitlines()[-1] == (
        f"riskgate: server unreachable at {api.url} after 2 attempts: "
        "RemoteDisconnected: Remote end closed connection without response"
    )


# The policy on its own: transport errors, TLS, jitter, Retry-After parsing.


def scripted(*replies: HttpAnswer | BaseException) -> tuple[Callable[..., HttpAnswer], list[Any]]:
    requests: list[urllib.request.Request] = []
    queue = list(replies)

    def transport(request: urllib.request.Request, timeout: float) -> HttpAnswer:
        requests.append(request)
        reply = queue.pop(0)
        if isinstance(reply, BaseException):
            raise reply
        return reply

    return transport, requests


SCAN = ScanRequest("https://riskgate.example/api", TOKEN, b"{}")
OK = HttpAnswer(201, {}, b'{"verdict": {"status": "compliant", "block": false}}')


@pytest.mark.parametrize(
    "failure",
    [
        ConnectionResetError(104, "Connection reset by peer"),
        urllib.error.URLError(ConnectionResetError(104, "Connection reset by peer")),
        urllib.error.URLError(ConnectionRefusedError(111, "Connection refused")),
        TimeoutError("timed out"),
        BrokenPipeError(32, "Broken pipe"),  # the server closed while the body was being sent
    ],
)
def test_connection_failures_are_retried_under_the_same_key(failure: OSError) -> None:
    transport, requests = scripted(failure, OK)
    sleeps: list[float] = []

    assert submit_report(SCAN, transport=transport, sleep=sleeps.append)["verdict"]["status"] == "compliant"
    assert len(requests) == 2
    assert requests[0].get_header("Idempotency-key") == requests[1].get_header("Idempotency-key")
    assert requests[0].data == requests[1].data
    assert len(sleeps) == 1
    assert 0 <= sleeps[0] <= 0.5


def test_an_untrusted_certificate_is_not_retried() -> None:
    """urlopen wraps the TLS error in a URLError; a retry cannot make the certificate trusted."""
    error = ssl.SSLCertVerificationError(1, "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed")
    error.verify_message = "self-signed certificate"
    transport, requests = scripted(urllib.error.URLError(error), OK)

    with pytest.raises(
        SubmitError, match=r"^TLS certificate of https://riskgate.example/api not trusted: self-"
    ):
        submit_report(SCAN, transport=transport, sleep=lambda _: None)
    assert len(requests) == 1


def test_jitter_spreads_the_back_off_below_its_ceiling() -> None:
    transport, _ = scripted(HttpAnswer(503, {}, b""), HttpAnswer(503, {}, b""), OK)
    sleeps: list[float] = []

    submit_report(
        SCAN, RetryPolicy(base_seconds=1.0), transport=transport, sleep=sleeps.append, rng=lambda: 0.25
    )

    assert sleeps == [0.25, 0.5]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("0", 0.0),
        ("120", 120.0),
        (" 3 ", 3.0),
        ("1.5", 1.5),
        ("-1", None),
        ("nan", None),
        ("inf", None),
        ("1e9", None),
        ("\u0663", None),  # an Arabic-Indic digit: str.isdigit() says yes, HTTP says no
        ("", None),
        ("Wed, 21 Oct 2015 07:28:00", None),  # no zone: not an HTTP date
        ("Wed, 21 Oct 2015 07:28:00 GMT", 10.0),
        ("Wed, 21 Oct 2015 07:27:00 GMT", 0.0),  # in the past: now
    ],
)
def test_retry_after_values(value: str, expected: float | None) -> None:
    assert retry_after_seconds(value, now=1445412470.0) == expected


def test_the_policy_defaults_bound_a_run() -> None:
    policy = RetryPolicy()

    assert (policy.max_attempts, policy.base_seconds, policy.cap_seconds) == (5, 0.5, 8.0)
    assert policy.max_total_seconds == 300.0
    assert cli.build_parser().parse_args(["scan", "submit", "r"]).max_retry_seconds == 300.0
