"""Reading the business metrics a function printed: CloudWatch embedded metric format (EMF) documents,
one JSON line each on stdout, among the JSON log lines."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from riskgate.resources import METRICS_NAMESPACE, METRICS_SERVICE


def emf_documents(output: str) -> list[dict[str, Any]]:
    """Every EMF document of the output (a JSON object with `_aws.CloudWatchMetrics`), in order."""
    documents = []
    for line in output.splitlines():
        try:
            document = json.loads(line)
        except ValueError:
            continue
        if isinstance(document, dict) and "CloudWatchMetrics" in (document.get("_aws") or {}):
            documents.append(document)
    return documents


def figures(document: dict[str, Any]) -> dict[str, float]:
    """A document's metrics and values, after checking it is one of Riskgate's business figures: the
    namespace, the one dimension `service`, unit Count."""
    (directive,) = document["_aws"]["CloudWatchMetrics"]
    assert directive["Namespace"] == METRICS_NAMESPACE
    assert directive["Dimensions"] == [["service"]]
    assert document["service"] == METRICS_SERVICE
    found = {}
    for metric in directive["Metrics"]:
        assert metric["Unit"] == "Count", metric
        value = document[metric["Name"]]
        # EMF allows a number or an array of numbers (summed by CloudWatch's Sum statistic).
        found[metric["Name"]] = sum(value) if isinstance(value, list) else value
    return found


def emitted(output: str) -> list[dict[str, float]]:
    """The figures of each EMF line of the output."""
    return [figures(document) for document in emf_documents(output)]


def totals(output: str) -> Counter[str]:
    """Each figure summed over every EMF line of the output."""
    summed: Counter[str] = Counter()
    for line in emitted(output):
        summed.update(line)
    return summed
