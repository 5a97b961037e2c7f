"""The re-evaluation fan-out's logic with in-memory fakes: which changes plan, chunking, scope filtering,
progress arithmetic, redelivery counted once."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from riskgate.domain.access import ResourceSelector, ScopeDefinition
from riskgate.services.reevaluation import (
    ChunkCount,
    ChunkMessage,
    ImageRow,
    PolicyChange,
    acceptance_change,
    plan,
    plan_acceptance,
    policy_change,
    work,
)


def policy_item(**changes: Any) -> dict[str, Any]:
    item = {
        "pk": "POLICY#p1",
        "sk": "META",
        "id": "p1",
        "name": "criticals",
        "description": "no criticals",
        "scope": "team-a",
        "enabled": True,
        "mode": "enforce",
        "conditions": {"severity_at_least": "critical", "max_count": 0},
        "actions": ["block_ci"],
        "version": 3,
    }
    item.update(changes)
    return item


class FakeProgress:
    """The policy item's `reevaluation` record and the chunk markers, as the adapter keeps them."""

    def __init__(self, item_version: int | None = 3) -> None:
        self.item_version = item_version  # None: the item is gone
        self.record: dict[str, Any] | None = None
        self.markers: set[tuple[str, int, int]] = set()

    def begin(self, policy_id: str, version: int, requested_at: str) -> bool:
        if self.item_version != version or (self.record and self.record["version"] >= version):
            return False
        self.record = {"version": version, "requested_at": requested_at, "total": None, "done": 0}
        self.record.update(finished_at=None)
        return True

    def record_total(self, policy_id: str, version: int, total: int) -> bool:
        if not self.record or self.record["version"] != version:
            return False
        self.record["total"] = total
        return True

    def mark_chunk_done(self, policy_id: str, version: int, chunk: int) -> ChunkCount:
        if not self.record or self.record["version"] != version:
            return ChunkCount.SUPERSEDED
        if (policy_id, version, chunk) in self.markers:
            return ChunkCount.REPEATED
        self.markers.add((policy_id, version, chunk))
        self.record["done"] += 1
        return ChunkCount.COUNTED

    def finish_if_done(self, policy_id: str, version: int, finished_at: str) -> bool:
        record = self.record
        if not record or record["version"] != version or record["finished_at"] is not None:
            return False
        if record["done"] != record["total"]:
            return False
        record["finished_at"] = finished_at
        return True


def images(count: int, repository: str) -> list[ImageRow]:
    return [ImageRow(f"img-{repository}-{n:05d}", "ghcr.io", repository, ("1.0",)) for n in range(count)]


class FakeIndex:
    """gsi2 `IMAGES` in pages; counts the pages read."""

    def __init__(self, rows: list[ImageRow], page_size: int) -> None:
        self.rows = rows
        self.page_size = page_size
        self.pages_read = 0

    def page(self, cursor: str | None) -> tuple[list[ImageRow], str | None]:
        self.pages_read += 1
        start = int(cursor or 0)
        end = start + self.page_size
        return self.rows[start:end], str(end) if end < len(self.rows) else None


SCOPES = {
    "team-a": ScopeDefinition("team-a", (ResourceSelector(repository="acme/a-*"),)),
    "team-b": ScopeDefinition("team-b", (ResourceSelector(repository="acme/b-*"),)),
}


def run_plan(
    change: PolicyChange, rows: list[ImageRow], progress: FakeProgress, *, page_size: int = 1000
) -> tuple[list[ChunkMessage], FakeIndex, Any]:
    sent: list[ChunkMessage] = []
    index = FakeIndex(rows, page_size)

    def send(messages: Sequence[ChunkMessage]) -> None:
        sent.extend(messages)

    result = plan(
        change,
        list_images_page=index.page,
        send_chunks=send,
        progress=progress,
        scope_for=SCOPES.get,
        chunk_size=100,
        now=lambda: "2026-01-01T00:00:00Z",
    )
    return sent, index, result


# --- which changes plan a re-evaluation ------------------------------------------------------------


def test_creating_a_policy_covers_its_scope() -> None:
    change = policy_change("INSERT", None, policy_item())
    assert change == PolicyChange("p1", 3, ("team-a",), tracks_progress=True)


