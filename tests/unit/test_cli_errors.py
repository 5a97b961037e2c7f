"""The CLI never leaks a secret and never lies with its exit code: settings trimmed and checked, one line
on stderr and exit 2 for every error (1 is the gate's), broken pipes, --version and --help."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path

import pytest

import riskgate
import riskgate.cli as cli
from riskgate.client import (
    HttpAnswer,
    ScanRequest,
    SubmitError,
    check_base_url,
    check_token,
    redact,
    submit_report,
)
from riskgate.client_verdict import EXIT_ERROR, EXIT_GATE_FAILED, EXIT_PASSED
from tests.unit.cli_stub_api import BLOCKED, COMPLIANT, Reply, StubApi, error_body, stub_api

REPO_ROOT = Path(__file__).resolve().parents[2]
TOKEN = "rg_Zm9vYmFyYmF6cXV4cXV1eGNvcmdlZ3JhdWx0Z2FycGx5d2FsZG8"
NO_SERVER = "http://127.0.0.1:9"


@pytest.fixture
def report(tmp_path: Path) -> Path:
    path = tmp_path / "report.json"
    path.write_text('{"SchemaVersion": 2, "ArtifactName": "registry.example/shop/api:1.0"}')
    return path


@pytest.fixture
def api() -> Iterator[StubApi]:
    with stub_api(Reply(201, COMPLIANT)) as server:
        yield server


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [name for name in os.environ if name.startswith("RISKGATE_")]:
        monkeypatch.delenv(name)


def submit(report: Path, *extra: str) -> int:
    return cli.main(["scan", "submit", str(report), "--max-attempts", "1", *extra])


# 1. Settings trimmed; a setting that still cannot be sent is named, never shown.


@pytest.mark.parametrize("padding", ["\n", "\r\n", "  ", " \t\n", "\ufeff", "\n\n"])
def test_the_token_and_url_are_trimmed_of_what_ci_secrets_carry_around_them(
    api: StubApi,
    report: Path,
    padding: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("RISKGATE_TOKEN", f"{padding}{TOKEN}{padding}")
    monkeypatch.setenv("RISKGATE_URL", f"{api.url}/{padding}")

    assert submit(report) == EXIT_PASSED

    captured = capsys.readouterr()
    assert "Status:  compliant" in captured.out
    assert captured.err == ""
    assert api.received[0].headers["Authorization"] == f"Bearer {TOKEN}"
    assert api.received[0].path == "/v1/scans"


def test_flags_are_trimmed_too(api: StubApi, report: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert submit(report, "--url", f" {api.url}\n", "--token", f"{TOKEN}\r\n") == EXIT_PASSED
    assert api.received[0].headers["Authorization"] == f"Bearer {TOKEN}"


def test_a_token_of_whitespace_only_is_not_set(
    report: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("RISKGATE_URL", NO_SERVER)
    monkeypatch.setenv("RISKGATE_TOKEN", " \n")

    assert submit(report) == EXIT_ERROR
    assert capsys.readouterr().err.splitlines() == [
        "riskgate: RISKGATE_TOKEN not set (or pass --url/--token)"
    ]


@pytest.mark.parametrize(
    "bad_token",
    [
        f"{TOKEN[:10]}\n{TOKEN[10:]}",
        f"{TOKEN[:10]} {TOKEN[10:]}",
        f"{TOKEN[:10]}\r{TOKEN[10:]}",
        f"{TOKEN[:10]}\x07{TOKEN[10:]}",
        f"{TOKEN[:10]}\x1b[31m{TOKEN[10:]}",
        f"{TOKEN[:10]}\u00e9{TOKEN[10:]}",
        f"{TOKEN[:10]}\u200b{TOKEN[10:]}",
        f"{TOKEN}\nsecond-line",
    ],
)
def test_a_token_with_whitespace_or_control_characters_inside_is_named_not_shown(
    api: StubApi,
    report: Path,
    bad_token: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("RISKGATE_URL", api.url)
    monkeypatch.setenv("RISKGATE_TOKEN", bad_token)

    assert submit(report) == EXIT_ERROR

    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("riskgate: RISKGATE_TOKEN contains whitespace, control or non-ASCII")
    assert "not shown" in lines[0]
    assert TOKEN[:10] not in captured.out + captured.err
    assert TOKEN[10:] not in captured.out + captured.err
    assert api.received == []  # nothing was sent


def test_a_bad_token_given_as_a_flag_names_the_flag(report: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert submit(report, "--url", NO_SERVER, "--token", f"{TOKEN} x") == EXIT_ERROR

    captured = capsys.readouterr()
    assert captured.err.startswith("riskgate: --token contains whitespace")
    assert TOKEN not in captured.err


@pytest.mark.parametrize(
    ("bad_url", "complaint"),
    [
        ("http://riskgate.example/a pi", "contains whitespace, control or non-ASCII"),
        ("http://riskgate.example/\napi", "contains whitespace, control or non-ASCII"),
        ("http://riskgate.example/\x7fapi", "contains whitespace, control or non-ASCII"),
        (TOKEN, "must start with http:// or https://"),  # the token pasted into the wrong variable
        (f"ftp://riskgate.example/{TOKEN}", "must start with http:// or https://"),
        (f"https://admin:{TOKEN}@riskgate.example/api", "must not contain a user or password"),
        (f"https://riskgate.example/api?token={TOKEN}", "without ?query or #fragment"),
        (f"https://riskgate.example:{TOKEN}/api", "invalid port"),
        ("https:///api", "names no host"),
    ],
)
def test_a_url_that_cannot_be_used_is_named_not_shown(
    report: Path,
    bad_url: str,
    complaint: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("RISKGATE_URL", bad_url)
    monkeypatch.setenv("RISKGATE_TOKEN", "rg_other")

    assert submit(report) == EXIT_ERROR

    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("riskgate: RISKGATE_URL ")
    assert complaint in lines[0]
    assert TOKEN not in captured.err
    assert "riskgate.example/a pi" not in captured.err


def test_the_checks_trim_and_return_the_setting() -> None:
    assert check_token(f"\ufeff{TOKEN}\r\n") == TOKEN
    assert check_base_url(" https://x.example/api/\n") == "https://x.example/api/"
    with pytest.raises(SubmitError, match=r"^RISKGATE_TOKEN is empty$"):
        check_token("\n")


# 1. Never print a token: not through urllib's messages, a repr, a redirect or a retry line.


def test_the_token_is_not_in_a_scan_requests_repr() -> None:
    scan = ScanRequest("https://x.example", TOKEN, b"{}")

    assert TOKEN not in repr(scan)
    assert TOKEN not in str(scan)


def test_http_clients_complaint_about_a_header_is_withheld() -> None:
    """What crashed the command before: http.client quoting `Bearer <token>\\n` in a ValueError."""

    def header_refused(request: object, timeout: float) -> HttpAnswer:
        raise ValueError(f"Invalid header value {f'Bearer {TOKEN}'.encode()!r}")

    with pytest.raises(SubmitError) as caught:
        submit_report(ScanRequest("https://x.example", TOKEN, b"{}"), transport=header_refused)

    assert TOKEN not in str(caught.value)
    assert "details withheld" in str(caught.value)
    assert caught.value.__cause__ is None
    assert caught.value.__suppress_context__


def test_a_redirect_is_not_followed_so_the_token_goes_nowhere_else(
    report: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with (
        stub_api(Reply(201, COMPLIANT)) as elsewhere,
        stub_api(Reply(307, headers={"Location": f"{elsewhere.url}/v1/scans?token={TOKEN}"})) as api,
    ):
        monkeypatch.setenv("RISKGATE_URL", api.url)
        monkeypatch.setenv("RISKGATE_TOKEN", TOKEN)

        assert submit(report) == EXIT_ERROR

    assert len(api.received) == 1
    assert elsewhere.received == []
    captured = capsys.readouterr()
    assert captured.err.splitlines() == [
        f"riskgate: the server redirected (307) to {elsewhere.url}/v1/scans: set RISKGATE_URL to the API's "
        "own address (redirects are not followed, so that the token goes nowhere else)"
    ]


def test_messages_from_the_server_are_redacted_and_kept_on_one_line(
    report: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    echo = error_body(f"bad request\nAuthorization: Bearer {TOKEN}\n\x1b[2Jforged line")
    with stub_api(Reply(400, echo)) as api:
        monkeypatch.setenv("RISKGATE_URL", api.url)
        monkeypatch.setenv("RISKGATE_TOKEN", TOKEN)

        assert submit(report) == EXIT_ERROR

    captured = capsys.readouterr()
    assert len(captured.err.splitlines()) == 1
    assert TOKEN not in captured.err
    assert "\x1b" not in captured.err
    assert captured.err.startswith("riskgate: report refused (400): bad request Authorization: Bearer ***")


def test_redact_hides_the_secret_as_is_trimmed_escaped_and_anything_token_shaped() -> None:
    raw = f"{TOKEN}\n"
    text = f"a {TOKEN} b {raw!r} c {raw.encode()!r} d Bearer eHl6LnNlY3JldA== e rg_0123456789abcdef"

    redacted = redact(text, [raw])

    assert TOKEN not in redacted
    assert "eHl6LnNlY3JldA" not in redacted
    assert "0123456789abcdef" not in redacted
    assert redacted.startswith("a *** b ")
    assert redact("missing or invalid bearer token", [raw]) == "missing or invalid bearer token"


# 2. No traceback ever: one line on stderr, exit 2 (1 is the gate's); Ctrl-C is 130.


@pytest.mark.parametrize(
    "error",
    [
        RuntimeError(f"something broke near Bearer {TOKEN}"),
        ValueError(f"Invalid header value {f'Bearer {TOKEN}'.encode()!r}"),
        RecursionError("maximum recursion depth exceeded"),
        RuntimeError(),
        UnicodeEncodeError("latin-1", f"Bearer {TOKEN}\u2019", 10, 11, "ordinal not in range(256)"),
    ],
)
def test_an_unexpected_exception_is_one_line_and_exit_2(
    report: Path,
    error: Exception,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    def explode(*args: object, **kwargs: object) -> dict[str, object]:
        raise error

    monkeypatch.setattr(cli, "submit_report", explode)
    monkeypatch.setenv("RISKGATE_URL", NO_SERVER)
    monkeypatch.setenv("RISKGATE_TOKEN", f"{TOKEN}\n")

    assert submit(report) == EXIT_ERROR

    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"riskgate: error: unexpected {type(error).__name__}")
    assert TOKEN not in captured.err
    assert "Traceback" not in captured.err


def test_an_answer_the_renderer_cannot_read_is_exit_2_not_a_traceback(
    report: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    odd = {"verdict": {"status": "non_compliant", "block": False, "reasons": ["not-a-reason"]}}
    with stub_api(Reply(201, odd)) as api:
        monkeypatch.setenv("RISKGATE_URL", api.url)
        monkeypatch.setenv("RISKGATE_TOKEN", TOKEN)

        assert submit(report) == EXIT_ERROR

    assert capsys.readouterr().err.splitlines() == [
        "riskgate: error: unexpected AttributeError: 'str' object has no attribute 'get'"
    ]


def test_ctrl_c_exits_130_quietly(
    report: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def interrupted(*args: object, **kwargs: object) -> dict[str, object]:
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "submit_report", interrupted)

    assert submit(report, "--url", NO_SERVER, "--token", TOKEN) == 130
    assert capsys.readouterr().err == ""


def test_the_admin_commands_failure_is_exit_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from botocore.exceptions import NoRegionError

    def no_region(*args: object) -> str:
        raise NoRegionError

    monkeypatch.setattr(cli, "create_admin_token", no_region)

    assert cli.main(["admin", "create-token", "--table", "t"]) == EXIT_ERROR
    assert capsys.readouterr().err.splitlines() == [
        "riskgate: could not create the token: You must specify a region."
    ]


def test_the_admin_command_without_boto3_says_so(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "botocore.exceptions", None)  # what `pip install --no-deps` leaves

    assert cli.main(["admin", "create-token", "--table", "t"]) == EXIT_ERROR
    assert capsys.readouterr().err == "riskgate: the admin commands need boto3: pip install boto3\n"


def test_usage_errors_do_not_echo_a_mistyped_token_flag(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("RISKGATE_TOKEN", "plain-secret-value")

    with pytest.raises(SystemExit) as exit_info:
        cli.main(["scan", "submit", "r.json", f"--tokn={TOKEN}", "--tokem=plain-secret-value"])

    assert exit_info.value.code == 2
    captured = capsys.readouterr()
    assert TOKEN not in captured.err
    assert "plain-secret-value" not in captured.err
    assert "unrecognized arguments" in captured.err


@pytest.mark.parametrize("flag", ["--timeout", "--max-attempts"])
def test_zero_timeout_or_attempts_is_a_usage_error(flag: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["scan", "submit", "r.json", flag, "0"])

    assert exit_info.value.code == 2


# 3. Broken pipes: `| head -1` ends quietly with the verdict's exit code.


class ClosedPipe:
    encoding = "utf-8"

    def write(self, text: str) -> int:
        raise BrokenPipeError(32, "Broken pipe")

    def flush(self) -> None:
        raise BrokenPipeError(32, "Broken pipe")

    def fileno(self) -> int:
        raise OSError("no descriptor in a test")


@pytest.mark.parametrize(("answer", "expected"), [(BLOCKED, EXIT_GATE_FAILED), (COMPLIANT, EXIT_PASSED)])
@pytest.mark.parametrize("output", ["text", "json"])
def test_a_closed_stdout_keeps_the_verdicts_exit_code(
    report: Path,
    answer: dict[str, object],
    expected: int,
    output: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    with stub_api(Reply(201, answer)) as api:
        monkeypatch.setenv("RISKGATE_URL", api.url)
        monkeypatch.setenv("RISKGATE_TOKEN", TOKEN)
        monkeypatch.setattr(sys, "stdout", ClosedPipe())

        assert submit(report, "--output", output) == expected

    assert capsys.readouterr().err == ""


def _run_cli_into(
    stdout: int, url: str, *args: str, unbuffered: bool = False
) -> subprocess.CompletedProcess[bytes]:
    environment = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("RISKGATE_") and key != "PYTHONUNBUFFERED"
    }
    if unbuffered:  # every print is a write: the pipe breaks at the first one, not at the flush
        environment["PYTHONUNBUFFERED"] = "1"
    environment |= {
        "PYTHONPATH": os.pathsep.join([str(REPO_ROOT / "functions"), environment.get("PYTHONPATH", "")]),
        "RISKGATE_URL": url,
        "RISKGATE_TOKEN": f"{TOKEN}\n",
    }
    return subprocess.run(
        [sys.executable, "-m", "riskgate.cli", *args],
        env=environment,
        stdout=stdout,
        stderr=subprocess.PIPE,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize("unbuffered", [False, True])
def test_json_output_into_head_ends_without_a_traceback(report: Path, unbuffered: bool) -> None:
    """`riskgate scan submit … --output json | head -1`, with an answer far bigger than a pipe's buffer."""
    big = {**BLOCKED, "findings": [{"id": f"CVE-2024-{n:05}", "severity": "high"} for n in range(5000)]}
    with stub_api(Reply(201, big)) as api:
        head = subprocess.Popen(
            [sys.executable, "-c", "import sys; sys.stdin.readline()"], stdin=subprocess.PIPE
        )
        assert head.stdin is not None
        try:
            result = _run_cli_into(
                head.stdin.fileno(),
                api.url,
                "scan",
                "submit",
                str(report),
                "--output",
                "json",
                unbuffered=unbuffered,
            )
        finally:
            head.stdin.close()
            head.wait(timeout=30)

    assert len(json.dumps(big)) > 1 << 17  # a pipe holds 64 KiB: the CLI is still writing when head exits
    assert result.stderr.decode() == ""
    assert result.returncode == EXIT_GATE_FAILED


