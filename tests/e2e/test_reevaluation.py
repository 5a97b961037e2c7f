"""Re-evaluation end to end on the local stack: a policy created over HTTP reaches the planner through the
stream, the work queue through SQS (moto), the re-evaluator through the queue poller, and its progress
shows on `GET /v1/assurance-policies/{id}`.

The stack runs in-process, so the test seeds images straight into its moto table (many scans through the
API would only make the test slow).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from riskgate_local import LocalStack
from tests.e2e.conftest import http_request
from tests.support.reevaluation import SEEDED_EVALUATED_AT, put_scope, seed_images

pytestmark = pytest.mark.e2e

FINISH_TIMEOUT_SECONDS = 60


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalStack]:
    with LocalStack(port=0) as running:
        yield running


def call(stack: LocalStack, method: str, path: str, body: Any = None) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    result = http_request(
        stack.url,
        method,
        path,
        token=stack.admin_token,
        body=data,
        headers={"Content-Type": "application/json"},
    )
    assert result.status < 300, (result.status, result.body[:500])
    return result.json() if result.body else None


def test_creating_a_policy_reevaluates_its_scope_and_shows_when_it_finished(stack: LocalStack) -> None:
    # Given 60 images in team A's repositories and 40 in team B's, all judged compliant
    dynamodb = boto3.client("dynamodb")
    table = stack.resources.table_name
    put_scope(dynamodb, table, "team-a", [{"repository": "acme/a-*"}])
    team_a = seed_images(dynamodb, table, repository="acme/a-shop", count=60)
    team_b = seed_images(dynamodb, table, repository="acme/b-cart", count=40)

    # When a policy "no high vulnerabilities" is created in team A's scope
    created = call(
        stack,
        "POST",
        "/v1/assurance-policies",
        {
            "name": "no highs",
            "description": "team A ships no high vulnerabilities",
            "scope": "team-a",
            "enabled": True,
            "mode": "enforce",
            "conditions": {"severity_at_least": "high", "max_count": 0},
            "actions": ["block_ci"],
        },
    )

    # Then its re-evaluation finishes, and the policy shows it
    deadline = time.monotonic() + FINISH_TIMEOUT_SECONDS
    while True:
        policy = call(stack, "GET", f"/v1/assurance-policies/{created['id']}")
        progress = policy.get("reevaluation") or {}
        if progress.get("finished_at"):
            break
        assert time.monotonic() < deadline, f"re-evaluation not finished: {progress}"
        time.sleep(0.2)
    assert (progress["total"], progress["done"]) == (1, 1)
    assert progress["version"] == policy["version"]

    # And team A's images are non-compliant now; team B's were not touched
    for image_id in team_a[:3]:
        image = call(stack, "GET", f"/v1/images/{image_id}")
        assert image["status"] == "non_compliant"
    summaries = [
        boto3.client("dynamodb").get_item(
            TableName=table, Key={"pk": {"S": f"IMAGE#{image_id}"}, "sk": {"S": "META"}}
        )["Item"]
        for image_id in team_b[:3]
    ]
    assert {item["evaluated_at"]["S"] for item in summaries} == {SEEDED_EVALUATED_AT}
