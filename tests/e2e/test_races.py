"""Races through the local stack with real concurrency (issue 10): writers that overlap lose nothing."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from tests.e2e.conftest import RunningStack

pytestmark = pytest.mark.e2e

IMAGE = "ghcr.io/race/app:1"
WRITERS = 20


def report(vulnerability_id: str) -> bytes:
    return json.dumps(
        {
            "SchemaVersion": 2,
            "ArtifactName": "race/app",
            "Results": [
                {
                    "Target": "os",
                    "Vulnerabilities": [
                        {
                            "VulnerabilityID": vulnerability_id,
                            "PkgName": "openssl",
                            "InstalledVersion": "1",
                            "Severity": "HIGH",
                        }
                    ],
                }
            ],
        }
    ).encode()


def get(stack: RunningStack, path: str) -> Any:
    answer = stack.request("GET", path, token=stack.admin_token)
    assert answer.status == 200, answer.body
    return answer.json()


def test_parallel_scans_of_one_image_end_on_the_newest_and_keep_every_scan(local_stack: RunningStack) -> None:
    def submit(number: int) -> tuple[str, str]:
        vulnerability = f"CVE-2026-{number:05d}"
        answer = local_stack.request(
            "POST", f"/v1/scans?image={IMAGE}", token=local_stack.admin_token, body=report(vulnerability)
        )
        assert answer.status == 201, answer.body
        return answer.json()["scan_id"], vulnerability

    with ThreadPoolExecutor(max_workers=WRITERS) as pool:
        submitted = dict(pool.map(submit, range(WRITERS)))

    image_id = get(local_stack, "/v1/images?repository=race/app")["items"][0]["id"]
    scans = get(local_stack, f"/v1/images/{image_id}/scans?limit=50")["items"]
    assert sorted(scan["scan_id"] for scan in scans) == sorted(submitted)
    newest = scans[0]["scan_id"]  # newest first: the last received
    image = get(local_stack, f"/v1/images/{image_id}")
    assert image["current_scan_id"] == newest
    findings = get(local_stack, f"/v1/images/{image_id}/findings")["items"]
    assert [finding["id"] for finding in findings] == [submitted[newest]]
