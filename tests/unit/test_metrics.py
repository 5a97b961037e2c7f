"""riskgate.metrics: business figures as Powertools EMF lines on stdout — the shape CloudWatch reads, one
line per invocation for a batch, and never a failure of the operation that counted."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_lambda_powertools.metrics import EphemeralMetrics

from riskgate import metrics
from riskgate.resources import (
    BUSINESS_METRICS,
    METRIC_FINDINGS_ACCEPTED,
    METRIC_NOTIFICATIONS_SENT,
    METRIC_SCANS_INGESTED,
    METRIC_VERDICT_COMPLIANT,
    METRIC_VERDICT_NON_COMPLIANT,
)
from tests.support.emf import emf_documents, emitted


class Recorder:
    """Stands for the metrics' logger."""

    def __init__(self) -> None:
        self.logged: list[tuple[str, dict[str, Any]]] = []

    def exception(self, message: str, **fields: Any) -> None:
        self.logged.append((message, fields))


@pytest.fixture
def log(monkeypatch: pytest.MonkeyPatch) -> Recorder:
    recorder = Recorder()
    monkeypatch.setattr(metrics, "_logger", lambda: recorder)
    return recorder


def test_a_figure_outside_an_invocation_is_one_emf_line_in_riskgates_namespace(
    capsys: pytest.CaptureFixture[str],
) -> None:
    metrics.count(METRIC_SCANS_INGESTED, 3)

    (line,) = capsys.readouterr().out.splitlines()
    document = json.loads(line)
    assert document["_aws"]["CloudWatchMetrics"] == [
        {
            "Namespace": "Riskgate",
            "Dimensions": [["service"]],
            "Metrics": [{"Name": "ScansIngested", "Unit": "Count"}],
        }
    ]
    assert document["service"] == "riskgate"
    assert document["ScansIngested"] == [3.0]
    assert isinstance(document["_aws"]["Timestamp"], int)


def test_the_figures_of_an_invocation_are_added_up_into_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    @metrics.per_invocation
    def handler(event: dict[str, Any], context: Any) -> str:
        for record in event["Records"]:
            metrics.count(METRIC_VERDICT_COMPLIANT if record["ok"] else METRIC_VERDICT_NON_COMPLIANT)
            metrics.count(METRIC_FINDINGS_ACCEPTED, record["accepted"])
        assert capsys.readouterr().out == ""  # nothing before the invocation ends
        return "done"

    records = [{"ok": True, "accepted": 2}, {"ok": False, "accepted": 0}, {"ok": True, "accepted": 1}]
    assert handler({"Records": records}, None) == "done"

    assert emitted(capsys.readouterr().out) == [
        {METRIC_VERDICT_COMPLIANT: 2, METRIC_VERDICT_NON_COMPLIANT: 1, METRIC_FINDINGS_ACCEPTED: 3}
    ]


def test_what_was_counted_before_a_failure_is_emitted_and_the_failure_raised(
    capsys: pytest.CaptureFixture[str],
) -> None:
    @metrics.per_invocation
    def handler(event: Any, context: Any) -> None:
        metrics.count(METRIC_SCANS_INGESTED)
        raise RuntimeError("the function timed out")

    with pytest.raises(RuntimeError, match="timed out"):
        handler({}, None)
    assert emitted(capsys.readouterr().out) == [{METRIC_SCANS_INGESTED: 1}]


def test_an_invocation_that_counts_nothing_prints_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    with metrics.collected():
        pass
    assert capsys.readouterr().out == ""


def test_a_nested_collection_adds_to_the_outer_one(capsys: pytest.CaptureFixture[str]) -> None:
    with metrics.collected():
        metrics.count(METRIC_NOTIFICATIONS_SENT)
        with metrics.collected():
            metrics.count(METRIC_NOTIFICATIONS_SENT)
        assert capsys.readouterr().out == ""
    assert emitted(capsys.readouterr().out) == [{METRIC_NOTIFICATIONS_SENT: 2}]
    # Once out of it, a figure is emitted at once again.
    metrics.count(METRIC_NOTIFICATIONS_SENT)
    assert emitted(capsys.readouterr().out) == [{METRIC_NOTIFICATIONS_SENT: 1}]


def test_a_failing_metrics_backend_is_logged_not_raised(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, log: Recorder
) -> None:
    def broken(self: Any, raise_on_empty_metrics: bool = False) -> None:
        raise OSError("stdout is closed")

    monkeypatch.setattr(EphemeralMetrics, "flush_metrics", broken)

    metrics.count(METRIC_SCANS_INGESTED)  # does not raise
    with metrics.collected():
        metrics.count(METRIC_SCANS_INGESTED)

    assert capsys.readouterr().out == ""
    assert log.logged == [
        ("business metrics not emitted", {"metrics": [METRIC_SCANS_INGESTED]}),
        ("business metrics not emitted", {"metrics": [METRIC_SCANS_INGESTED]}),
    ]


def test_a_figure_powertools_refuses_is_logged_and_the_others_still_emitted(
    capsys: pytest.CaptureFixture[str], log: Recorder
) -> None:
    with metrics.collected():
        metrics.count(METRIC_SCANS_INGESTED)
        metrics.count("", 1)  # no name: Powertools raises MetricNameError
        metrics.count(METRIC_FINDINGS_ACCEPTED, "two")  # type: ignore[arg-type]  # not a number

    assert emitted(capsys.readouterr().out) == [{METRIC_SCANS_INGESTED: 1}]
    assert [message for message, _ in log.logged] == ["business metric not recorded"] * 2


def test_even_a_failing_log_does_not_fail_the_caller(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("broken")

    monkeypatch.setattr(metrics, "_logger", broken)
    monkeypatch.setattr(EphemeralMetrics, "add_metric", broken)
    metrics.count(METRIC_SCANS_INGESTED)
    assert capsys.readouterr().out == ""


def test_disabled_powertools_metrics_print_nothing(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    metrics.count(METRIC_SCANS_INGESTED)
    assert capsys.readouterr().out == ""


def test_every_business_metric_is_accepted_by_powertools(capsys: pytest.CaptureFixture[str]) -> None:
    with metrics.collected():
        for name in BUSINESS_METRICS:
            metrics.count(name)
    (line,) = emitted(capsys.readouterr().out)
    assert line == dict.fromkeys(BUSINESS_METRICS, 1)
    assert len(emf_documents(json.dumps({"message": "a log line"}))) == 0