@pytest.mark.parametrize(
    "args",
    [
        ("scan", "submit", "{report}"),
        ("scan", "submit", "{report}", "--output", "json"),
        ("--help",),
        ("--version",),
    ],
)
@pytest.mark.parametrize("unbuffered", [False, True])
def test_any_output_into_a_closed_pipe_ends_without_a_traceback(
    report: Path, args: tuple[str, ...], unbuffered: bool
) -> None:
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before the first byte: every write fails with EPIPE
    try:
        with stub_api(Reply(201, BLOCKED)) as api:
            result = _run_cli_into(
                write_end, api.url, *(arg.format(report=report) for arg in args), unbuffered=unbuffered
            )
    finally:
        os.close(write_end)

    stderr = result.stderr.decode()
    assert "Traceback" not in stderr
    assert "Exception ignored" not in stderr
    assert stderr == ""
    assert result.returncode == (EXIT_GATE_FAILED if args[0] == "scan" else 0)


# 4. --version; 5. top-level help with an example per command.


def test_version_prints_the_installed_distributions_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["--version"])

    assert exit_info.value.code == 0
    assert capsys.readouterr().out == f"riskgate {metadata.version('riskgate')}\n"


def test_version_falls_back_to_the_package_attribute_when_not_installed(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def not_installed(name: str) -> str:
        raise metadata.PackageNotFoundError(name)

    monkeypatch.setattr(metadata, "version", not_installed)
    monkeypatch.setattr(riskgate, "__version__", "9.8.7", raising=False)

    with pytest.raises(SystemExit) as exit_info:
        cli.main(["--version"])

    assert exit_info.value.code == 0
    assert capsys.readouterr().out == "riskgate 9.8.7\n"


def test_version_as_the_console_script_runs_it() -> None:
    script = Path(sys.executable).with_name("riskgate")
    if not script.exists():
        pytest.skip("the riskgate console script is not installed beside this Python")

    result = subprocess.run([str(script), "--version"], capture_output=True, text=True, check=False)

    assert (result.returncode, result.stdout, result.stderr) == (
        0,
        f"riskgate {metadata.version('riskgate')}\n",
        "",
    )


def _leaf_commands(parser: argparse.ArgumentParser, prefix: str = "riskgate") -> list[str]:
    subparsers = [action for action in parser._actions if isinstance(action, argparse._SubParsersAction)]
    if not subparsers:
        return [prefix]
    return [
        command
        for name, child in subparsers[0].choices.items()
        for command in _leaf_commands(child, f"{prefix} {name}")
    ]


def test_top_level_help_has_an_example_per_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["--help"])

    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    commands = _leaf_commands(cli.build_parser())
    assert commands == ["riskgate admin create-token", "riskgate scan submit"]
    examples = text[text.index("examples:") :]
    for command in commands:
        assert f"\n  {command} " in examples, command
    assert "--version" in text
    assert "exit codes: 0 passed, 1 gate failed, 2" in text
    # RawDescriptionHelpFormatter keeps the examples' lines as written
    assert "\n  riskgate scan submit report.json --fail-on block\n" in examples


@pytest.mark.parametrize("command", [["scan", "submit"], ["admin", "create-token"]])
def test_each_commands_help_has_an_example(command: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli.main([*command, "--help"])

    assert exit_info.value.code == 0
    assert f"\n  riskgate {' '.join(command)} " in capsys.readouterr().out
