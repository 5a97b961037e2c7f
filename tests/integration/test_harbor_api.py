"""HarborClient against the fake Harbor of tests/support: the paths Harbor requires (a nested repository
encoded twice), the headers, basic auth, what each failure becomes (`NotReady` or `PullRefused`), https
unless the host is allowed plain http, and the robot's secret in no message."""

from __future__ import annotations

import base64
import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from riskgate.adapters.harbor_api import HarborClient
from riskgate.adapters.registry_sources import NotReady, PullRefused
from riskgate.domain.parsers.harbor import REPORT_MEDIA_TYPE
from riskgate.domain.registries.harbor import report_path
from tests.support.fake_harbor import FakeHarbor

DIGEST = "sha256:b50334049354ed01330403212605dce2f4676a4e787ed113506861d9cf3c5424"
REPORT_PATH = report_path("test", "alpine/helm", DIGEST)


@pytest.fixture
def harbor() -> Iterator[FakeHarbor]:
    with FakeHarbor() as running:
        yield running


@pytest.fixture
def client(harbor: FakeHarbor) -> HarborClient:
    return HarborClient(
        harbor.url, harbor.robot_name, harbor.robot_secret, insecure_hosts=harbor.insecure_hosts, timeout=2.0
    )


@pytest.fixture
def harbor_report(scanner_fixtures: Path) -> dict[str, Any]:
    """A Trivy report as Harbor's `/additions/vulnerabilities` gives it (keyed by its media type)."""
    document: dict[str, Any] = json.loads(
        (scanner_fixtures / "harbor" / "dd_harbor-trivy-adapter.json").read_text(encoding="utf-8")
    )
    return document


def secret_free(error: BaseException, secret: str) -> bool:
    """Neither the secret nor its basic-auth form in the message of the error or of anything it chains."""
    encoded = base64.b64encode(secret.encode()).decode("ascii")
    seen: BaseException | None = error
    while seen is not None:
        text = f"{seen} {seen!r}"
        if secret in text or encoded in text:
            return False
        seen = seen.__cause__ or seen.__context__
    return True


# --- the report -----------------------------------------------------------------------------------------


def test_the_report_of_a_nested_repository_is_read_at_its_twice_encoded_path(
    harbor: FakeHarbor, client: HarborClient, harbor_report: dict[str, Any]
) -> None:
    # Given a scanned artifact of the nested repository alpine/helm in project test
    harbor.set_report("test", "alpine/helm", DIGEST, harbor_report)

    # When its report is read
    report = client.vulnerability_report(REPORT_PATH, REPORT_MEDIA_TYPE)

    # Then it is Harbor's answer, asked for at the path Harbor requires, with the robot's credentials
    assert report == harbor_report
    (request,) = harbor.requests
    assert request.method == "GET"
    assert request.path == (
        f"/api/v2.0/projects/test/repositories/alpine%252Fhelm/artifacts/{DIGEST}/additions/vulnerabilities"
    )
    assert request.header("X-Accept-Vulnerabilities") == REPORT_MEDIA_TYPE
    assert request.header("Accept") == "application/json"
    robot = base64.b64encode(f"{harbor.robot_name}:{harbor.robot_secret}".encode()).decode("ascii")
    assert request.header("Authorization") == f"Basic {robot}"


def test_a_repository_encoded_once_is_not_found_as_in_harbor(
    harbor: FakeHarbor, client: HarborClient
) -> None:
    # Given a report of a nested repository
    harbor.set_report("test", "alpine/helm", DIGEST, {"ok": True})

    # When it is asked for with the name encoded once, Then Harbor finds nothing there (and may later)
    with pytest.raises(NotReady, match="404"):
        client.vulnerability_report(
            f"/api/v2.0/projects/test/repositories/alpine%2Fhelm/artifacts/{DIGEST}/additions/vulnerabilities",
            REPORT_MEDIA_TYPE,
        )


def test_a_report_not_there_yet_is_not_ready(client: HarborClient) -> None:
    with pytest.raises(NotReady, match="404"):
        client.vulnerability_report(REPORT_PATH, REPORT_MEDIA_TYPE)