def test_deleting_a_policy_covers_its_old_scope_without_progress() -> None:
    change = policy_change("REMOVE", policy_item(), None)
    assert change == PolicyChange("p1", 3, ("team-a",), tracks_progress=False)


@pytest.mark.parametrize(
    "field_change",
    [
        {"enabled": False},
        {"mode": "dry_run"},
        {"conditions": {"malware": True}},
        {"actions": []},
        {"name": "renamed"},  # verdicts name the policy
        {"deleted": True},  # e.g. the default policy's tombstone
    ],
)
def test_a_material_change_plans_a_reevaluation(field_change: dict[str, Any]) -> None:
    change = policy_change("MODIFY", policy_item(), policy_item(version=4, **field_change))
    assert change == PolicyChange("p1", 4, ("team-a",), tracks_progress=True)


def test_a_scope_change_covers_the_old_and_the_new_scope() -> None:
    change = policy_change("MODIFY", policy_item(), policy_item(version=4, scope="team-b"))
    assert change is not None
    assert change.scope_ids == ("team-a", "team-b")


@pytest.mark.parametrize(
    "field_change",
    [
        {"reevaluation": {"version": 3, "done": 7, "total": 10, "finished_at": None}},
        {"description": "reworded", "version": 4, "updated_at": "2026-01-02T00:00:00Z"},
    ],
)
def test_progress_and_wording_do_not_plan(field_change: dict[str, Any]) -> None:
    assert policy_change("MODIFY", policy_item(), policy_item(**field_change)) is None


def test_other_items_do_not_plan() -> None:
    assert policy_change("INSERT", None, {"pk": "IMAGE#x", "sk": "META"}) is None
    assert policy_change("INSERT", None, {"pk": "REEVAL#p1#3", "sk": "CHUNK#0"}) is None


def test_a_policy_without_scope_counts_as_global() -> None:
    change = policy_change("INSERT", None, {"pk": "POLICY#default", "sk": "META", "version": 2})
    assert change is not None
    assert change.scope_ids == ("global",)


# --- planning --------------------------------------------------------------------------------------


def test_plan_chunks_only_the_images_in_scope_and_records_the_total() -> None:
    # Given 250 images in team-a's repositories and 180 elsewhere, interleaved, in pages of 64
    team_a, others = images(250, "acme/a-shop"), images(180, "acme/b-cart")
    rows: list[ImageRow] = []
    for n, image in enumerate(team_a):
        rows += [image, *others[n : n + 1]]
    progress = FakeProgress()

    # When the policy of team-a is planned
    sent, index, result = run_plan(PolicyChange("p1", 3, ("team-a",), True), rows, progress, page_size=64)

    # Then every team-a image is sent once, in chunks of at most 100, numbered from 0
    sent_ids = [image_id for message in sent for image_id in message.image_ids]
    assert sorted(sent_ids) == sorted(row.image_id for row in rows if row.repository == "acme/a-shop")
    assert len(sent_ids) == len(set(sent_ids)) == 250
    assert [message.chunk for message in sent] == [0, 1, 2]
    assert [len(message.image_ids) for message in sent] == [100, 100, 50]
    assert {(m.policy_id, m.policy_version) for m in sent} == {("p1", 3)}
    assert index.pages_read == 7
    assert (result.images, result.chunks) == (250, 3)
    # And the progress shows 3 chunks to do, none done, not finished
    assert progress.record == {
        "version": 3,
        "requested_at": "2026-01-01T00:00:00Z",
        "total": 3,
        "done": 0,
        "finished_at": None,
    }


def test_plan_of_a_scope_change_sends_each_image_once() -> None:
    rows = images(120, "acme/a-shop") + images(30, "acme/b-cart") + images(40, "other/x")
    sent, _, result = run_plan(PolicyChange("p1", 4, ("team-a", "team-b"), True), rows, FakeProgress(4))
    assert result.images == 150
    assert len({image_id for m in sent for image_id in m.image_ids}) == 150


