"""Judging a stored image: when its findings change (the table's stream), when the policies change
(re-evaluation, `force`), and when a CI pipeline asks for its verdict."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from riskgate.clock import iso, system_now
from riskgate.domain.acceptances import AcceptancePeriod, Applied, RiskAcceptance, apply_acceptances
from riskgate.domain.evaluation import Verdict, evaluate
from riskgate.domain.findings import Finding
from riskgate.domain.images import findings_scan_id
from riskgate.domain.policies import AssurancePolicy
from riskgate.domain.triggers import Fired, event_fields, image_triggers
from riskgate.services.policies import PoliciesFor, policies_used

# The acceptances whose scope contains an image (its summary); see services.acceptances.
AcceptancesFor = Callable[[Mapping[str, Any]], Sequence[RiskAcceptance]]
# Called for each until-fixed acceptance whose finding now has a fixed version in the image.
FixAvailable = Callable[[RiskAcceptance], object]


def no_acceptances(image: Mapping[str, Any]) -> list[RiskAcceptance]:
    return []


@dataclass(frozen=True)
class Judgement:
    """A verdict and what it was computed with: the decision record."""

    verdict: Verdict
    applied: Applied
    policies: list[AssurancePolicy]

    def decision(self) -> dict[str, Any]:
        return {"policies": policies_used(self.policies), "acceptances": self.applied.record()}


def judge(
    findings: Iterable[Finding],
    policies: Sequence[AssurancePolicy],
    acceptances: Iterable[RiskAcceptance],
    now: datetime,
) -> Judgement:
    """The one way an image is judged: acceptances in force at `now` take their findings out, the
    policies judge the rest."""
    applied = apply_acceptances(findings, acceptances, now)
    return Judgement(evaluate(applied.effective, policies), applied, list(policies))


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
        acceptances: list[dict[str, Any]] | None = None,
        accepted: int = 0,
        events: list[dict[str, Any]] | None = None,
        trigger_fingerprints: dict[str, str] | None = None,
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
    store: EvaluationStore,
    image_id: str,
    *,
    policies_for: PoliciesFor,
    acceptances_for: AcceptancesFor = no_acceptances,
    now: datetime | None = None,
    on_fix_available: FixAvailable | None = None,
    force: bool = False,
) -> Evaluation | None:
    """Recompute the image's status from its stored current findings, the policies that apply to it and
    the acceptances in force, and keep it with what it was computed with.

    Reads the summary again rather than trusting the stream record: a newer scan may have replaced the
    findings since. Storing is conditional on the scan evaluated still being current. Without `force`
    a scan already evaluated is left alone (the stream's case) but for the until-fixed acceptances whose
    fix it shows, handed over again in case an earlier delivery stored the verdict and failed before
    ending them; with `force`, it is judged again (after a policy or an acceptance changed). Until-fixed
    acceptances whose fix has appeared are handed to `on_fix_available` once the verdict (which already
    counts their findings) is stored.
    """
    image = store.get_image(image_id)
    if image is None or not image.get("current_scan_id"):
        return None
    scan_id = image["current_scan_id"]
    moment = now or system_now()
    if image.get("evaluated_scan_id") == scan_id and not force:
        if on_fix_available is not None:
            _hand_over_fixes_again(store, image, scan_id, acceptances_for, moment, on_fix_available)
        return None
    findings = store.iter_findings(findings_scan_id(image) or scan_id)
    judgement = judge(findings, policies_for(image), acceptances_for(image), moment)
    decision = judgement.decision()
    fired = image_triggers(judgement.applied.effective, judgement.verdict)
    events = _events_to_record(image, scan_id, fired, judgement, moment)
    stored = store.store_evaluation(
        image_id,
        scan_id,
        judgement.verdict.status,
        judgement.verdict.as_dict(),
        iso(moment),
        decision["policies"],
        acceptances=decision["acceptances"],
        accepted=judgement.applied.accepted_count,
        events=events,
        trigger_fingerprints={f.trigger.value: f.fingerprint for f in fired},
    )
    if stored and on_fix_available is not None:
        for acceptance in judgement.applied.fix_available:
            on_fix_available(acceptance)
    return Evaluation(image_id=image_id, scan_id=scan_id, status=judgement.verdict.status, stored=stored)


def _hand_over_fixes_again(
    store: EvaluationStore,
    image: Mapping[str, Any],
    scan_id: str,
    acceptances_for: AcceptancesFor,
    now: datetime,
    on_fix_available: FixAvailable,
) -> None:
    """The scan is judged already, but the delivery that stored its verdict may have failed right after,
    before the until-fixed acceptances whose fix it shows were ended: its stream record, delivered again,
    would then find nothing to do and the acceptances would stay in force for good. So a repeat hands them
    over again (ending one is conditional: an ended one is not ended twice). Findings are read only when an
    until-fixed acceptance in force covers the image."""
    acceptances = acceptances_for(image)
    if not any(a.period is AcceptancePeriod.UNTIL_FIXED and a.in_force(now) for a in acceptances):
        return
    findings = store.iter_findings(findings_scan_id(image) or scan_id)
    for acceptance in apply_acceptances(findings, acceptances, now).fix_available:
        on_fix_available(acceptance)


def _events_to_record(
    image: Mapping[str, Any], scan_id: str, fired: list[Fired], judgement: Judgement, now: datetime
) -> list[dict[str, Any]]:
    """The trigger events of this evaluation: all it fires for a new scan; for a scan judged again (a
    policy or an acceptance changed), only the triggers whose causes changed — an unchanged image does
    not fire again because a policy elsewhere in its scope was edited."""
    new_scan = image.get("evaluated_scan_id") != scan_id
    before = image.get("trigger_fingerprints") or {}
    counts = {**(image.get("counts") or {}), "accepted": judgement.applied.accepted_count}
    return [
        {
            **event_fields(f, image, judgement.verdict, counts),
            "id": _event_id(image, scan_id, f, before.get(f.trigger.value)),
            "occurred_at": iso(now),
        }
        for f in fired
        if new_scan or before.get(f.trigger.value) != f.fingerprint
    ]


def _event_id(image: Mapping[str, Any], scan_id: str, fired: Fired, before: str | None) -> str:
    """The same for a repeat of this very evaluation (a retried stream record: the image as it was read),
    different for any other — so rewriting it is harmless and nothing is announced twice."""
    basis = "|".join(
        (
            str(image["image_id"]),
            scan_id,
            str(image.get("evaluated_scan_id")),
            fired.trigger.value,
            fired.fingerprint,
            str(before),
        )
    )
    return "evt-" + hashlib.sha256(basis.encode()).hexdigest()[:24]


@dataclass(frozen=True)
class CurrentVerdict:
    scan_id: str
    verdict: dict[str, Any]
    policies: list[dict[str, Any]]
    acceptances: list[dict[str, Any]]
    evaluated_at: str


def current_verdict(
    store: EvaluationStore,
    image: Mapping[str, Any],
    policies_for: PoliciesFor,
    acceptances_for: AcceptancesFor = no_acceptances,
    now: datetime | None = None,
) -> CurrentVerdict:
    """The verdict on the image's current scan under the policies and acceptances in force now.

    The stored verdict answers when it was computed with exactly the policies (ids and versions) that
    apply now and the same acceptances in force: then it cannot differ, and no finding is read.
    Otherwise — a policy changed, an acceptance began or ended, and the re-evaluation has not reached
    this image yet — it is computed afresh, so a CI gate never passes on a stale verdict. Nothing is
    written: asking is not judging again.
    """
    moment = now or system_now()
    scan_id = str(image["current_scan_id"])
    policies = list(policies_for(image))
    used = policies_used(policies)
    in_force = [a for a in acceptances_for(image) if a.in_force(moment)]
    stored = image.get("verdict")
    recorded = image.get("acceptances")
    if (
        stored is not None
        and _same_policies(image.get("policies"), used)
        and _same_acceptances(recorded, in_force)
    ):
        evaluated_at = image.get("evaluated_at") or image.get("last_scan_at") or iso(moment)
        return CurrentVerdict(scan_id, stored, used, list(recorded or []), evaluated_at)
    judgement = judge(store.iter_findings(findings_scan_id(image) or scan_id), policies, in_force, moment)
    decision = judgement.decision()
    return CurrentVerdict(scan_id, judgement.verdict.as_dict(), used, decision["acceptances"], iso(moment))


def _same_policies(stored: Any, used: list[dict[str, Any]]) -> bool:
    if not isinstance(stored, list):
        return False  # judged before policies were recorded

    def key(p: Mapping[str, Any]) -> tuple[str, int]:
        return str(p.get("id")), int(p.get("version") or 0)

    return sorted(map(key, stored)) == sorted(map(key, used))


def _same_acceptances(recorded: Any, in_force: Sequence[RiskAcceptance]) -> bool:
    """Whether the verdict was computed with the acceptances in force now (by id and end)."""
    if not isinstance(recorded, list):
        return not in_force

    def key(summary: Mapping[str, Any]) -> tuple[str, str]:
        return str(summary.get("acceptance_id")), str(summary.get("expires_at"))

    return sorted(map(key, recorded)) == sorted(key(a.summary()) for a in in_force)
