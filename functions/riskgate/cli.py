"""The `riskgate` command.

`riskgate admin create-token --table TABLE` writes an administrator token straight into the table with
the operator's AWS credentials — how the first token of a fresh deployment is made.

`riskgate scan submit REPORT` is the CI gate: it uploads a scanner report to the API, prints the
verdict and exits 0 (pass), 1 (gate failed) or 2 (usage, auth or transport error). It runs on the
standard library alone (`riskgate.client`, `riskgate.client_verdict`); only the admin command imports
boto3, and only when used.

Whatever happens, the command ends with an exit code that does not lie (1 only when the gate failed) and
at most one line on stderr per problem: no traceback, and never the token, in any message.
"""

from __future__ import annotations

import argparse
import contextlib
import contextvars
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from riskgate.client import (
    RETRYABLE_STATUSES,
    TOKEN_VARIABLE,
    URL_VARIABLE,
    RetryPolicy,
    ScanRequest,
    SubmitError,
    check_base_url,
    check_token,
    one_line,
    redact,
    submit_report,
    trim_setting,
)
from riskgate.client_verdict import EXIT_ERROR, FAIL_ON_CHOICES, exit_code_for, render_verdict

EXIT_OK = 0
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT, what shells report for Ctrl-C
STDIN_REPORT = "-"
DISTRIBUTION = "riskgate"  # [project].name in pyproject.toml

EPILOG = """\
examples:
  # the CI gate: upload a report, print the verdict, exit 0 passed / 1 gate failed / 2 error
  export RISKGATE_URL=https://<api-id>.execute-api.<region>.amazonaws.com/api
  export RISKGATE_TOKEN=...        # a masked CI secret; never on the command line
  trivy image --format json --output report.json registry.example/shop/api:1.0
  riskgate scan submit report.json --fail-on block

  # the first administrator token of a fresh deployment, with your AWS credentials
  riskgate admin create-token --table <RiskgateTable stack output>

exit codes: 0 passed, 1 gate failed, 2 usage, auth or transport error, 130 interrupted
"""
SUBMIT_EPILOG = """\
examples:
  riskgate scan submit report.json
  riskgate scan submit report.json --fail-on non-compliant --output json
  grype registry.example/shop/api:1.0 -o json | riskgate scan submit - --image registry.example/shop/api:1.0
"""
CREATE_TOKEN_EPILOG = """\
example:
  riskgate admin create-token --table RiskgateStack-Table1234 --region eu-west-1
"""

# The secrets of this run (the token from the environment or --token): redacted from every message.
_secrets: contextvars.ContextVar[tuple[str, ...]] = contextvars.ContextVar("riskgate_secrets", default=())


def say(message: str) -> None:
    """One line on stderr, redacted; a closed stderr is not worth a traceback."""
    with contextlib.suppress(OSError, ValueError):
        print(f"riskgate: {one_line(redact(message, _secrets.get()))}", file=sys.stderr, flush=True)


class Parser(argparse.ArgumentParser):
    """argparse, whose usage errors quote the arguments (a mistyped `--tokn rg_…` included): redacted."""

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {one_line(redact(message, _secrets.get()))}\n")


def installed_version() -> str:
    """The installed distribution's version; riskgate.__version__ when not installed (a bare checkout)."""
    from importlib import metadata

    try:
        return metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        import riskgate

        return str(getattr(riskgate, "__version__", "unknown"))


