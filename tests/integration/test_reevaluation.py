"""Re-evaluation after a policy change, against moto: the planner on the policy's stream records, the work
queue in SQS, the re-evaluator fed in Lambda's SQS shape; 250 images across two scopes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from riskgate.adapters.policies import PolicyStore
from riskgate.adapters.reevaluation import default_queue, default_table
from riskgate.adapters.store import Store
from riskgate.domain.audit import SYSTEM_ACTOR
from riskgate.handlers.reevaluation_planner import handler as planner
from riskgate.handlers.reevaluator import handler as reevaluator
from riskgate.resources import REEVALUATION_VISIBILITY_TIMEOUT_SECONDS
from riskgate.settings import get_settings
from riskgate_local.lambdas import LocalFunction
from riskgate_local.queues import QueuePoller
from tests.integration.conftest import TABLE_NAME
from tests.support.events import FakeLambdaContext
from tests.support.reevaluation import (
    SEEDED_EVALUATED_AT,
    policy_stream_record,
    put_scope,
    raw_policy,
    seed_images,
)

HIGH_OR_WORSE = {
    "name": "no highs",
    "description": "team A ships no high vulnerabilities",
    "scope": "team-a",
    "enabled": True,
    "mode": "enforce",
    "conditions": {"severity_at_least": "high", "max_count": 0},
    "actions": ["block_ci"],
}


@pytest.fixture
def queue_url(dynamodb: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    url = boto3.client("sqs").create_queue(
        QueueName="riskgate-test-reevaluation",
        Attributes={"VisibilityTimeout": str(REEVALUATION_VISIBILITY_TIMEOUT_SECONDS)},
    )["QueueUrl"]
    monkeypatch.setenv("RISKGATE_REEVALUATION_QUEUE_URL", url)
    get_settings.cache_clear()
    default_queue.cache_clear()
    default_table.cache_clear()
    yield url
    default_queue.cache_clear()
    default_table.cache_clear()


@pytest.fixture
def images(dynamodb: Any) -> dict[str, list[str]]:
    put_scope(dynamodb, TABLE_NAME, "team-a", [{"repository": "acme/a-*"}])
    put_scope(dynamodb, TABLE_NAME, "team-b", [{"repository": "acme/b-*"}])
    return {
        "team-a": seed_images(dynamodb, TABLE_NAME, repository="acme/a-shop", count=150),
        "team-b": seed_images(dynamodb, TABLE_NAME, repository="acme/b-cart", count=100),
    }


def plan(event_name: str, old: Any, new: Any) -> None:
    response = planner({"Records": [policy_stream_record(event_name, old, new)]}, FakeLambdaContext())
    assert response == {"batchItemFailures": []}


def drain(queue_url: str) -> int:
    function = LocalFunction("reevaluator", reevaluator, timeout_seconds=120)
    return QueuePoller(queue_url, function, batch_size=2).drain()


def statuses(store: Store, image_ids: list[str]) -> dict[str, tuple[str, bool]]:
    """Each image's status and whether it was judged again since it was seeded."""
    found = store.get_images(set(image_ids))
    return {
        image_id: (image["status"], image["evaluated_at"] != SEEDED_EVALUATED_AT)
        for image_id, image in found.items()
    }


def test_a_new_policy_reevaluates_exactly_the_images_of_its_scope(
    dynamodb: Any, store: Store, queue_url: str, images: dict[str, list[str]]
) -> None:
    # Given 150 images in team A's repositories and 100 in team B's, all judged compliant
    policies = PolicyStore(TABLE_NAME, client=dynamodb)

    # When a policy "no high vulnerabilities" is created in team A's scope and its record is planned
    created = policies.create_policy(HIGH_OR_WORSE, SYSTEM_ACTOR)
    plan("INSERT", None, raw_policy(dynamodb, TABLE_NAME, created["id"]))
    delivered = drain(queue_url)

    # Then team A's images (2 chunks) are judged again, non-compliant; team B's are untouched
    assert delivered == 2
    assert set(statuses(store, images["team-a"]).values()) == {("non_compliant", True)}
    assert set(statuses(store, images["team-b"]).values()) == {("compliant", False)}
    verdict = store.get_image(images["team-a"][0])["verdict"]  # type: ignore[index]
    assert {reason["policy_id"] for reason in verdict["reasons"]} == {created["id"]}
    # And the progress shows the whole re-evaluation finished
    progress = policies.get_policy(created["id"])["reevaluation"]  # type: ignore[index]
    assert (progress["version"], progress["total"], progress["done"]) == (1, 2, 2)
    assert progress["finished_at"] >= progress["requested_at"]


