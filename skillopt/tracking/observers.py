"""Engine observers that log a job into its MLflow run as it goes and hand the run the job's
typed result at the end (`RunTracker.finish` logs the final metrics from it).

A training run's step metrics are one `log_batch` per step with `step=<global step>`, so the
MLflow UI draws score curves while the run is going; step 0 is the initial skill.
"""

from __future__ import annotations

from skillopt.engine.outcome import MinibatchResult, NullObserver
from skillopt.engine.summary import ReflectSummary
from skillopt.engine.train.observer import NullTrainObserver
from skillopt.engine.train.records import BaselineRecord, EpochRecord, StepRecord, TrainOutcome
from skillopt.tracking.jobs import step_metrics
from skillopt.tracking.names import JOB_TRAIN, Metric
from skillopt.tracking.run import RunTracker


class ReflectLogger(NullObserver):
    """Uploads each minibatch's files as they appear; hands the summary to the run, whose
    metrics are logged when it finishes."""

    def __init__(self, tracker: RunTracker) -> None:
        self.tracker = tracker

    def on_minibatch_done(self, result: MinibatchResult) -> None:
        self.tracker.sync_artifacts()

    def on_finish(self, summary: ReflectSummary) -> None:
        self.tracker.result = summary


class TrainLogger(NullTrainObserver):
    """Logs each step's metrics to the run; hands the outcome to it at the end."""

    def __init__(self, tracker: RunTracker) -> None:
        self.tracker = tracker

    def _log(self, metrics: dict[str, float], step: int) -> None:
        self.tracker.log_metrics(metrics, step=step)
        self.tracker.sync_artifacts()

    def on_baseline(self, record: BaselineRecord) -> None:
        value = record.gate_score
        self._log(
            {
                Metric.SELECTION_HARD: record.selection.hard,
                Metric.SELECTION_SOFT: record.selection.soft,
                Metric.GATE_SCORE: value,
                Metric.GATE_CURRENT: value,
                Metric.GATE_BEST: value,
            },
            0,
        )

    def on_step(self, record: StepRecord) -> None:
        self._log(step_metrics(record), record.step)

    def on_epoch_end(self, record: EpochRecord) -> None:
        metrics: dict[str, float] = {Metric.EPOCH: float(record.epoch)}
        if record.gate_score is not None:
            metrics[Metric.SLOW_UPDATE_SCORE] = float(record.gate_score)
            metrics[Metric.SLOW_UPDATE_ACCEPTED] = float(record.action != "reject")
        self._log(metrics, record.step)

    def on_finish(self, outcome: TrainOutcome) -> None:
        self.tracker.result = outcome


def run_observer(tracker: RunTracker) -> ReflectLogger | TrainLogger:
    """The observer that logs a job into `tracker`'s run and hands it the job's typed result."""
    return TrainLogger(tracker) if tracker.kind.name == JOB_TRAIN else ReflectLogger(tracker)
