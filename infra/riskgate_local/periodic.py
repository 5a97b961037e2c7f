"""Background tasks that run an action every few seconds: the stream poller now; later the local
stand-ins for EventBridge Scheduler (a handler on a schedule) and an SES outbox can use the same hook."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

logger = logging.getLogger(__name__)


class PeriodicTask:
    """Runs `action` at once and then every `interval_seconds` on a daemon thread until stopped.

    An exception from the action is logged and the task goes on: one bad round must not silently end
    the stream polling (or a schedule) for the rest of the session.
    """

    def __init__(self, name: str, interval_seconds: float, action: Callable[[], object]) -> None:
        if interval_seconds <= 0:
            raise ValueError("interval_seconds must be positive")
        self.name = name
        self.interval_seconds = interval_seconds
        self._action = action
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError(f"periodic task {self.name} was already started")
        self._thread = threading.Thread(target=self._run, name=f"riskgate-local-{self.name}", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Ask the task to stop and wait for the round in progress to finish."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                logger.warning("periodic task %s did not stop within %.0f s", self.name, timeout)

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                self._action()
            except Exception:
                logger.exception(
                    "periodic task %s failed; it runs again in %.1f s", self.name, self.interval_seconds
                )
            self._stopping.wait(self.interval_seconds)
