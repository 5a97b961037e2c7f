"""Re-evaluating every image in a policy's scope after the policy changed: plan, then work in chunks.

The planner reads one stream record of a policy item, decides whether verdicts can differ because of
it, pages through the images in the scope(s) concerned and sends their ids in chunks to a queue. The
re-evaluator works one chunk at a time and counts it done exactly once. Progress lives on the policy
item as `reevaluation = {version, requested_at, total, done, finished_at}`.

Why the steps are in this order:
- `begin` writes the progress record (total unknown) *before* any chunk is sent, so a fast worker
  always finds the version it counts against.
- `record_total` comes after the last chunk; `finish_if_done` is tried by the planner after it and by
  every worker after its chunk, so whichever of them comes last sets `finished_at`.
- A plan for an older version never touches a newer version's progress (every write is conditional on
  the version); its chunks are still worked, since re-evaluating with the current policies is always
  right, only not counted.

Plain logic; every port is passed in. No AWS here.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

from riskgate import clock
from riskgate.domain.acceptances import AcceptanceScope, AcceptanceStatus, ScopeKind
from riskgate.domain.access import GLOBAL, ScopeDefinition
from riskgate.domain.permissions import GLOBAL_SCOPE
from riskgate.resources import REEVALUATION_CHUNK_SIZE

# Attributes of a policy item whose change cannot change any verdict. `reevaluation` is the progress
# this module writes: counting a chunk must not plan another re-evaluation. A description edit or the
# bookkeeping of an edit (version, who, when) leaves every condition as it was. (Verdicts carry the
# policy's version: after a description-only edit they keep naming the previous one.)
NON_MATERIAL_ATTRIBUTES = frozenset(
    {"reevaluation", "description", "version", "updated_at", "updated_by", "uses_version"}
)


@dataclass(frozen=True)
class PolicyChange:
    """A policy write that can change verdicts: which images to re-evaluate, under which version."""

    policy_id: str
    # The version the progress is recorded against: the new item's, or the deleted item's last one.
    version: int
    # Scope ids to cover: the old and the new one when the scope changed.
    scope_ids: tuple[str, ...]
    # Whether the item still exists to carry the progress (not after a delete).
    tracks_progress: bool


def policy_change(
    event_name: str | None, old_image: Mapping[str, Any] | None, new_image: Mapping[str, Any] | None
) -> PolicyChange | None:
    """What a stream record of a policy item asks for; None when no verdict can change.

    Create, delete and any change other than `NON_MATERIAL_ATTRIBUTES` re-evaluate. A policy item
    without a `scope` (a tombstone of the default policy may carry none) counts as global, as the
    default policy is: erring wide re-evaluates too much, never too little.
    """
    current = new_image if event_name != "REMOVE" else None
    item = current or old_image
    if not item or item.get("sk") != "META" or not str(item.get("pk", "")).startswith("POLICY#"):
        return None
    if old_image and current and not _material_difference(old_image, current):
        return None
    scope_ids = tuple(dict.fromkeys(_scope_id(image) for image in (old_image, current) if image))
    return PolicyChange(
        policy_id=str(item["pk"]).removeprefix("POLICY#"),
        version=int(item.get("version") or 0),
        scope_ids=scope_ids,
        tracks_progress=current is not None,
    )


def _material_difference(old: Mapping[str, Any], new: Mapping[str, Any]) -> bool:
    names = (set(old) | set(new)) - NON_MATERIAL_ATTRIBUTES
    return any(old.get(name) != new.get(name) for name in names)


def _scope_id(image: Mapping[str, Any]) -> str:
    return str(image.get("scope") or GLOBAL_SCOPE)


@dataclass(frozen=True)
class ImageRow:
    """What the planner needs of an image to decide whether a scope contains it."""

    image_id: str
    registry: str
    repository: str
    tags: tuple[str, ...] = ()


@dataclass(frozen=True)
class ChunkMessage:
    """One work message: up to `REEVALUATION_CHUNK_SIZE` image ids of one policy version's plan (or of a
    risk acceptance's, which tracks no progress)."""

    # The policy whose change is applied — or the risk acceptance (`acc-…`).
    policy_id: str
    policy_version: int
    chunk: int
    image_ids: tuple[str, ...]
    # Whether the policy item carries this plan's progress (False after a delete).
    tracks_progress: bool = True

    def to_body(self) -> str:
        return json.dumps(
            {
                "policy_id": self.policy_id,
                "policy_version": self.policy_version,
                "chunk": self.chunk,
                "image_ids": list(self.image_ids),
                "tracks_progress": self.tracks_progress,
            },
            separators=(",", ":"),
        )

    @classmethod
    def from_body(cls, body: str) -> ChunkMessage:
        raw = json.loads(body)
        return cls(
            policy_id=str(raw["policy_id"]),
            policy_version=int(raw["policy_version"]),
            chunk=int(raw["chunk"]),
            image_ids=tuple(str(image_id) for image_id in raw["image_ids"]),
            tracks_progress=bool(raw.get("tracks_progress", True)),
        )


