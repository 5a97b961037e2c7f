"""`make bench PARTS=verdict`: the DynamoDB requests of a CI gate's `GET /v1/verdict` (issue 13).

A CI token bound to a custom scope (`ci_pipeline` on `team-a`) asks for the verdict of an image that a
policy of that scope judges, through the real API handler against moto, in-process; a botocore hook on
the default session counts every DynamoDB request the handler makes (the authorizer's own reads are not
the API function's and are not counted). Each case is asked twice: on a cold instance (nothing cached:
the function's first request) and warm (the same question again). Then a new build under the same tag,
a policy change, a scope change and a new acceptance are each followed by the same question, to show
what a change costs the first request after it. No stream evaluator runs here: after a policy change or
an acceptance the stored verdict is not the one in force, and every verdict request computes it afresh
(one more Query: the findings) — on AWS the evaluator re-judges the image within seconds. Printed by
`tests/bench/run.py`; recorded in docs/performance.md.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from typing import Any

IMAGE = "ghcr.io/team-a/app"
TAG = "1"
DIGEST = "sha256:" + "ab" * 32


def _report(digest: str = DIGEST) -> dict[str, Any]:
    return {
        "SchemaVersion": 2,
        "ArtifactName": f"{IMAGE}:{TAG}",
        "ArtifactType": "container_image",
        "Metadata": {"RepoDigests": [f"{IMAGE}@{digest}"]},
        "Results": [
            {
                "Target": f"{IMAGE}:{TAG} (debian 12)",
                "Vulnerabilities": [
                    {
                        "VulnerabilityID": "CVE-2024-1234",
                        "PkgName": "openssl",
                        "InstalledVersion": "1.0",
                        "Severity": "HIGH",
                    },
                    {
                        "VulnerabilityID": "CVE-2024-5678",
                        "PkgName": "zlib",
                        "InstalledVersion": "1.2",
                        "Severity": "LOW",
                    },
                ],
            }
        ],
    }


def verdict_requests(env: dict[str, str]) -> dict[str, object]:
    """DynamoDB requests per `GET /v1/verdict` of a scoped CI token, by case."""
    os.environ.update(env)
    import boto3
    from moto import mock_aws

    from riskgate.adapters.store import default_store
    from riskgate.handlers.api import handler
    from riskgate.resources import TABLE
    from riskgate.settings import get_settings
    from tests.support.events import FakeLambdaContext, api_event, response_json

    def forget_instance() -> None:
        """A new function instance: the table client and everything cached with it are made anew."""
        get_settings.cache_clear()
        default_store.cache_clear()

    with mock_aws():
        boto3.setup_default_session()
        requests: Counter[str] = Counter()
        boto3.DEFAULT_SESSION.events.register(
            "before-call.dynamodb.*", lambda model, **_: requests.update([model.name])
        )
        boto3.client("dynamodb").create_table(**TABLE.create_table_kwargs(env["RISKGATE_TABLE_NAME"]))
        forget_instance()

        def call(method: str, path: str, body: Any = None, **kwargs: Any) -> tuple[int, Any, Counter[str]]:
            requests.clear()
            event = api_event(method, path, body=json.dumps(body) if body is not None else None, **kwargs)
            response = handler(event, FakeLambdaContext())
            answer = response_json(response) if response.get("body") else None
            return response["statusCode"], answer, Counter(requests)

        def admin(method: str, path: str, body: Any = None, status: int = 200) -> Any:
            got, answer, _ = call(method, path, body)
            assert got == status, (method, path, got, answer)
            return answer

        scope = admin(
            "POST",
            "/v1/scopes",
            {"name": "team-a", "resources": [{"registry": "ghcr.io", "repository": "team-a/*"}]},
            201,
        )["id"]
        policy = admin(
            "POST",
            "/v1/assurance-policies",
            {
                "name": "No openssl in team-a",
                "scope": scope,
                "conditions": {"packages": ["openssl*"]},
                "actions": ["block_ci"],
            },
            201,
        )
        scanned = admin("POST", "/v1/scans", _report(), 201)
        ci = [{"role": "ci_pipeline", "scope": scope}]

        def verdict(query: dict[str, str] | None, path: str = "/v1/verdict") -> tuple[int, Counter[str]]:
            got, answer, counted = call("GET", path, query=query, role_bindings=ci, user_id="usr-ci")
            assert got == 200, answer
            assert answer["block"] is True, answer
            return sum(counted.values()), counted

        def shown(counted: Counter[str]) -> str:
            return ", ".join(f"{n} {name}" for name, n in sorted(counted.items()))

        results: dict[str, object] = {}
        cases = {
            "by tag": ({"image": f"{IMAGE}:{TAG}"}, "/v1/verdict"),
            "by digest": ({"image": f"{IMAGE}@{DIGEST}"}, "/v1/verdict"),
            "by image id": (None, f"/v1/images/{scanned['image_id']}/verdict"),
        }
        for name, (query, path) in cases.items():
            forget_instance()
            cold_total, cold = verdict(query, path)
            warm_total, warm = verdict(query, path)
            results[f"{name}: cold instance"] = f"{cold_total} ({shown(cold)})"
            results[f"{name}: warm instance"] = f"{warm_total} ({shown(warm)})"

        tag = {"image": f"{IMAGE}:{TAG}"}
        # A new build pushed under the same tag: the instance read the image the tag named before.
        admin("POST", "/v1/scans", _report("sha256:" + "cd" * 32), 201)
        total, counted = verdict(tag)
        results["by tag: first after the tag moved"] = f"{total} ({shown(counted)})"
        total, counted = verdict(tag)
        results["by tag: warm after the tag moved"] = f"{total} ({shown(counted)})"
        admin("PATCH", f"/v1/assurance-policies/{policy['id']}", {"description": "changed"})
        total, counted = verdict(tag)
        results["by tag: first after a policy change"] = f"{total} ({shown(counted)})"
        admin(
            "PATCH",
            f"/v1/scopes/{scope}",
            {"resources": [{"registry": "ghcr.io", "repository": "team-a/*"}, {"repository": "x/*"}]},
        )
        total, counted = verdict(tag)
        results["by tag: first after a scope change"] = f"{total} ({shown(counted)})"
        admin(
            "POST",
            "/v1/risk-acceptances",
            {
                "finding": {"kind": "vulnerability", "id": "CVE-2024-5678", "package": "zlib"},
                "scope": {"repository": IMAGE},
                "period": "30d",
                "reason": "bench",
            },
            201,
        )
        total, counted = verdict(tag)
        results["by tag: first after an acceptance"] = f"{total} ({shown(counted)})"
        total, counted = verdict(tag)
        results["by tag: warm again"] = f"{total} ({shown(counted)})"
    return results
