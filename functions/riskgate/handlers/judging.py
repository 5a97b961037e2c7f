"""How the handlers judge images: the configured stores wired into the evaluation service.

Shared by the API (scans, verdicts, acceptances), the stream evaluator and the re-evaluator, so that
every path judges with the same policies and acceptances. Make the `*_for` functions once per request
or batch: each reads what it needs once.
"""

from __future__ import annotations

from datetime import datetime

from aws_lambda_powertools import Logger

from riskgate.adapters.acceptances import default_acceptance_store
from riskgate.adapters.access_definitions import load_access_definitions
from riskgate.adapters.policies import default_policy_store
from riskgate.adapters.store import default_store
from riskgate.domain.acceptances import RiskAcceptance
from riskgate.domain.access import ScopeDefinition
from riskgate.services.acceptance_expiry import end_by_fix
from riskgate.services.acceptance_lookup import acceptances_for_images, with_change
from riskgate.services.acceptances import AcceptancesFor, Reevaluate
from riskgate.services.evaluation import Evaluation, evaluate_image
from riskgate.services.policies import PoliciesFor, policies_for_images

logger = Logger(child=True)


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
) -> Evaluation | None:
    """Judge a stored image; until-fixed acceptances whose fix appeared are ended (the stream then
    re-evaluates the other images they covered)."""

    def fix_available(acceptance: RiskAcceptance) -> None:
        ended = end_by_fix(default_acceptance_store(), acceptance, now)
        logger.info("acceptance ended: fix available", acceptance_id=acceptance.id, ended=ended)

    return evaluate_image(
        default_store(),
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
