"""The expiry checker: EventBridge Scheduler's tick → due acceptances expired, due reminders recorded.
Wiring only (riskgate.services.acceptance_expiry.run_expiry_check).

The event is the schedule's Input, `{"source", "detail-type", "time": "<aws.scheduler.scheduled-time>"}`:
its `time` is "now" for the run, so a delayed or retried invocation judges as of the moment it was
scheduled for. A run repeated for the same time writes nothing twice (every write is conditional).
Each run emits the acceptances it ended as AcceptancesExpired (0 included: the run happened).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from riskgate import metrics
from riskgate.adapters.acceptances import default_acceptance_store
from riskgate.clock import parse_iso, system_now
from riskgate.resources import METRIC_ACCEPTANCES_EXPIRED
from riskgate.services.acceptance_expiry import run_expiry_check

logger = Logger()


def scheduled_time(event: Any) -> datetime:
    """The run's "now": the event's `time`; the system clock when the event carries none.

    A `time` that is present but not an ISO time with a zone raises ValueError: the invocation fails, so
    Lambda retries it and then sends it to the dead-letter queue, where someone sees it (guessing a
    time instead could expire acceptances early).
    """
    value = event.get("time") if isinstance(event, dict) else None
    if value is None or value == "":
        logger.warning("the scheduled event carries no time; using the system clock")
        return system_now()
    if not isinstance(value, str):
        raise ValueError(f"the scheduled event's time is {type(value).__name__}, not an ISO time")
    return parse_iso(value)


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    now = scheduled_time(event)
    run = run_expiry_check(default_acceptance_store(), now)
    # Those it ended only: a repeated run finds them done (`skipped`) and does not count them again.
    metrics.count(METRIC_ACCEPTANCES_EXPIRED, run.expired)
    result = run.as_dict()
    logger.info("expiry check done", **result)
    return result
