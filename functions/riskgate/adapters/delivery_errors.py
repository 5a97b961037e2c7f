"""The ways one delivery can fail, shared by `riskgate.adapters.channels` (which says when each is raised)
and `riskgate.adapters.outbound_http`, and `one_line`, which keeps what they say fit for the delivery log.
Callers import the errors from `riskgate.adapters.channels`, with `deliver`.
"""

from __future__ import annotations

# What the delivery log keeps of a receiver's answer.
MAX_DETAIL_LENGTH = 300


class DeliveryError(Exception):
    """A delivery that did not happen; the message is for the delivery log. `status`: the HTTP status
    the receiver answered, when it answered at all (the integration test says no more than that)."""

    def __init__(self, detail: str, *, status: int | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.status = status


class TransientDeliveryError(DeliveryError):
    """Try again later: after `retry_after` seconds when the receiver asked for it, else with backoff."""

    def __init__(self, detail: str, retry_after: float | None = None, *, status: int | None = None) -> None:
        super().__init__(detail, status=status)
        self.retry_after = retry_after


class PermanentDeliveryError(DeliveryError):
    """Trying again cannot help: the integration or the message must change."""


class DestinationNotAllowed(PermanentDeliveryError):
    """The webhook's host is, or resolves to, an address nothing may be sent to (see the docstring
    of `riskgate.adapters.channels`); nothing was sent."""


def one_line(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= MAX_DETAIL_LENGTH else text[: MAX_DETAIL_LENGTH - 1] + "…"