def test_plan_with_nothing_in_scope_finishes_at_once() -> None:
    progress = FakeProgress()
    sent, _, result = run_plan(PolicyChange("p1", 3, ("team-a",), True), images(10, "other/x"), progress)
    assert sent == []
    assert result.finished
    assert progress.record is not None
    assert progress.record["total"] == 0
    assert progress.record["finished_at"] == "2026-01-01T00:00:00Z"


def test_a_deleted_scope_covers_nothing() -> None:
    sent, index, _ = run_plan(PolicyChange("p1", 3, ("gone",), True), images(10, "acme/a-x"), FakeProgress())
    assert sent == []
    assert index.pages_read == 0


def test_an_older_plan_does_not_overwrite_a_newer_progress() -> None:
    # Given the policy is at version 5 and its re-evaluation is under way
    progress = FakeProgress(item_version=5)
    run_plan(PolicyChange("p1", 5, ("team-a",), True), images(150, "acme/a-shop"), progress)
    before = dict(progress.record or {})

    # When the stream delivers version 4's record late
    sent, _, _ = run_plan(PolicyChange("p1", 4, ("team-a",), True), images(150, "acme/a-shop"), progress)

    # Then its images are still re-evaluated, but version 5's progress stands
    assert len(sent) == 2
    assert progress.record == before


# --- working ---------------------------------------------------------------------------------------


def test_work_evaluates_each_image_and_the_last_chunk_finishes() -> None:
    progress = FakeProgress()
    sent, _, _ = run_plan(PolicyChange("p1", 3, ("team-a",), True), images(250, "acme/a-shop"), progress)
    evaluated: list[str] = []

    def evaluate_one(image_id: str) -> bool:
        evaluated.append(image_id)
        return True

    results = [work(m, evaluate_one=evaluate_one, progress=progress, now=lambda: "T") for m in sent]

    assert len(evaluated) == 250
    assert [r.count for r in results] == [ChunkCount.COUNTED] * 3
    assert [r.finished for r in results] == [False, False, True]
    assert progress.record is not None
    assert (progress.record["done"], progress.record["total"], progress.record["finished_at"]) == (3, 3, "T")


def test_a_redelivered_chunk_is_evaluated_again_but_counted_once() -> None:
    progress = FakeProgress()
    sent, _, _ = run_plan(PolicyChange("p1", 3, ("team-a",), True), images(250, "acme/a-shop"), progress)

    first = work(sent[0], evaluate_one=lambda _: True, progress=progress)
    again = work(sent[0], evaluate_one=lambda _: True, progress=progress)

    assert (first.count, again.count) == (ChunkCount.COUNTED, ChunkCount.REPEATED)
    assert again.evaluated == 100
    assert progress.record is not None
    assert progress.record["done"] == 1
    assert progress.record["finished_at"] is None


def test_workers_finishing_before_the_total_is_known_leave_finishing_to_the_planner() -> None:
    # Given the plan began and both chunks were worked before the planner recorded the total
    progress = FakeProgress()
    progress.begin("p1", 3, "T0")
    for chunk in (0, 1):
        message = ChunkMessage("p1", 3, chunk, ("img-a",))
        assert not work(message, evaluate_one=lambda _: True, progress=progress).finished

    # When the planner records the total, Then it finishes
    assert progress.record_total("p1", 3, 2)
    assert progress.finish_if_done("p1", 3, "T1")


def test_a_failing_image_leaves_the_chunk_uncounted() -> None:
    progress = FakeProgress()
    sent, _, _ = run_plan(PolicyChange("p1", 3, ("team-a",), True), images(100, "acme/a-shop"), progress)

    def broken(image_id: str) -> bool:
        raise RuntimeError("throttled")

    with pytest.raises(RuntimeError):
        work(sent[0], evaluate_one=broken, progress=progress)
    assert progress.record is not None
    assert progress.record["done"] == 0


def test_chunks_of_a_deleted_policy_are_worked_without_progress() -> None:
    message = ChunkMessage("p1", 3, 0, ("img-a", "img-b"), tracks_progress=False)
    progress = FakeProgress(item_version=None)
    result = work(message, evaluate_one=lambda _: True, progress=progress)
    assert (result.evaluated, result.count, progress.markers) == (2, None, set())


