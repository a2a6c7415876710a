"""Comparing two MLflow runs of the same job: what must be equal, and what may differ (times)."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

from tests.trace_checks import root, run_traces

# Metrics that measure wall time: equal jobs differ in them.
TIMED = ("wall_s", "latency_p50_s", "latency_max_s")
# Tags that name where and how a job ran.
PLACE_TAGS = ("skillopt.output_dir", "skillopt.command", "skillopt.overrides", "mlflow.runName")


def run_of(client: Any, out_dir: Path) -> Any:
    run_id = json.loads((out_dir / ".skillopt" / "mlflow_run.json").read_text())["run_id"]
    return client.get_run(run_id)


def artifact_files(client: Any, run_id: str, path: str | None = None) -> list[str]:
    """Every artifact file of the run, recursively."""
    found = []
    for item in client.list_artifacts(run_id, path):
        if item.is_dir:
            found += artifact_files(client, run_id, item.path)
        else:
            found.append(item.path)
    return sorted(found)


def _untimed(metrics: dict[str, float]) -> dict[str, float]:
    return {k: v for k, v in metrics.items() if not k.endswith(TIMED)}


def assert_same_run(client: Any, expected: Any, actual: Any, tracking_uri: str) -> None:
    """`actual` holds what `expected` holds: params (but the tracking choice), metrics and their
    step histories (but wall times), tags (but where it ran), artifact files (but logs), the
    dataset, and trace trees of the same names and span counts."""

    def params(run: Any) -> dict[str, str]:
        return {k: v for k, v in run.data.params.items() if not k.startswith("tracking")}

    assert params(actual) == params(expected)
    assert _untimed(actual.data.metrics) == _untimed(expected.data.metrics)
    for key in expected.data.metrics:
        steps = [m.step for m in client.get_metric_history(expected.info.run_id, key)]
        assert [m.step for m in client.get_metric_history(actual.info.run_id, key)] == steps, key
    tags = {k for k in expected.data.tags if k not in PLACE_TAGS}
    assert tags <= set(actual.data.tags), tags - set(actual.data.tags)
    assert actual.data.tags["mlflow.note.content"] == expected.data.tags["mlflow.note.content"]

    def files(run: Any) -> list[str]:
        return [f for f in artifact_files(client, run.info.run_id) if not f.startswith("logs/")]

    assert files(actual) == files(expected)
    digest = [d.dataset.digest for d in expected.inputs.dataset_inputs]
    assert [d.dataset.digest for d in actual.inputs.dataset_inputs] == digest

    def shape(run: Any) -> Counter[tuple[str, int]]:
        return Counter((root(t).name, len(t.data.spans)) for t in run_traces(tracking_uri, run))

    assert shape(actual) == shape(expected)
