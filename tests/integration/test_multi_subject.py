"""One report, many images: a `trivy k8s` report or a Trivy Operator list through POST /v1/scans is one
scan per image and per Kubernetes workload, judged each, with a combined verdict; a caller must be allowed
every one of them, or nothing is stored."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from riskgate.handlers.api import handler
from tests.support.api_calls import call, ok
from tests.support.events import FakeLambdaContext, api_event, response_json
from tests.support.reevaluation import put_scope

K8S = "trivy/dd_k8s-cluster-legacy.json"
OPERATOR_DICT = "trivy-operator/dd_all-reports-in-dict.json"
TABLE = "riskgate-test"


def post(body: bytes, query: dict[str, str] | None = None, **kwargs: Any) -> tuple[int, Any]:
    response = handler(api_event("POST", "/v1/scans", body=body, query=query, **kwargs), FakeLambdaContext())
    return response["statusCode"], response_json(response)


def image_count() -> int:
    return len(ok("GET", "/v1/images", query={"limit": "200"})["items"])


def test_a_trivy_k8s_report_is_one_scan_per_subject_with_a_combined_verdict(
    dynamodb: Any, scanner_fixtures: Path
) -> None:
    status, answer = post((scanner_fixtures / K8S).read_bytes())

    assert status == 201, answer
    assert answer["format"] == "trivy-k8s"
    assert (answer["scan_id"], answer["image_id"], answer["image"]) == (None, None, None)
    kinds = {scan["image"]["reference"]: scan["kind"] for scan in answer["scans"]}
    assert kinds == {
        "gcr.io/google_samples/gb-redis-follower:v2": "image",
        "docker.io/library/redis:6.0.5": "image",
        "k8s://monitoring-test-cluster/default/deployment/redis-follower": "workload",
        "k8s://monitoring-test-cluster/default/deployment/redis-leader": "workload",
        "k8s://monitoring-test-cluster/default/service/redis-follower": "workload",
        "k8s://monitoring-test-cluster/default/service/redis-leader": "workload",
    }
    assert answer["counts"]["misconfigurations"] == sum(
        s["counts"]["misconfigurations"] for s in answer["scans"]
    )
    assert answer["verdict"]["block"] is any(scan["verdict"]["block"] for scan in answer["scans"])
    # Each is an image of its own, with the scan as its current one.
    for scan in answer["scans"]:
        assert ok("GET", f"/v1/images/{scan['image_id']}")["current_scan_id"] == scan["scan_id"]
    workloads = ok("GET", "/v1/images", query={"kind": "workload"})["items"]
    assert {item["kind"] for item in workloads} == {"workload"}
    assert len(workloads) == 4
    images = ok("GET", "/v1/images", query={"kind": "image"})["items"]
    assert {item["registry"] for item in images} == {"gcr.io", "docker.io"}


def test_the_combined_verdict_blocks_when_one_image_blocks_and_names_it(dynamodb: Any) -> None:
    def vulnerability_report(name: str, tag: str, severity: str) -> dict[str, Any]:
        return {
            "apiVersion": "aquasecurity.github.io/v1alpha1",
            "kind": "VulnerabilityReport",
            "metadata": {"name": f"replicaset-{name}", "namespace": "shop"},
            "report": {
                "registry": {"server": "ghcr.io"},
                "artifact": {"repository": f"shop/{name}", "tag": tag},
                "scanner": {"name": "Trivy", "version": "0.50.0"},
                "vulnerabilities": [
                    {"vulnerabilityID": f"CVE-2024-{name}", "resource": "openssl", "severity": severity}
                ],
            },
        }

    listing = {
        "apiVersion": "v1",
        "kind": "List",
        "items": [vulnerability_report("api", "1", "LOW"), vulnerability_report("web", "2", "CRITICAL")],
    }
    status, answer = post(json.dumps(listing).encode())

    assert status == 201, answer
    by_name = {scan["image"]["reference"]: scan for scan in answer["scans"]}
    assert by_name["ghcr.io/shop/api:1"]["verdict"]["block"] is False
    assert by_name["ghcr.io/shop/web:2"]["verdict"]["block"] is True
    assert answer["verdict"]["block"] is True
    assert answer["verdict"]["status"] == "non_compliant"
    assert {reason["image"] for reason in answer["verdict"]["reasons"]} == {"ghcr.io/shop/web:2"}


def test_a_caller_outside_one_images_scope_gets_403_naming_it_and_nothing_is_stored(
    dynamodb: Any, scanner_fixtures: Path
) -> None:
    # Allowed on Docker Hub and on the cluster's workloads, not on gcr.io.
    put_scope(
        dynamodb,
        TABLE,
        "scope-team-a",
        [{"registry": "docker.io", "repository": "*"}, {"registry": "k8s://*", "repository": "*"}],
    )
    team_a = [{"role": "ci_pipeline", "scope": "scope-team-a"}]

    status, answer = post((scanner_fixtures / K8S).read_bytes(), role_bindings=team_a, user_id="ci-a")

    assert status == 403, answer
    assert "gcr.io/google_samples/gb-redis-follower:v2" in answer["error"]["message"]
    assert [detail["image"] for detail in answer["error"]["details"]] == [
        "gcr.io/google_samples/gb-redis-follower:v2"
    ]
    assert image_count() == 0


def test_the_image_parameter_is_refused_for_a_report_of_several_images(
    dynamodb: Any, scanner_fixtures: Path
) -> None:
    status, answer = post((scanner_fixtures / K8S).read_bytes(), query={"image": "ghcr.io/x/y:1"})

    assert status == 422, answer
    assert answer["error"]["details"][0]["location"] == "query.image"
    assert image_count() == 0


def test_the_cluster_parameter_names_the_cluster_of_operator_workloads(
    dynamodb: Any, scanner_fixtures: Path
) -> None:
    status, answer = post((scanner_fixtures / OPERATOR_DICT).read_bytes(), query={"cluster": "Prod EU-1"})

    assert status == 201, answer
    workloads = [scan for scan in answer["scans"] if scan["kind"] == "workload"]
    assert [scan["image"]["registry"] for scan in workloads] == ["k8s://prod-eu-1"]
    images = [scan for scan in answer["scans"] if scan["kind"] == "image"]
    assert {scan["image"]["registry"] for scan in images} == {"docker.io"}


def test_a_single_image_report_answers_scans_with_one_entry(dynamodb: Any, scanner_fixtures: Path) -> None:
    status, answer = post((scanner_fixtures / "trivy/ci_alpine-3.10_trivy-0.72.json").read_bytes())

    assert status == 201, answer
    assert len(answer["scans"]) == 1
    (scan,) = answer["scans"]
    assert (scan["scan_id"], scan["image_id"], scan["kind"]) == (
        answer["scan_id"],
        answer["image_id"],
        "image",
    )
    assert scan["verdict"] == answer["verdict"]
    assert call("GET", f"/v1/images/{answer['image_id']}")[1]["kind"] == "image"