def test_a_redelivered_chunk_is_counted_once_and_progress_plans_nothing(
    dynamodb: Any, store: Store, queue_url: str, images: dict[str, list[str]]
) -> None:
    policies = PolicyStore(TABLE_NAME, client=dynamodb)
    created = policies.create_policy(HIGH_OR_WORSE, SYSTEM_ACTOR)
    before = raw_policy(dynamodb, TABLE_NAME, created["id"])
    plan("INSERT", None, before)
    sqs = boto3.client("sqs")
    # Keep a copy of the first chunk's message, as SQS may deliver a message twice
    first = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=1, VisibilityTimeout=0)["Messages"][0]
    drain(queue_url)
    finished = policies.get_policy(created["id"])["reevaluation"]  # type: ignore[index]

    # When that message comes again
    sqs.send_message(QueueUrl=queue_url, MessageBody=first["Body"])
    assert drain(queue_url) == 1

    # Then its images are judged again but the chunk is not counted twice, nor the end moved
    assert policies.get_policy(created["id"])["reevaluation"] == finished  # type: ignore[index]
    assert json.loads(first["Body"])["chunk"] in (0, 1)

    # And the stream records of the progress writes plan no further re-evaluation
    plan("MODIFY", before, raw_policy(dynamodb, TABLE_NAME, created["id"]))
    assert drain(queue_url) == 0


def test_moving_a_policy_to_another_scope_reevaluates_both(
    dynamodb: Any, store: Store, queue_url: str, images: dict[str, list[str]]
) -> None:
    policies = PolicyStore(TABLE_NAME, client=dynamodb)
    created = policies.create_policy(HIGH_OR_WORSE, SYSTEM_ACTOR)
    plan("INSERT", None, raw_policy(dynamodb, TABLE_NAME, created["id"]))
    drain(queue_url)
    before = raw_policy(dynamodb, TABLE_NAME, created["id"])

    # When the policy moves from team A's scope to team B's
    policies.update_policy(created["id"], {"scope": "team-b"}, SYSTEM_ACTOR, lambda current: None)
    plan("MODIFY", before, raw_policy(dynamodb, TABLE_NAME, created["id"]))

    # Then all 250 images are judged again (3 chunks): A's compliant again, B's now non-compliant
    assert drain(queue_url) == 3
    assert {status for status, _ in statuses(store, images["team-a"]).values()} == {"compliant"}
    assert {status for status, _ in statuses(store, images["team-b"]).values()} == {"non_compliant"}
    progress = policies.get_policy(created["id"])["reevaluation"]  # type: ignore[index]
    assert (progress["version"], progress["total"], progress["done"]) == (2, 3, 3)
    assert progress["finished_at"]


def test_deleting_a_policy_reevaluates_its_scope(
    dynamodb: Any, store: Store, queue_url: str, images: dict[str, list[str]]
) -> None:
    policies = PolicyStore(TABLE_NAME, client=dynamodb)
    created = policies.create_policy(HIGH_OR_WORSE, SYSTEM_ACTOR)
    plan("INSERT", None, raw_policy(dynamodb, TABLE_NAME, created["id"]))
    drain(queue_url)
    before = raw_policy(dynamodb, TABLE_NAME, created["id"])

    policies.delete_policy(created["id"], SYSTEM_ACTOR, lambda current: None)
    plan("REMOVE", before, None)

    assert drain(queue_url) == 2
    assert {status for status, _ in statuses(store, images["team-a"]).values()} == {"compliant"}
    # No progress item is left behind for a deleted policy
    assert raw_policy(dynamodb, TABLE_NAME, created["id"]) is None
