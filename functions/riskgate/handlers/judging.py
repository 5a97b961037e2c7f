"""How the handlers judge images: the configured stores wired into the evaluation service.

Shared by the API (scans, verdicts, acceptances), the stream evaluator and the re-evaluator, so that
every path judges with the same policies and acceptances. Make the `*_for` functions once per request
or batch: each reads what it needs once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

from aws_lambda_powertools import Logger

from riskgate import metrics
from riskgate.adapters.acceptances import default_acceptance_store
from riskgate.adapters.access_definitions import load_access_definitions
from riskgate.adapters.policies import default_policy_store
from riskgate.adapters.store import default_store
from riskgate.domain.acceptances import RiskAcceptance
from riskgate.domain.access import ScopeDefinition
from riskgate.domain.findings import Finding
from riskgate.resources import METRIC_ACCEPTANCES_EXPIRED
from riskgate.services.acceptance_expiry import end_by_fix
from riskgate.services.acceptance_lookup import acceptances_for_images, with_change
from riskgate.services.acceptances import AcceptancesFor, Reevaluate
from riskgate.services.evaluation import Evaluation, EvaluationStore, evaluate_image
from riskgate.services.policies import PoliciesFor, policies_for_images

logger = Logger(child=True)

# Told the status and the accepted findings' count of each verdict an evaluation stored.
VerdictStored = Callable[[str, int], None]


def scope_definitions(scope_ids: set[str]) -> dict[str, ScopeDefinition]:
    """Scopes by id, in one BatchGetItem (those that no longer exist are left out)."""
    if not scope_ids:
        return {}
    store = default_store()
    _, scopes = load_access_definitions(store.client, store.table_name, set(), scope_ids)
    return scopes


def policies_for() -> PoliciesFor:
    return policies_for_images(default_policy_store())


def acceptances_for() -> AcceptancesFor:
    return acceptances_for_images(default_acceptance_store(), scope_definitions)


def evaluate(
    image_id: str,
    *,
    now: datetime,
    policies: PoliciesFor,
    acceptances: AcceptancesFor,
    force: bool,
    on_stored: VerdictStored | None = None,
) -> Evaluation | None:
    """Judge a stored image; until-fixed acceptances whose fix appeared are ended (the stream then
    re-evaluates the other images they covered), each counted as AcceptancesExpired. `on_stored` is told
    what a stored verdict says (the stream evaluator counts it)."""

    def fix_available(acceptance: RiskAcceptance) -> None:
        ended = end_by_fix(default_acceptance_store(), acceptance, now)
        logger.info("acceptance ended: fix available", acceptance_id=acceptance.id, ended=ended)
        if ended:  # a repeated hand-over ends nothing: counted once
            metrics.count(METRIC_ACCEPTANCES_EXPIRED)

    store: EvaluationStore = default_store()
    return evaluate_image(
        store if on_stored is None else _TellingStore(store, on_stored),
        image_id,
        policies_for=policies,
        acceptances_for=acceptances,
        now=now,
        on_fix_available=fix_available,
        force=force,
    )


def reevaluate_now(now: datetime) -> Reevaluate:
    """What accepting or revoking calls to re-judge the image it names before answering."""

    def reevaluate(image_id: str, include: RiskAcceptance | None, exclude: str | None) -> None:
        evaluate(
            image_id,
            now=now,
            policies=policies_for(),
            acceptances=with_change(acceptances_for(), include, exclude),
            force=True,
        )

    return reevaluate


class _TellingStore:
    """The evaluation store, telling `on_stored` the status and accepted count of each verdict it stores
    (the service's Evaluation carries the status, not the accepted count)."""

    def __init__(self, store: EvaluationStore, on_stored: VerdictStored) -> None:
        self._store = store
        self._on_stored = on_stored

    def get_image(self, image_id: str) -> dict[str, Any] | None:
        return self._store.get_image(image_id)

    def iter_findings(self, scan_id: str) -> Iterator[Finding]:
        return self._store.iter_findings(scan_id)

    def store_evaluation(
        self,
        image_id: str,
        scan_id: str,
        status: str,
        verdict: dict[str, Any],
        evaluated_at: str,
        policies: list[dict[str, Any]] | None = None,
        acceptances: list[dict[str, Any]] | None = None,
        accepted: int = 0,
        events: list[dict[str, Any]] | None = None,
        trigger_fingerprints: dict[str, str] | None = None,
    ) -> bool:
        stored = self._store.store_evaluation(
            image_id,
            scan_id,
            status,
            verdict,
            evaluated_at,
            policies,
            acceptances=acceptances,
            accepted=accepted,
            events=events,
            trigger_fingerprints=trigger_fingerprints,
        )
        if stored:
            self._on_stored(status, accepted)
        return stored
