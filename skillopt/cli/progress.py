"""What a job tells its user: a tqdm bar (quiet when not a TTY), failures as they happen, and a
short summary at the end. Both are engine observers; they read typed events only."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from tqdm import tqdm

from skillopt.engine.minibatch import Minibatch
from skillopt.engine.outcome import MinibatchResult, NullObserver
from skillopt.engine.summary import ReflectSummary
from skillopt.engine.train import NullTrainObserver, StepRecord, TrainOutcome, TrainPlan

log = logging.getLogger("skillopt.reflect")


class ProgressBar(NullObserver):
    """One tick per finished minibatch; failures are logged as they happen; the end-of-run
    summary (counts, usage, cost, each failed minibatch) is logged when the run finishes."""

    def __init__(self, out_dir: Path) -> None:
        self.out_dir = out_dir
        self._bar: tqdm | None = None

    def on_start(self, plan: list[Minibatch]) -> None:
        self._bar = tqdm(
            total=len(plan), unit="minibatch", desc="reflect", disable=not sys.stderr.isatty()
        )

    def on_minibatch_done(self, result: MinibatchResult) -> None:
        if result.status == "failed":
            log.warning("%s failed (%s): %s", result.name, result.failure_reason, result.error)
        if self._bar is not None:
            self._bar.update(1)
            self._bar.set_postfix_str(f"{result.name} {result.status}", refresh=False)

    def on_finish(self, summary: ReflectSummary) -> None:
        self.close()
        est = summary.dry_run_estimate
        if est is not None:
            log.info(
                "dry run: %d requests written, ~%d prompt tokens, ~$%.4f input cost; "
                "nothing was called -> %s",
                est.requests,
                est.prompt_tokens,
                est.input_cost_usd,
                self.out_dir,
            )
            return
        mb, payload, llm = summary.minibatches, summary.payload, summary.llm
        log.info(
            "done: %d minibatches (%d ok, %d failed, %d empty, %d resumed), %d %s kept "
            "(%d dropped, %d over budget, %d repaired replies); %d calls, %d cache hits, "
            "%d+%d tokens, $%.4f; %.2fs -> %s",
            mb.total,
            mb.ok,
            mb.failed,
            mb.empty,
            mb.resumed,
            payload.items,
            payload.key,
            payload.dropped,
            payload.truncated_by_budget,
            payload.repaired_replies,
            llm.calls,
            llm.cache_hits,
            llm.prompt_tokens,
            llm.completion_tokens,
            llm.cost_usd,
            summary.wall_s,
            self.out_dir,
        )
        for failed in summary.failed_minibatches:
            log.warning("failed: %s (%s) %s", failed.minibatch, failed.reason, failed.error)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


class TrainProgress(NullTrainObserver):
    """A tqdm bar over the run's steps, and the end-of-run line."""

    def __init__(self, out_dir: Path) -> None:
        self.out_dir = out_dir
        self._bar: tqdm | None = None

    def on_start(self, plan: TrainPlan) -> None:
        self._bar = tqdm(
            total=plan.total_steps,
            initial=plan.resume_after,
            unit="step",
            desc="train",
            disable=not sys.stderr.isatty(),
        )

    def on_step(self, record: StepRecord) -> None:
        if self._bar is not None:
            self._bar.update(1)
            self._bar.set_postfix_str(
                f"{record.action} best={record.best_score:.3f}", refresh=False
            )

    def on_finish(self, outcome: TrainOutcome) -> None:
        self.close()
        logging.getLogger("skillopt.train").info(
            "done: selection %s %.4f -> best %.4f (step %d); %d accepted, %d rejected, "
            "%d skipped -> %s",
            outcome.gate_metric,
            outcome.baseline_selection_score or 0.0,
            outcome.best_selection_score or 0.0,
            outcome.best_step,
            outcome.accepts,
            outcome.rejects,
            outcome.skips,
            self.out_dir,
        )

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
