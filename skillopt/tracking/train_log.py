"""A training job's step metrics, logged to its MLflow run as each step ends.

Every step is one `log_batch` with `step=<global step>`, so the MLflow UI draws score curves
while the run is going. Step 0 is the baseline: the initial skill's selection score. Metric
names are the contract `skillopt-report` reads.
"""

from __future__ import annotations

import time
from typing import Any

from skillopt.engine.train import NullTrainObserver
from skillopt.tracking.run import RunTracker

ACCEPTED = ("accept", "accept_new_best", "force_accept")


def step_metrics(record: dict[str, Any]) -> dict[str, float]:
    """The metrics of one step record (or of the baseline record, step 0)."""
    metrics: dict[str, float] = {}
    selection = record.get("selection")
    if selection:
        metrics["selection.hard"] = selection["hard"]
        metrics["selection.soft"] = selection["soft"]
    if record.get("gate_score") is not None:
        metrics["gate.score"] = record["gate_score"]
    for name in ("current_score", "best_score"):
        if record.get(name) is not None:
            metrics[f"gate.{name.split('_')[0]}"] = record[name]
    action = record.get("action")
    if action is not None and not action.startswith("skip"):
        metrics["gate.accepted"] = 1.0 if action in ACCEPTED else 0.0
    if action is not None:
        metrics["step.skipped"] = 1.0 if action.startswith("skip") else 0.0
    train = record.get("train")
    if train:
        metrics["train.hard"] = train["hard"]
        metrics["train.soft"] = train["soft"]
    if record.get("edit_budget") is not None:
        metrics["select.edit_budget"] = record["edit_budget"]
    if "n_items_merged" in record:
        metrics["aggregate.items"] = record["n_items_merged"]
        metrics["aggregate.fallbacks"] = record["merge_fallbacks"]
    if "n_items_selected" in record:
        metrics["select.items"] = record["n_items_selected"]
    applied = record.get("edit_apply_summary")
    if applied:
        metrics["update.edits_applied"] = applied["applied"]
        metrics["update.edits_skipped"] = applied["skipped"]
    if record.get("llm_cost_usd") is not None:
        metrics["llm.cost_usd"] = record["llm_cost_usd"]  # cumulative, both roles
    for stage, usage in (record.get("usage") or {}).items():
        metrics[f"tokens.{stage}.prompt"] = usage.get("prompt_tokens", 0)
        metrics[f"tokens.{stage}.completion"] = usage.get("completion_tokens", 0)
        metrics[f"cost.{stage}"] = usage.get("cost_usd", 0.0)
    return {k: float(v) for k, v in metrics.items()}


class TrainLogger(NullTrainObserver):
    """Logs each step's metrics to the tracker's run; the run's end is the tracker's job."""

    def __init__(self, tracker: RunTracker) -> None:
        self.tracker = tracker

    def _log(self, metrics: dict[str, float], step: int) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        self.tracker.client.log_batch(
            self.tracker.run_id, metrics=[Metric(k, v, now, step) for k, v in metrics.items()]
        )

    def on_baseline(self, record: dict[str, Any]) -> None:
        self._log(step_metrics(record), 0)

    def on_step(self, record: dict[str, Any]) -> None:
        self._log(step_metrics(record), record["step"])

    def on_epoch_end(self, record: dict[str, Any]) -> None:
        metrics: dict[str, float] = {"epoch": float(record["epoch"])}
        if record.get("gate_score") is not None:
            metrics["slow_update.gate_score"] = float(record["gate_score"])
        if record.get("action"):
            metrics["slow_update.accepted"] = float(record["action"] in ACCEPTED)
        self._log(metrics, record["step"])