@pytest.mark.parametrize("status", [500, 502, 503, 429])
def test_harbor_failing_is_not_ready_and_the_next_attempt_reads_the_report(
    harbor: FakeHarbor, client: HarborClient, status: int
) -> None:
    # Given Harbor that fails once, then answers
    harbor.set_report("test", "alpine/helm", DIGEST, {"ok": True})
    harbor.answer_next(status)

    # When the report is read twice, Then the first is not ready and the second reads it
    with pytest.raises(NotReady, match=str(status)):
        client.vulnerability_report(REPORT_PATH, REPORT_MEDIA_TYPE)
    assert client.vulnerability_report(REPORT_PATH, REPORT_MEDIA_TYPE) == {"ok": True}


def test_a_wrong_robot_secret_is_refused_without_saying_it(harbor: FakeHarbor) -> None:
    # Given a client whose robot secret Harbor does not know (revoked or mistyped)
    wrong_secret = "not-the-robot-secret-1234"
    client = HarborClient(harbor.url, harbor.robot_name, wrong_secret, insecure_hosts=harbor.insecure_hosts)
    harbor.set_report("test", "alpine/helm", DIGEST, {"ok": True})

    # When the report is read, Then the refusal is permanent, and says why without the secret
    with pytest.raises(PullRefused, match=r"Harbor refused the robot account \(401\)") as refused:
        client.vulnerability_report(REPORT_PATH, REPORT_MEDIA_TYPE)
    assert secret_free(refused.value, wrong_secret)


@pytest.mark.parametrize("status", [401, 403])
def test_harbor_refusing_the_robot_is_permanent(
    harbor: FakeHarbor, client: HarborClient, status: int
) -> None:
    harbor.answer_next(status)
    with pytest.raises(PullRefused, match=rf"Harbor refused the robot account \({status}\)"):
        client.vulnerability_report(REPORT_PATH, REPORT_MEDIA_TYPE)


def test_harbor_echoing_the_secret_in_its_error_is_blanked(harbor: FakeHarbor, client: HarborClient) -> None:
    # Given a Harbor (or something posing as one) that repeats the credentials in its error
    encoded = base64.b64encode(f"{harbor.robot_name}:{harbor.robot_secret}".encode()).decode("ascii")
    harbor.answer_next(401, message=f"bad credentials {harbor.robot_secret} / Basic {encoded}")

    # When the report is read, Then the message keeps Harbor's words but not the secret
    with pytest.raises(PullRefused, match="bad credentials") as refused:
        client.vulnerability_report(REPORT_PATH, REPORT_MEDIA_TYPE)
    assert secret_free(refused.value, harbor.robot_secret)
    assert encoded not in str(refused.value)


@pytest.mark.parametrize(
    ("answer", "complaint"),
    [(b"<html>Harbor is down for maintenance</html>", "not JSON"), ([1, 2], "not a JSON object")],
)
def test_an_answer_that_is_not_a_json_object_is_refused(
    harbor: FakeHarbor, client: HarborClient, answer: Any, complaint: str
) -> None:
    harbor.set_report("test", "alpine/helm", DIGEST, answer)
    with pytest.raises(PullRefused, match=complaint):
        client.vulnerability_report(REPORT_PATH, REPORT_MEDIA_TYPE)


def test_a_redirect_is_not_followed(harbor: FakeHarbor, client: HarborClient) -> None:
    # Following it would send the robot's credentials to wherever it points.
    harbor.answer_next(302)
    with pytest.raises(PullRefused, match="redirect"):
        client.vulnerability_report(REPORT_PATH, REPORT_MEDIA_TYPE)
    assert len(harbor.requests) == 1


def test_a_harbor_not_listening_is_not_ready() -> None:
    # Given a port nothing listens on
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    secret = "robot-secret-for-a-closed-port"
    client = HarborClient(f"http://127.0.0.1:{port}", "robot$riskgate", secret, insecure_hosts={"127.0.0.1"})

    # When the report is read, Then Harbor may answer later
    with pytest.raises(NotReady, match="could not be reached") as unreachable:
        client.vulnerability_report(REPORT_PATH, REPORT_MEDIA_TYPE)
    assert secret_free(unreachable.value, secret)


