"""`make run`: the local stack in the foreground until Ctrl-C or SIGTERM.

Environment: RISKGATE_PORT (8000), RISKGATE_HOST (127.0.0.1), RISKGATE_ADMIN_TOKEN (else a new one),
RISKGATE_AUDIT_RETENTION_DAYS (365: how long security events are locked in the local archive),
RISKGATE_EXPIRY_CHECK_INTERVAL_SECONDS (30: how often the stand-in for the expiry checker's schedule
ticks), RISKGATE_EXPIRY_REMINDER_DAYS (7,1: days before an acceptance's end that get a reminder),
RISKGATE_SINK_PORT (0: any free port; the local HTTP sink that Telegram and local webhooks reach, logged at
start), RISKGATE_TELEGRAM_API_URL (else the sink), RISKGATE_AWS_PORT (0: any free port; the embedded moto
server every AWS call goes to, logged at start: ECR repositories and findings are seeded through it). E-mail
and the sink's requests: GET /_local/outbox.
Standard output carries exactly one line, once everything is ready: the URL and the admin token, so a
script can wait for it. Everything else goes to standard error.
"""

from __future__ import annotations

import io
import logging
import os
import signal
import sys
import threading
from collections.abc import Mapping
from types import FrameType
from typing import Any

from riskgate.resources import (
    DEFAULT_AUDIT_RETENTION_DAYS,
    DEFAULT_EXPIRY_REMINDER_DAYS,
    LOCAL_EXPIRY_CHECK_INTERVAL_SECONDS,
)
from riskgate_local.stack import LocalStack

# Loggers that would print a line for every request moto or botocore serves.
_QUIET_LOGGERS = ("werkzeug", "botocore", "boto3", "urllib3")


def _configure_logging() -> None:
    formatter = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    root_handler = logging.StreamHandler(sys.stderr)
    root_handler.setFormatter(formatter)
    logging.basicConfig(level=logging.INFO, handlers=[root_handler])
    for name in _QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    # A handler of our own, not the root's: Powertools' Logger(service="riskgate") filters the root
    # handlers against every logger whose name *contains* "riskgate", riskgate_local included.
    own_handler = logging.StreamHandler(sys.stderr)
    own_handler.setFormatter(formatter)
    own_logger = logging.getLogger("riskgate_local")
    own_logger.addHandler(own_handler)
    own_logger.setLevel(logging.INFO)
    own_logger.propagate = False


def local_stack_from_environment(environment: Mapping[str, str], **overrides: Any) -> LocalStack:
    """The stack `make run` starts, configured by `environment` (see the module); `overrides` are further
    `LocalStack` arguments (tests replace handlers)."""
    options: dict[str, Any] = {
        "host": environment.get("RISKGATE_HOST", "127.0.0.1"),
        "port": int(environment.get("RISKGATE_PORT", "8000")),
        "admin_token": environment.get("RISKGATE_ADMIN_TOKEN") or None,
        "audit_retention_days": int(
            environment.get("RISKGATE_AUDIT_RETENTION_DAYS") or DEFAULT_AUDIT_RETENTION_DAYS
        ),
        "expiry_check_interval_seconds": float(
            environment.get("RISKGATE_EXPIRY_CHECK_INTERVAL_SECONDS") or LOCAL_EXPIRY_CHECK_INTERVAL_SECONDS
        ),
        "expiry_reminder_days": environment.get(
            "RISKGATE_EXPIRY_REMINDER_DAYS", DEFAULT_EXPIRY_REMINDER_DAYS
        ),
        "telegram_api_url": environment.get("RISKGATE_TELEGRAM_API_URL") or None,
        "sink_port": int(environment.get("RISKGATE_SINK_PORT") or 0),
        "aws_port": int(environment.get("RISKGATE_AWS_PORT") or 0),
    }
    return LocalStack(**(options | overrides))


def main() -> int:
    ready_output = sys.stdout
    if isinstance(ready_output, io.TextIOWrapper):
        # The ready line has a dash outside ASCII; a terminal without UTF-8 must not crash the stack.
        ready_output.reconfigure(errors="replace")
    # Lambda sends a function's output to CloudWatch; here it goes to stderr. Powertools' logger and
    # metrics write to whatever sys.stdout is when they are created, which is after this line.
    sys.stdout = sys.stderr
    _configure_logging()
    logger = logging.getLogger("riskgate_local")

    stop_requested = threading.Event()

    def request_stop(signal_number: int, frame: FrameType | None) -> None:
        logger.info("%s received; stopping", signal.Signals(signal_number).name)
        stop_requested.set()

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)

    stack = local_stack_from_environment(os.environ)
    try:
        stack.start()
    except Exception:
        logger.exception("the local stack failed to start")
        return 1
    try:
        if not stop_requested.is_set():  # a signal during start-up: stop without claiming to run
            ready_line = f"Riskgate is running at {stack.url} — admin token: {stack.admin_token}"
            print(ready_line, file=ready_output, flush=True)
        # A timed wait keeps the main thread returning to the interpreter, where signal handlers run.
        while not stop_requested.wait(0.5):
            pass
    finally:
        stack.stop()
        logger.info("local stack stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