class ChunkCount(StrEnum):
    COUNTED = "counted"
    # Counted by an earlier delivery of the same message.
    REPEATED = "repeated"
    # The policy moved on to a newer version (or is gone): this plan's progress no longer shows.
    SUPERSEDED = "superseded"


class Progress(Protocol):
    """The `reevaluation` record on the policy item; every write conditional on the plan's version."""

    def begin(self, policy_id: str, version: int, requested_at: str) -> bool: ...

    def record_total(self, policy_id: str, version: int, total: int) -> bool: ...

    def mark_chunk_done(self, policy_id: str, version: int, chunk: int) -> ChunkCount: ...

    def finish_if_done(self, policy_id: str, version: int, finished_at: str) -> bool: ...


# One page of images (gsi2 `IMAGES`) from a cursor (None: the first); the next cursor, None at the end.
ListImagesPage = Callable[[str | None], tuple[list[ImageRow], str | None]]
SendChunks = Callable[[Sequence[ChunkMessage]], None]
# A scope by id (None when it no longer exists); the global scope is not asked for.
ScopeFor = Callable[[str], ScopeDefinition | None]


def now_iso() -> str:
    return clock.now_iso()


@dataclass(frozen=True)
class PlanResult:
    policy_id: str
    version: int
    images: int
    chunks: int
    pages: int
    finished: bool


def plan(
    change: PolicyChange,
    *,
    list_images_page: ListImagesPage,
    send_chunks: SendChunks,
    progress: Progress,
    scope_for: ScopeFor,
    chunk_size: int = REEVALUATION_CHUNK_SIZE,
    now: Callable[[], str] = now_iso,
) -> PlanResult:
    """Send every image of the change's scope(s) to the work queue, in chunks, and record the total.

    Chunks are sent page by page, so memory stays bounded by one page. A repeated plan of the same
    version (the stream record redelivered) keeps the progress recorded so far and sends the chunks
    again: those already counted are not counted twice (chunk markers), the rest complete the count.
    """
    scopes = [scope for scope in (_resolve(scope_id, scope_for) for scope_id in change.scope_ids) if scope]
    if change.tracks_progress:
        progress.begin(change.policy_id, change.version, now())
    images, chunks, pages = _send_images(
        lambda row: any(scope.contains_image(row.registry, row.repository, row.tags) for scope in scopes),
        lambda chunk, ids: _message(change, chunk, ids),
        list_images_page=list_images_page if scopes else None,
        send_chunks=send_chunks,
        chunk_size=chunk_size,
    )
    finished = False
    if change.tracks_progress and progress.record_total(change.policy_id, change.version, chunks):
        # The workers may all have finished before the total was known: then finishing falls to us.
        finished = progress.finish_if_done(change.policy_id, change.version, now())
    return PlanResult(change.policy_id, change.version, images, chunks, pages, finished)


def _send_images(
    contains: Callable[[ImageRow], bool],
    message: Callable[[int, Sequence[str]], ChunkMessage],
    *,
    list_images_page: ListImagesPage | None,
    send_chunks: SendChunks,
    chunk_size: int,
) -> tuple[int, int, int]:
    """Page through every image (none without `list_images_page`), send the ids of those `contains`
    keeps in full chunks page by page and the rest at the end: (images, chunks, pages)."""
    pending: list[str] = []
    chunks = images = pages = 0
    cursor: str | None = None
    while list_images_page is not None:
        rows, cursor = list_images_page(cursor)
        pages += 1
        pending += [row.image_id for row in rows if contains(row)]
        full = len(pending) - len(pending) % chunk_size if cursor else len(pending)
        batch = []
        for start in range(0, full, chunk_size):
            batch.append(message(chunks, pending[start : start + chunk_size]))
            chunks += 1
        if batch:
            send_chunks(batch)
        images += full
        del pending[:full]
        if cursor is None:
            break
    return images, chunks, pages


