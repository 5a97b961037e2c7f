"""Business figures as CloudWatch metrics: Powertools Metrics in embedded metric format (EMF), one JSON
line on stdout that CloudWatch Logs turns into metrics (no log parsing, no PutMetricData call).

Every figure is a Count in the namespace `METRICS_NAMESPACE` with the one dimension `service` =
`METRICS_SERVICE`; the names are declared in `riskgate.resources` (the dashboard graphs the same ones).
The handlers record them, never the domain::

    metrics.count(METRIC_SCANS_INGESTED, len(received.scans))

Inside a handler wrapped by `per_invocation` (the batch consumers), the figures of all its records are
added up and emitted once, as one EMF line, when the invocation ends — whether it returns or raises, so
what was done before a failure is counted. Outside one (an API request), a figure is emitted at once.

Recording a figure never fails the business operation: an error of the metrics is logged, not raised.
Powertools is imported on first emission, so that importing this module costs nothing (every function
loads Powertools anyway for its logger; then the import is free).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, TypeVar

from riskgate.resources import METRICS_NAMESPACE, METRICS_SERVICE

if TYPE_CHECKING:
    from aws_lambda_powertools import Logger

Handler = TypeVar("Handler", bound=Callable[..., Any])

# The figures of the invocation under way (None: outside `per_invocation`, each is emitted at once). A
# context variable, not a global: a thread of its own (a local runner's poller) collects its own figures.
_collected: ContextVar[dict[str, float] | None] = ContextVar("riskgate_metrics", default=None)


def count(name: str, value: float = 1) -> None:
    """Add `value` to the figure `name` (one of `resources.BUSINESS_METRICS`); never raises."""
    try:
        collected = _collected.get()
        if collected is None:
            emit({name: value})
        else:
            collected[name] = collected.get(name, 0) + value
    except Exception:
        _failed("business metric not recorded", metric=name)


@contextmanager
def collected() -> Iterator[None]:
    """The figures counted inside emitted once, as one EMF line, on the way out (also when it raises).
    Nested inside another, it adds to the outer one."""
    if _collected.get() is not None:
        yield
        return
    token = _collected.set({})
    try:
        yield
    finally:
        figures = _collected.get() or {}
        _collected.reset(token)
        emit(figures)


def per_invocation(handler: Handler) -> Handler:
    """A Lambda handler whose figures are emitted once per invocation (`collected`), not once a record."""

    @functools.wraps(handler)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with collected():
            return handler(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def emit(figures: Mapping[str, float]) -> None:
    """One EMF line with every figure (nothing when there is none); never raises. A figure Powertools
    refuses (a bad name or value) is logged and left out; the others are emitted."""
    if not figures:
        return
    try:
        from aws_lambda_powertools.metrics import EphemeralMetrics, MetricUnit

        # Ephemeral: its own metric set, not the one Powertools' `Metrics` shares between all instances.
        metrics = EphemeralMetrics(namespace=METRICS_NAMESPACE, service=METRICS_SERVICE)
        for name, value in figures.items():
            try:
                metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)
            except Exception:
                _failed("business metric not recorded", metric=name)
        if metrics.metric_set:
            metrics.flush_metrics()
    except Exception:
        _failed("business metrics not emitted", metrics=list(figures))


def _failed(message: str, **fields: Any) -> None:
    """Log a failure of the metrics with its stack; not even a failing log may fail the caller."""
    with suppress(Exception):
        _logger().exception(message, **fields)


@functools.cache
def _logger() -> Logger:
    from aws_lambda_powertools import Logger

    return Logger(child=True)
