"""Handlers as local "functions": resolved by their Lambda handler name, invoked with a fresh context."""

from __future__ import annotations

import importlib
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from riskgate_local.lambda_context import LocalLambdaContext, function_arn

Handler = Callable[[Any, Any], Any]

logger = logging.getLogger(__name__)


def resolve_handler(name: str) -> Handler:
    """Import "package.module.function" as Lambda does with a function's handler setting."""
    module_name, _, attribute = name.rpartition(".")
    if not module_name:
        raise ValueError(f"handler name {name!r} is not of the form 'module.function'")
    handler = getattr(importlib.import_module(module_name), attribute)
    if not callable(handler):
        raise TypeError(f"handler {name!r} is not callable")
    return handler


class LocalFunction:
    """One Lambda function: its handler, the settings its context reports, one invocation at a time.

    Invocations are serialized because a warm Lambda container runs one event at a time, and handlers
    rely on it: Powertools' resolver keeps the current event on the module-level app object and the
    logger keeps per-invocation keys. Running two requests through one handler concurrently would mix
    them up in ways AWS never does.
    """

    def __init__(
        self, name: str, handler: Handler | str, *, timeout_seconds: float, memory_mb: int = 512
    ) -> None:
        self.name = name
        self._handler_or_name = handler
        self._handler: Handler | None = handler if callable(handler) else None
        self.timeout_seconds = timeout_seconds
        self.memory_mb = memory_mb
        self._lock = threading.Lock()

    @property
    def arn(self) -> str:
        return function_arn(self.name)

    def load(self) -> Handler:
        """Import the handler now (the stack does at start-up, so an import error stops it there)."""
        if self._handler is None:
            self._handler = resolve_handler(str(self._handler_or_name))
        return self._handler

    def invoke(self, event: Any) -> Any:
        handler = self.load()
        with self._lock:
            # Made once the invocation may run, so waiting for the lock does not eat its remaining time.
            context = LocalLambdaContext(
                function_name=self.name,
                memory_limit_in_mb=str(self.memory_mb),
                timeout_seconds=self.timeout_seconds,
            )
            started = time.monotonic()
            try:
                return handler(event, context)
            finally:
                elapsed = time.monotonic() - started
                # A thread cannot be stopped; say at least that Lambda would have stopped it.
                if elapsed > self.timeout_seconds:
                    logger.warning(
                        "%s ran %.1f s, over its %.0f s timeout: on AWS the invocation would have failed",
                        self.name,
                        elapsed,
                        self.timeout_seconds,
                    )
