"""Re-evaluating an image when its findings change (driven by the table's stream)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from riskgate.domain.evaluation import evaluate
from riskgate.domain.findings import Finding


class EvaluationStore(Protocol):
    def get_image(self, image_id: str) -> dict[str, Any] | None: ...

    def iter_findings(self, scan_id: str) -> Iterator[Finding]: ...

    def store_evaluation(
        self, image_id: str, scan_id: str, status: str, verdict: dict[str, Any], evaluated_at: str
    ) -> bool: ...


@dataclass(frozen=True)
class Evaluation:
    image_id: str
    scan_id: str
    status: str
    stored: bool


def image_to_evaluate(new_image: Mapping[str, Any] | None) -> str | None:
    """The image id when a stream record shows an image whose current findings are not evaluated yet.

    The evaluator's own write (evaluated_scan_id = current_scan_id) returns None here, so it does not
    trigger itself.
    """
    if (
        not new_image
        or new_image.get("sk") != "META"
        or not str(new_image.get("pk", "")).startswith("IMAGE#")
    ):
        return None
    current = new_image.get("current_scan_id")
    if not current or new_image.get("evaluated_scan_id") == current:
        return None
    return str(new_image["pk"]).removeprefix("IMAGE#")


def evaluate_image(store: EvaluationStore, image_id: str) -> Evaluation | None:
    """Recompute the image's status from its stored current findings and keep it.

    Reads the summary again rather than trusting the stream record: a newer scan may have replaced the
    findings since. Storing is conditional on the scan evaluated still being current.
    """
    image = store.get_image(image_id)
    if image is None or not image.get("current_scan_id"):
        return None
    scan_id = image["current_scan_id"]
    if image.get("evaluated_scan_id") == scan_id:
        return None
    verdict = evaluate(store.iter_findings(scan_id))
    evaluated_at = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    stored = store.store_evaluation(image_id, scan_id, verdict.status, verdict.as_dict(), evaluated_at)
    return Evaluation(image_id=image_id, scan_id=scan_id, status=verdict.status, stored=stored)