def test_a_harbor_too_slow_is_not_ready(harbor: FakeHarbor) -> None:
    client = HarborClient(
        harbor.url, harbor.robot_name, harbor.robot_secret, insecure_hosts=harbor.insecure_hosts, timeout=0.2
    )
    harbor.set_report("test", "alpine/helm", DIGEST, {"ok": True})
    harbor.stall_next(2.0)
    with pytest.raises(NotReady, match=r"did not answer within 0\.2 s"):
        client.vulnerability_report(REPORT_PATH, REPORT_MEDIA_TYPE)


def test_only_absolute_paths_are_asked_for(client: HarborClient) -> None:
    # base_url + "@elsewhere/…" would name another host.
    with pytest.raises(ValueError, match="must start with /"):
        client.vulnerability_report("@attacker.example/api/v2.0/projects", REPORT_MEDIA_TYPE)


# --- lists, for a sync ----------------------------------------------------------------------------------


def test_projects_repositories_and_artifacts_are_listed_page_by_page(
    harbor: FakeHarbor, client: HarborClient
) -> None:
    # Given two projects, one with a nested repository of three artifacts
    harbor.add_project("library")
    artifacts = [{"digest": f"sha256:{n:064x}", "tags": [{"name": f"v{n}"}]} for n in range(3)]
    for artifact in artifacts:
        harbor.add_artifact("test", "alpine/helm", artifact)
    harbor.add_artifact("test", "redis", {"digest": "sha256:" + "f" * 64})

    # When each is listed
    projects = client.projects(page=1, page_size=10)
    repositories = client.repositories("test", page=1, page_size=10)
    first = client.artifacts("test", "alpine/helm", page=1, page_size=2)
    second = client.artifacts("test", "alpine/helm", page=2, page_size=2)

    # Then each is Harbor's answer, repository names within their project, pages as asked
    assert [project["name"] for project in projects] == ["library", "test"]
    assert [repository["name"] for repository in repositories] == ["alpine/helm", "redis"]
    assert first + second == artifacts
    request = harbor.requests[-1]
    assert request.path == "/api/v2.0/projects/test/repositories/alpine%252Fhelm/artifacts"
    assert request.query == {"with_scan_overview": "true", "with_tag": "true", "page": "2", "page_size": "2"}
    assert harbor.requests[1].path == "/api/v2.0/projects/test/repositories"


def test_a_project_gone_is_refused(client: HarborClient) -> None:
    with pytest.raises(PullRefused, match="404"):
        client.repositories("deleted", page=1, page_size=10)


def test_pages_are_harbors_sizes(client: HarborClient) -> None:
    with pytest.raises(ValueError, match="page_size"):
        client.projects(page=1, page_size=101)


# --- construction ---------------------------------------------------------------------------------------


def test_plain_http_is_refused_naming_the_url() -> None:
    with pytest.raises(ValueError, match=r"http://harbor\.example\.com must use https"):
        HarborClient("http://harbor.example.com", "robot$riskgate", "secret-value")


def test_plain_http_is_allowed_to_the_hosts_the_settings_name() -> None:
    client = HarborClient(
        "http://127.0.0.1:8080/", "robot$riskgate", "secret-value", insecure_hosts={"127.0.0.1"}
    )
    assert client.base_url == "http://127.0.0.1:8080"


def test_https_needs_no_allowance() -> None:
    client = HarborClient("https://harbor.example.com", "robot$riskgate", "secret-value")
    assert client.base_url == "https://harbor.example.com"


def test_a_url_with_credentials_is_refused_without_repeating_them() -> None:
    with pytest.raises(ValueError, match="must not carry credentials") as refused:
        HarborClient("https://admin:hunter22@harbor.example.com", "robot$riskgate", "secret-value")
    assert "hunter22" not in str(refused.value)


def test_a_secret_that_cannot_be_sent_is_refused_without_repeating_it() -> None:
    with pytest.raises(ValueError, match="robot secret") as refused:
        HarborClient("https://harbor.example.com", "robot$riskgate", "line-one\nline-two")
    assert "line-one" not in str(refused.value)


def test_the_client_does_not_show_its_secret() -> None:
    client = HarborClient("https://harbor.example.com", "robot$riskgate", "secret-value")
    assert "secret-value" not in repr(client)