def test_a_message_survives_the_queue() -> None:
    message = ChunkMessage("p1", 3, 7, ("img-a", "img-b"))
    assert ChunkMessage.from_body(message.to_body()) == message


# --- risk acceptances: which changes plan, and which images they reach ---------------------------------


def acceptance_item(**changes: Any) -> dict[str, Any]:
    item = {
        "pk": "ACCEPTANCE#acc-1",
        "sk": "META",
        "id": "acc-1",
        "finding": {"kind": "vulnerability", "id": "CVE-2021-44228"},
        "scope": {"repository": "docker.io/library/nginx"},
        "registry": "docker.io",
        "repository": "library/nginx",
        "status": "active",
        "version": 1,
    }
    item.update(changes)
    return item


def test_a_new_active_acceptance_plans_and_an_extension_does_not() -> None:
    created = acceptance_change("INSERT", None, acceptance_item())
    assert created is not None
    assert created.acceptance_id == "acc-1"
    assert created.scope.repository == "library/nginx"
    extended = acceptance_item(expires_at="2027-01-01T00:00:00.000000Z", version=2)
    assert acceptance_change("MODIFY", acceptance_item(), extended) is None


@pytest.mark.parametrize("status", ["revoked", "expired"])
def test_an_acceptance_that_ends_plans(status: str) -> None:
    ended = acceptance_change("MODIFY", acceptance_item(), acceptance_item(status=status, version=2))
    assert ended is not None
    assert ended.version == 2


def test_reminders_removals_and_other_items_plan_nothing() -> None:
    assert acceptance_change("REMOVE", acceptance_item(), None) is None
    reminder = acceptance_item(sk="REMINDER#7")
    assert acceptance_change("INSERT", None, reminder) is None
    assert acceptance_change("INSERT", None, policy_item()) is None
    assert acceptance_change("INSERT", None, acceptance_item(status="revoked")) is None


def rows() -> list[ImageRow]:
    return [
        ImageRow("img-1", "docker.io", "library/nginx", ("1.25",)),
        ImageRow("img-2", "docker.io", "library/nginx", ("1.26",)),
        ImageRow("img-3", "ghcr.io", "team-a/api", ("main",)),
        ImageRow("img-4", "ghcr.io", "team-b/api", ("main",)),
    ]


def run_acceptance_plan(item: dict[str, Any], scopes: dict[str, ScopeDefinition]) -> tuple[list[str], int]:
    change = acceptance_change("INSERT", None, item)
    assert change is not None
    sent: list[ChunkMessage] = []
    pages: list[str | None] = []

    def list_images_page(cursor: str | None) -> tuple[list[ImageRow], str | None]:
        pages.append(cursor)
        return rows(), None

    result = plan_acceptance(
        change, list_images_page=list_images_page, send_chunks=sent.extend, scope_for=scopes.get
    )
    assert all(not message.tracks_progress and message.policy_id == "acc-1" for message in sent)
    assert result.images == sum(len(message.image_ids) for message in sent)
    return [image_id for message in sent for image_id in message.image_ids], len(pages)


def test_an_image_acceptance_sends_its_image_without_listing_any() -> None:
    item = acceptance_item(scope={"image": "img-3"}, registry="ghcr.io", repository="team-a/api")
    assert run_acceptance_plan(item, {}) == (["img-3"], 0)


def test_a_repository_acceptance_reaches_every_image_of_the_repository() -> None:
    assert run_acceptance_plan(acceptance_item(), {}) == (["img-1", "img-2"], 1)


def test_an_acceptance_of_all_images_reaches_its_scopes_only() -> None:
    team_a = ScopeDefinition("team-a", (ResourceSelector(repository="team-a/*"),))
    item = acceptance_item(scope={"all": True, "within": ["team-a", "gone"]}, registry=None, repository=None)
    assert run_acceptance_plan(item, {"team-a": team_a}) == (["img-3"], 1)
    everywhere = acceptance_item(scope={"all": True, "within": ["global"]})
    assert run_acceptance_plan(everywhere, {})[0] == ["img-1", "img-2", "img-3", "img-4"]
