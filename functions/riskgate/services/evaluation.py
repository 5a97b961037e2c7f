"""Judging a stored image: when its findings change (the table's stream), when the policies change
(re-evaluation, `force`), and when a CI pipeline asks for its verdict."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from riskgate.domain.evaluation import evaluate
from riskgate.domain.findings import Finding
from riskgate.services.policies import PoliciesFor, policies_used


class EvaluationStore(Protocol):
    def get_image(self, image_id: str) -> dict[str, Any] | None: ...

    def iter_findings(self, scan_id: str) -> Iterator[Finding]: ...

    def store_evaluation(
        self,
        image_id: str,
        scan_id: str,
        status: str,
        verdict: dict[str, Any],
        evaluated_at: str,
        policies: list[dict[str, Any]] | None = None,
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


def evaluate_image(
    store: EvaluationStore, image_id: str, *, policies_for: PoliciesFor, force: bool = False
) -> Evaluation | None:
    """Recompute the image's status from its stored current findings and the policies that apply to
    it, and keep it with the policies used.

    Reads the summary again rather than trusting the stream record: a newer scan may have replaced the
    findings since. Storing is conditional on the scan evaluated still being current. Without `force`
    a scan already evaluated is left alone (the stream's case); with it, it is judged again (after a
    policy changed).
    """
    image = store.get_image(image_id)
    if image is None or not image.get("current_scan_id"):
        return None
    scan_id = image["current_scan_id"]
    if image.get("evaluated_scan_id") == scan_id and not force:
        return None
    policies = list(policies_for(image))
    verdict = evaluate(store.iter_findings(scan_id), policies)
    stored = store.store_evaluation(
        image_id, scan_id, verdict.status, verdict.as_dict(), now_iso(), policies_used(policies)
    )
    return Evaluation(image_id=image_id, scan_id=scan_id, status=verdict.status, stored=stored)


@dataclass(frozen=True)
class CurrentVerdict:
    scan_id: str
    verdict: dict[str, Any]
    policies: list[dict[str, Any]]
    acceptances: list[dict[str, Any]]
    evaluated_at: str


def current_verdict(
    store: EvaluationStore, image: Mapping[str, Any], policies_for: PoliciesFor
) -> CurrentVerdict:
    """The verdict on the image's current scan under the policies in force now.

    The stored verdict answers when it was computed with exactly the policies (ids and versions) that
    apply now: then it cannot differ, and no finding is read. Otherwise — a policy changed and the
    re-evaluation has not reached this image yet — it is computed afresh, so a CI gate never passes on
    a stale verdict. Nothing is written: asking is not judging again.
    """
    scan_id = str(image["current_scan_id"])
    policies = list(policies_for(image))
    used = policies_used(policies)
    stored = image.get("verdict")
    if stored is not None and _same_policies(image.get("policies"), used):
        evaluated_at = image.get("evaluated_at") or image.get("last_scan_at") or now_iso()
        return CurrentVerdict(scan_id, stored, used, list(image.get("acceptances") or []), evaluated_at)
    verdict = evaluate(store.iter_findings(scan_id), policies)
    return CurrentVerdict(scan_id, verdict.as_dict(), used, [], now_iso())


def _same_policies(stored: Any, used: list[dict[str, Any]]) -> bool:
    if not isinstance(stored, list):
        return False  # judged before policies were recorded

    def key(p: Mapping[str, Any]) -> tuple[str, int]:
        return str(p.get("id")), int(p.get("version") or 0)

    return sorted(map(key, stored)) == sorted(map(key, used))


def now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
