"""Engine observers that journal a job's run as it goes and hand the run the job's typed result
at the end (`RunTracker.finish` logs the final metrics from it).

A training run's step metrics are one batch per step with `step=<global step>`, so the MLflow
UI draws score curves while the run is going; step 0 is the initial skill.
"""

from __future__ import annotations

import logging

from skillopt.engine.outcome import MinibatchResult, NullObserver
from skillopt.engine.summary import ReflectSummary
from skillopt.engine.train.observer import NullTrainObserver
from skillopt.engine.train.records import (
    BaselineRecord,
    EpochRecord,
    StepRecord,
    TrainOutcome,
    is_accepted,
)
from skillopt.tracking.jobs import step_metrics, topup_metrics
from skillopt.tracking.names import JOB_TRAIN, Artifact, Metric
from skillopt.tracking.registry import (
    BEST_ALIAS,
    MAX_TEMPLATE_CHARS,
    read_exact,
    sha256_text,
)
from skillopt.tracking.run import RunTracker

log = logging.getLogger("skillopt.tracking")


class ReflectLogger(NullObserver):
    """Uploads each minibatch's files as they appear; hands the summary to the run, whose
    metrics are logged when it finishes."""

    def __init__(self, tracker: RunTracker) -> None:
        self.tracker = tracker

    def on_minibatch_done(self, result: MinibatchResult) -> None:
        self.tracker.wake()

    def on_finish(self, summary: ReflectSummary) -> None:
        self.tracker.result = summary


class TrainLogger(NullTrainObserver):
    """Logs each step's metrics to the run, and the skills worth keeping to the Prompt Registry
    (when `registry.prompt` is set); hands the outcome to the run at the end."""

    def __init__(self, tracker: RunTracker) -> None:
        self.tracker = tracker

    def _log(self, metrics: dict[str, float], step: int) -> None:
        self.tracker.log_metrics(metrics, step=step)

    def _skill(
        self,
        name: str,
        *,
        role: str,
        step: int,
        gate_metric: str | None = None,
        gate_score: float | None = None,
    ) -> None:
        if self.tracker.registry_prompt is None:
            return
        path = self.tracker.out_dir / name
        text = read_exact(path)
        if len(text) > MAX_TEMPLATE_CHARS:
            log.warning(
                "registry: %s has %d characters (over %d); not registered",
                path,
                len(text),
                MAX_TEMPLATE_CHARS,
            )
            return
        self.tracker.add_skill_version(
            {
                "role": role,
                "step": step,
                "text": text,
                "gate_metric": gate_metric,
                "gate_score": gate_score,
            }
        )

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
        self._skill(skill_file(0), role="initial", step=0, gate_score=value)

    def on_step(self, record: StepRecord) -> None:
        self._log(step_metrics(record), record.step)
        if record.accepted:
            self._skill(
                skill_file(record.step),
                role="accepted",
                step=record.step,
                gate_metric=record.gate_metric,
                gate_score=record.gate_score,
            )

    def on_epoch_end(self, record: EpochRecord) -> None:
        metrics: dict[str, float] = {Metric.EPOCH: float(record.epoch)}
        if record.gate_score is not None:
            metrics[Metric.SLOW_UPDATE_SCORE] = float(record.gate_score)
            metrics[Metric.SLOW_UPDATE_ACCEPTED] = float(record.action != "reject")
        metrics.update(topup_metrics(record))
        self._log(metrics, record.step)
        if is_accepted(record.action):
            self._skill(
                skill_file(record.step),
                role="accepted",
                step=record.step,
                gate_score=record.gate_score,
            )

    def on_finish(self, outcome: TrainOutcome) -> None:
        self.tracker.result = outcome
        self._skill(
            Artifact.FINAL_SKILL,
            role="final",
            step=outcome.total_steps,
            gate_metric=outcome.gate_metric,
            gate_score=outcome.final_selection_score,
        )
        if self.tracker.registry_prompt is not None:
            best = read_exact(self.tracker.out_dir / Artifact.BEST_SKILL)
            self.tracker.add_skill_version({"alias": BEST_ALIAS, "sha256": sha256_text(best)})


def skill_file(step: int) -> str:
    """The skill after `step`, as the training loop writes it."""
    return f"{Artifact.SKILLS}/skill_v{step:04d}.md"


def run_observer(tracker: RunTracker) -> ReflectLogger | TrainLogger:
    """The observer that logs a job into `tracker`'s run and hands it the job's typed result."""
    return TrainLogger(tracker) if tracker.kind.name == JOB_TRAIN else ReflectLogger(tracker)
