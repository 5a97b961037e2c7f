"""Replaced findings expire on the local stack as on AWS: the real findings retirer reads image summaries
from the table's stream through its own poller (filter, retries and on-failure queue as its event source
mapping), and gives the findings a newer scan replaced the table's TTL."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from riskgate.resources import TABLE
from riskgate_local import LocalStack
from tests.e2e.conftest import http_request

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalStack]:
    with LocalStack(port=0) as running:
        yield running


def report(*vulnerabilities: str) -> bytes:
    results = [
        {
            "Target": "app",
            "Class": "lang-pkgs",
            "Vulnerabilities": [
                {
                    "VulnerabilityID": vulnerability,
                    "PkgName": "openssl",
                    "InstalledVersion": "3.0.11",
                    "Severity": "HIGH",
                }
                for vulnerability in vulnerabilities
            ],
        }
    ]
    return json.dumps(
        {"SchemaVersion": 2, "ArtifactName": "ghcr.io/acme/retire:1", "Results": results}
    ).encode()


def post(stack: LocalStack, body: bytes) -> dict[str, Any]:
    response = http_request(
        stack.url,
        "POST",
        "/v1/scans?image=ghcr.io/acme/retire:1",
        token=stack.admin_token,
        body=body,
        headers={"Content-Type": "application/json"},
    )
    assert response.status == 201, response.body[:300]
    answer: dict[str, Any] = response.json()
    return answer


def partition(stack: LocalStack, scan_id: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = boto3.client("dynamodb").query(
        TableName=stack.resources.table_name,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": f"SCAN#{scan_id}"}},
    )["Items"]
    return items


def test_findings_a_newer_scan_replaced_get_the_ttl_and_shared_ones_do_not(stack: LocalStack) -> None:
    first = post(stack, report("CVE-2024-0001", "CVE-2024-0002"))
    same = post(stack, report("CVE-2024-0002", "CVE-2024-0001"))
    stack.wait_until_idle()
    # A re-scan that found the same shares the partition: nothing retires
    assert partition(stack, same["scan_id"]) == []
    assert all(TABLE.ttl_attribute not in item for item in partition(stack, first["scan_id"]))
    # A scan that found something else replaces it: the retirer gives the replaced findings the TTL
    changed = post(stack, report("CVE-2024-0003"))
    stack.wait_until_idle()
    retired = partition(stack, first["scan_id"])
    assert len(retired) == 2
    assert all(TABLE.ttl_attribute in item for item in retired)
    assert all(TABLE.ttl_attribute not in item for item in partition(stack, changed["scan_id"]))