def _resolve(scope_id: str, scope_for: ScopeFor) -> ScopeDefinition | None:
    # A missing scope covers nothing, as in `applicable`: it must never widen a re-evaluation's reach
    # beyond what the policy could apply to.
    return GLOBAL if scope_id == GLOBAL_SCOPE else scope_for(scope_id)


def _message(change: PolicyChange, chunk: int, image_ids: Sequence[str]) -> ChunkMessage:
    return ChunkMessage(
        policy_id=change.policy_id,
        policy_version=change.version,
        chunk=chunk,
        image_ids=tuple(image_ids),
        tracks_progress=change.tracks_progress,
    )


@dataclass(frozen=True)
class AcceptanceChange:
    """A risk acceptance that began or ended: the images it covers are judged again."""

    acceptance_id: str
    version: int
    scope: AcceptanceScope


def acceptance_change(
    event_name: str | None, old_image: Mapping[str, Any] | None, new_image: Mapping[str, Any] | None
) -> AcceptanceChange | None:
    """What a stream record of an acceptance item asks for: a new active acceptance, or one whose status
    changed (revoked, expired). An extension changes nothing in force; acceptances are never deleted."""
    if event_name == "REMOVE" or not new_image:
        return None
    if new_image.get("sk") != "META" or not str(new_image.get("pk", "")).startswith("ACCEPTANCE#"):
        return None
    status = new_image.get("status")
    if old_image is None and status != AcceptanceStatus.ACTIVE.value:
        return None
    if old_image is not None and old_image.get("status") == status:
        return None
    return AcceptanceChange(
        acceptance_id=str(new_image["pk"]).removeprefix("ACCEPTANCE#"),
        version=int(new_image.get("version") or 1),
        scope=AcceptanceScope.from_dict(
            new_image["scope"], new_image.get("registry"), new_image.get("repository")
        ),
    )


def plan_acceptance(
    change: AcceptanceChange,
    *,
    list_images_page: ListImagesPage,
    send_chunks: SendChunks,
    scope_for: ScopeFor,
    chunk_size: int = REEVALUATION_CHUNK_SIZE,
) -> PlanResult:
    """Send the images the acceptance covers to the work queue (no progress is tracked): its image at
    once; for a repository or `all`, the matching images, paged as for a policy."""

    def message(chunk: int, image_ids: Sequence[str]) -> ChunkMessage:
        # The work message names the acceptance where a policy's names the policy.
        return ChunkMessage(
            change.acceptance_id, change.version, chunk, tuple(image_ids), tracks_progress=False
        )

    scope = change.scope
    if scope.kind is ScopeKind.IMAGE:
        send_chunks([message(0, [str(scope.image_id)])])
        return PlanResult(change.acceptance_id, change.version, 1, 1, 0, False)
    definitions = {
        scope_id: definition
        for scope_id in scope.within
        if scope_id != GLOBAL_SCOPE and (definition := scope_for(scope_id)) is not None
    }
    images, chunks, pages = _send_images(
        lambda row: scope.contains(row.image_id, row.registry, row.repository, row.tags, definitions),
        message,
        list_images_page=list_images_page,
        send_chunks=send_chunks,
        chunk_size=chunk_size,
    )
    return PlanResult(change.acceptance_id, change.version, images, chunks, pages, False)


@dataclass(frozen=True)
class WorkResult:
    evaluated: int
    count: ChunkCount | None
    finished: bool


def work(
    message: ChunkMessage,
    *,
    evaluate_one: Callable[[str], bool],
    progress: Progress,
    now: Callable[[], str] = now_iso,
) -> WorkResult:
    """Re-evaluate each image of the chunk, then count the chunk done once.

    An exception leaves the chunk uncounted; the queue redelivers the message and the images are
    evaluated again, which recomputes the same verdicts. A redelivery after the count is recognized by
    the chunk's marker; finishing is still tried, since the earlier delivery may have stopped between
    counting and finishing.
    """
    evaluated = sum(1 for image_id in message.image_ids if evaluate_one(image_id))
    if not message.tracks_progress:
        return WorkResult(evaluated=evaluated, count=None, finished=False)
    count = progress.mark_chunk_done(message.policy_id, message.policy_version, message.chunk)
    finished = count is not ChunkCount.SUPERSEDED and progress.finish_if_done(
        message.policy_id, message.policy_version, now()
    )
    return WorkResult(evaluated=evaluated, count=count, finished=finished)
