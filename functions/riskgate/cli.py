"""The `riskgate` command.

`riskgate admin create-token --table TABLE` writes an administrator token straight into the table with
the operator's AWS credentials — how the first token of a fresh deployment is made.

`riskgate scan submit REPORT` is the CI gate: it uploads a scanner report to the API, prints the
verdict and exits 0 (pass), 1 (gate failed) or 2 (usage, auth or transport error). It runs on the
standard library alone (`riskgate.client`); only the admin command imports boto3, and only when used.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from riskgate.client import (
    EXIT_ERROR,
    FAIL_ON_CHOICES,
    RetryPolicy,
    ScanRequest,
    SubmitError,
    exit_code_for,
    render_verdict,
    submit_report,
)

EXIT_OK = 0
EXIT_USAGE = 2
STDIN_REPORT = "-"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="riskgate", description="Riskgate command-line tool")
    commands = parser.add_subparsers(dest="command", required=True)

    admin = commands.add_parser("admin", help="operator commands that use your AWS credentials")
    admin_commands = admin.add_subparsers(dest="admin_command", required=True)
    create = admin_commands.add_parser(
        "create-token", help="create an administrator token (user 'admin', role administrator on global)"
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
            "Upload a Trivy, Grype or CycloneDX JSON report (gzip-compressed) to RISKGATE_URL with "
            "RISKGATE_TOKEN. Exit codes: 0 passed, 1 gate failed, 2 usage, auth or transport error."
        ),
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
    submit.add_argument("--url", help="API base URL (default: $RISKGATE_URL)")
    submit.add_argument("--token", help="API token (default: $RISKGATE_TOKEN; prefer the variable)")
    submit.add_argument(
        "--max-attempts",
        type=positive_int,
        default=RetryPolicy.max_attempts,
        help="tries on 409, 429, 5xx and network errors, all under one Idempotency-Key (default: 5)",
    )
    submit.add_argument(
        "--retry-base-seconds",
        type=non_negative_float,
        default=RetryPolicy.base_seconds,
        help="first back-off delay; doubles per retry up to 8 s, with jitter",
    )
    submit.add_argument(
        "--timeout", type=non_negative_float, default=60.0, help="seconds per request (default: 60)"
    )
    return parser


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def non_negative_float(text: str) -> float:
    value = float(text)
    if not value >= 0:  # also refuses nan
        raise argparse.ArgumentTypeError("must be a number of seconds, 0 or more")
    return value


def positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:  # 0 would make the socket non-blocking, not patient
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


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "admin" and args.admin_command == "create-token":
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            secret = create_admin_token(args.table, args.name, args.region)
        except (BotoCoreError, ClientError) as error:
            print(f"riskgate: could not create the token: {error}", file=sys.stderr)
            return 1
        print(secret)
        print("Keep this token: it is shown only once.", file=sys.stderr)
        return EXIT_OK
    if args.command == "scan" and args.scan_command == "submit":
        return submit_scan(args)
    return EXIT_USAGE


def read_report(path: str) -> bytes:
    if path == STDIN_REPORT:
        return sys.stdin.buffer.read()
    try:
        return Path(path).read_bytes()
    except FileNotFoundError as error:
        raise SubmitError(f"report file not found: {path}") from error
    except OSError as error:
        raise SubmitError(f"cannot read the report {path}: {error.strerror}") from error


def submit_scan(args: argparse.Namespace) -> int:
    # CI systems hand secrets over as environment variables; flags win so one can test by hand.
    base_url = args.url or os.environ.get("RISKGATE_URL", "")
    token = args.token or os.environ.get("RISKGATE_TOKEN", "")
    missing = [name for name, value in (("RISKGATE_URL", base_url), ("RISKGATE_TOKEN", token)) if not value]
    if missing:
        print(f"riskgate: {' and '.join(missing)} not set (or pass --url/--token)", file=sys.stderr)
        return EXIT_ERROR
    policy = RetryPolicy(max_attempts=args.max_attempts, base_seconds=args.retry_base_seconds)

    def say_retrying(what: str, delay: float) -> None:
        print(f"riskgate: {what}, retrying in {delay:.1f} s", file=sys.stderr)

    try:
        report = read_report(args.report)
        scan = ScanRequest(base_url, token, report, image=args.image, timeout_seconds=args.timeout)
        answer = submit_report(scan, policy, on_retry=say_retrying)
    except SubmitError as error:
        print(f"riskgate: {error}", file=sys.stderr)
        return EXIT_ERROR
    if args.output == "json":
        print(json.dumps(answer, indent=2))
    else:
        print(render_verdict(answer, args.fail_on))
    return exit_code_for(answer, args.fail_on)


if __name__ == "__main__":
    sys.exit(main())