class VersionAction(argparse.Action):
    """`--version`, looked up only when asked for (importlib.metadata is not free at start-up)."""

    def __init__(self, option_strings: Sequence[str], dest: str = argparse.SUPPRESS, **kwargs: Any) -> None:
        kwargs.setdefault("help", "print riskgate's version and exit")
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, *_: Any) -> NoReturn:
        try:
            print(f"riskgate {installed_version()}", flush=True)
        except BrokenPipeError:  # `riskgate --version | true`: as argparse does for --help
            silence_stdout()
        parser.exit(EXIT_OK)


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="riskgate",
        description="Riskgate command-line tool: the CI gate and the operator's first token.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action=VersionAction)
    commands = parser.add_subparsers(dest="command", required=True, metavar="{admin,scan}")

    admin = commands.add_parser("admin", help="operator commands that use your AWS credentials")
    admin_commands = admin.add_subparsers(dest="admin_command", required=True)
    create = admin_commands.add_parser(
        "create-token",
        help="create an administrator token (user 'admin', role administrator on global)",
        epilog=CREATE_TOKEN_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    create.add_argument("--table", required=True, help="the Riskgate table name (a stack output)")
    create.add_argument("--name", default="bootstrap", help="a name for the token (default: bootstrap)")
    create.add_argument("--region", help="AWS region (default: your AWS configuration's)")

    scan = commands.add_parser("scan", help="CI commands that talk to the Riskgate API")
    scan_commands = scan.add_subparsers(dest="scan_command", required=True)
    submit = scan_commands.add_parser(
        "submit",
        help="upload a scanner report, print the verdict, exit 1 when the gate fails",
        description=(
            "Upload a scanner report (Trivy, trivy k8s, Trivy Operator, Grype, CycloneDX, SARIF, Snyk, "
            "Clair, "
            "Harbor, GitLab; gzip-compressed on the way) to RISKGATE_URL with RISKGATE_TOKEN; reports over "
            "4 MB compressed go through an upload to S3. For a report of several images the gate fails when "
            "any image fails it. Exit codes: 0 passed, 1 gate failed, 2 usage, auth or transport error."
        ),
        epilog=SUBMIT_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    submit.add_argument("report", metavar="REPORT", help="the scanner's JSON report; - reads stdin")
    submit.add_argument("--image", help="registry/repository:tag[@sha256:...] when the report names none")
    submit.add_argument(
        "--fail-on",
        choices=FAIL_ON_CHOICES,
        default="block",
        help="block: the verdict blocks (default); non-compliant: the image is non-compliant; never",
    )
    submit.add_argument("--output", choices=("text", "json"), default="text", help="text (default) or json")
    submit.add_argument(
        "--wait",
        type=non_negative_float,
        default=ScanRequest.wait_seconds,
        help="reports over 4 MB compressed go through an upload: seconds to wait for its verdict "
        "(default: 900); exit 2 when it does not come in time",
    )
    submit.add_argument("--url", help="API base URL (default: $RISKGATE_URL)")
    submit.add_argument("--token", help="API token (default: $RISKGATE_TOKEN; prefer the variable)")
    retried = ", ".join(str(status) for status in sorted(RETRYABLE_STATUSES))
    submit.add_argument(
        "--max-attempts",
        type=positive_int,
        default=RetryPolicy.max_attempts,
        help=f"tries on {retried} and network errors, all under one Idempotency-Key (default: 5)",
    )
    submit.add_argument(
        "--retry-base-seconds",
        type=non_negative_float,
        default=RetryPolicy.base_seconds,
        help="first back-off delay; doubles per retry up to 8 s, with jitter; Retry-After wins (up to 60 s)",
    )
    submit.add_argument(
        "--max-retry-seconds",
        type=non_negative_float,
        default=RetryPolicy.max_total_seconds,
        help="no new attempt once this many seconds have passed since the first (default: 300)",
    )
    submit.add_argument(
        "--timeout", type=positive_float, default=60.0, help="seconds per request (default: 60)"
    )
    return parser


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def non_negative_float(text: str) -> float:
    value = float(text)
    if not 0 <= value < float("inf"):  # also refuses nan
        raise argparse.ArgumentTypeError("must be a number of seconds, 0 or more")
    return value


def positive_float(text: str) -> float:
    value = float(text)
    if not 0 < value < float("inf"):  # 0 would make the socket non-blocking, not patient
        raise argparse.ArgumentTypeError("must be a number of seconds above 0")
    return value


def create_admin_token(table: str, name: str, region: str | None) -> str:
    import boto3

    from riskgate.adapters.store import Store
    from riskgate.auth.tokens import generate_token

    secret = generate_token()
    client = boto3.client("dynamodb", region_name=region) if region else boto3.client("dynamodb")
    Store(table, client=client).ensure_admin_token(secret, name=name)
    return secret


def secrets_of(argv: Sequence[str]) -> tuple[str, ...]:
    """The token(s) this run may hold: $RISKGATE_TOKEN and any --token value, as given."""
    found = [os.environ.get(TOKEN_VARIABLE, "")]
    for index, argument in enumerate(argv):
        if argument == "--token" and index + 1 < len(argv):
            found.append(argv[index + 1])
        elif argument.startswith("--token="):
            found.append(argument.partition("=")[2])
    return tuple(secret for secret in found if trim_setting(secret))


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command; its exit code. Usage errors, --help and --version exit through SystemExit as
    argparse does. No exception escapes as a traceback."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    reset = _secrets.set(secrets_of(arguments))
    try:
        code = run(arguments)
        flush_stdout()
        return code
    except SystemExit:
        flush_stdout()  # --help | head: the help text is still buffered
        raise
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # stdout went away outside the verdict's output (which handles its own)
        silence_stdout()
        return EXIT_ERROR
    except Exception as error:  # the last line of defence: one line, never exit 1 (the gate's)
        say(f"error: unexpected {type(error).__name__}" + (f": {error}" if str(error) else ""))
        return EXIT_ERROR
    finally:
        _secrets.reset(reset)


def run(argv: Sequence[str]) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "admin" and args.admin_command == "create-token":
        try:
            from botocore.exceptions import BotoCoreError, ClientError
        except ImportError:  # `pip install --no-deps` is enough for the CI gate, not for this
            say("the admin commands need boto3: pip install boto3")
            return EXIT_ERROR

        try:
            secret = create_admin_token(args.table, args.name, args.region)
        except (BotoCoreError, ClientError) as error:
            say(f"could not create the token: {error}")
            return EXIT_ERROR
        print(secret, flush=True)
        say("Keep this token: it is shown only once.")
        return EXIT_OK
    if args.command == "scan" and args.scan_command == "submit":
        return submit_scan(args)
    return EXIT_USAGE


def flush_stdout() -> None:
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        silence_stdout()
    except (OSError, ValueError, AttributeError):  # closed, or no stdout at all
        pass


def silence_stdout() -> None:
    """Python's recipe for a closed pipe (docs.python.org/3/library/signal.html#note-on-sigpipe): point
    stdout at devnull, so that the flush at exit does not fail a second time."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, sys.stdout.fileno())
        finally:
            os.close(devnull)
    except (OSError, ValueError, AttributeError):  # no real file descriptor (a test's capture)
        pass


def emit(text: str) -> None:
    """Write the result to stdout whatever the console's encoding can show (a server's text may not be
    ASCII; failing to print a verdict must not turn it into an error)."""
    encoding = getattr(sys.stdout, "encoding", None) or "utf-8"
    print(text.encode(encoding, errors="replace").decode(encoding), flush=True)


def read_report(path: str) -> bytes:
    if path == STDIN_REPORT:
        return sys.stdin.buffer.read()
    try:
        return Path(path).read_bytes()
    except FileNotFoundError as error:
        raise SubmitError(f"report file not found: {path}") from error
    except OSError as error:
        raise SubmitError(f"cannot read the report {path}: {error.strerror}") from error


def setting(flag_value: str | None, flag: str, variable: str) -> tuple[str, str]:
    """(the name to report, the trimmed value): flags win, so one can test by hand."""
    if flag_value is not None and trim_setting(flag_value):
        return flag, trim_setting(flag_value)
    return variable, trim_setting(os.environ.get(variable, ""))


def submit_scan(args: argparse.Namespace) -> int:
    # CI systems hand secrets over as environment variables, often with the newline of `$(cat file)`.
    url_name, base_url = setting(args.url, "--url", URL_VARIABLE)
    token_name, token = setting(args.token, "--token", TOKEN_VARIABLE)
    missing = [name for name, value in ((URL_VARIABLE, base_url), (TOKEN_VARIABLE, token)) if not value]
    if missing:
        say(f"{' and '.join(missing)} not set (or pass --url/--token)")
        return EXIT_ERROR
    policy = RetryPolicy(
        max_attempts=args.max_attempts,
        base_seconds=args.retry_base_seconds,
        max_total_seconds=args.max_retry_seconds,
    )

    def say_retrying(what: str, delay: float) -> None:
        say(f"{what}, retrying in {delay:.1f} s")

    try:
        base_url = check_base_url(base_url, url_name)
        token = check_token(token, token_name)
        report = read_report(args.report)
        scan = ScanRequest(
            base_url, token, report, image=args.image, timeout_seconds=args.timeout, wait_seconds=args.wait
        )
        answer = submit_report(scan, policy, on_retry=say_retrying, on_upload=say)
    except SubmitError as error:
        say(str(error))
        return EXIT_ERROR
    code = exit_code_for(answer, args.fail_on)
    try:
        emit(json.dumps(answer, indent=2) if args.output == "json" else render_verdict(answer, args.fail_on))
    except BrokenPipeError:  # `| head -1`: the reader has what it wanted; the verdict still decides
        silence_stdout()
    return code


if __name__ == "__main__":
    sys.exit(main())
