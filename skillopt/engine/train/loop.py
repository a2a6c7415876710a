"""The training loop: epochs of steps, each gated on the selection split, then epoch-level stages.

    baseline: score the initial skill on the selection split
    for each epoch: for each step: (rollout -> reflect) x accumulation -> aggregate -> select
                    -> update -> gate [-> execution notes into the appendix]
                    then the slow update (guidance block) and the optimizer's meta skill
    end: promote the final skill if it beats the best, test the initial, best and final skill

Scores are kept in one unit: the selection cache holds measured (hard, soft) pairs only, and
every current or best score is the gate metric of a measured skill. State is saved atomically
after every step and stage, so a stopped run continues from the last completed step and ends
with the same skills, history and metrics as one that never stopped. The stages live beside
this module: `step` (the proposal half of a step), `evaluation` (scoring on held-out splits),
`epochend` (slow update and meta skill) and `records` (what the loop reports).
"""

from __future__ import annotations

import json
import logging
import math
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from skillopt.base.atomic import write_json, write_text
from skillopt.base.errors import ConfigError, SkillOptError
from skillopt.base.skill import skill_hash
from skillopt.engine.environment import Splits, Task
from skillopt.engine.train.appendix import update_appendix
from skillopt.engine.train.epochend import EpochEnd
from skillopt.engine.train.evaluation import Evaluator
from skillopt.engine.train.gate import decide
from skillopt.engine.train.items import short_item_summary
from skillopt.engine.train.observer import NullTrainObserver, TrainObserver
from skillopt.engine.train.records import (
    AppendixCounts,
    BaselineRecord,
    EpochStats,
    FinalTestScores,
    SplitSizes,
    StepRecord,
    TrainOutcome,
    TrainPlan,
)
from skillopt.engine.train.schedule import make_schedule
from skillopt.engine.train.settings import GateSettings, TrainSettings
from skillopt.engine.train.state import TrainState
from skillopt.engine.train.step import StepInputs, StepRunner, TrainBatch
from skillopt.engine.train.stepbuffer import build_entry, render_step_buffer
from skillopt.llm.ledger import StageUsage, Usage, usage_delta
from skillopt.llm.tracing import SpanSink, open_trace, span

log = logging.getLogger("skillopt.train")

STATE_FILE = "state.json"
LR_HISTORY_FILE = "lr_history.jsonl"  # one line per autonomous decision, rewritten each step
TRACE_TAG = "skillopt.trace"  # what a trace of a training run covers: baseline, step, ...


class StopRequested(SkillOptError):
    """Raised after a completed step when `stop_after_step` asks for it (tests resume with it)."""


def plan_epoch(
    train: tuple[Task, ...], *, batch_size: int, seed: int, epoch: int
) -> list[tuple[Task, ...]]:
    """The epoch's batches: the train split shuffled with Random(seed + 1000 * epoch), cut into
    consecutive chunks of batch_size (the last may be shorter)."""
    order = list(train)
    random.Random(seed + 1000 * epoch).shuffle(order)
    return [tuple(order[i : i + batch_size]) for i in range(0, len(order), batch_size)]


def plan_steps(
    train: tuple[Task, ...], *, batch_size: int, accumulation: int, seed: int, epoch: int
) -> list[tuple[TrainBatch, ...]]:
    """The epoch's steps: `plan_epoch`'s batches taken `accumulation` at a time, so there are
    ceil(train size / (batch_size * accumulation)) steps and the last may hold fewer batches.
    Batch b of the epoch (0-based, counted across steps) shuffles its minibatches with seed
    + 1000 * epoch + b + 1, SkillOpt's batch seed. (SkillOpt fills a short last step with
    batches cut from a reshuffled copy, so some tasks are seen twice in an epoch; here each
    train task is seen once per epoch.)"""
    batches = plan_epoch(train, batch_size=batch_size, seed=seed, epoch=epoch)
    seeded = [
        TrainBatch(tasks=tasks, seed=seed + 1000 * epoch + b + 1) for b, tasks in enumerate(batches)
    ]
    return [tuple(seeded[i : i + accumulation]) for i in range(0, len(seeded), accumulation)]


@dataclass(kw_only=True)
class Trainer:
    """Runs (or resumes) one training job into `out_dir`.

    With a span sink (`traces`), the baseline, every step, every epoch's end and the final
    evaluation are traces of their own, whose spans are the stages and their LLM calls.
    """

    runner: StepRunner
    splits: Splits
    initial_skill: str
    out_dir: Path
    settings: TrainSettings
    gate: GateSettings
    fingerprint: dict[str, Any]
    observer: TrainObserver = field(default_factory=NullTrainObserver)
    traces: SpanSink | None = None
    stop_after_step: int | None = None

    def __post_init__(self) -> None:
        if not self.splits.train:
            raise ConfigError("the train split is empty: check the dataset and its split ratio")
        if not self.splits.selection:
            raise ConfigError("the selection split is empty: the gate has nothing to score")
        self.evaluator = Evaluator(
            env=self.runner.env,
            target=self.runner.target,
            selection=_first(self.splits.selection, self.gate.selection_size),
            test=_first(self.splits.test, self.gate.test_size),
        )
        per_step = self.settings.batch_size * self.settings.accumulation
        self.steps_per_epoch = math.ceil(len(self.splits.train) / per_step)
        self.total_steps = self.settings.epochs * self.steps_per_epoch
        self.schedule = make_schedule(
            self.settings.schedule,
            max_budget=self.settings.edit_budget,
            min_budget=self.settings.min_edit_budget,
            total_steps=self.total_steps,
        )
        self.epoch_end = EpochEnd(
            runner=self.runner,
            evaluator=self.evaluator,
            settings=self.settings,
            gate=self.gate,
            train_tasks=self.splits.train,
        )
        self._state: TrainState | None = None
        reflect, mode = self.runner.reflect, self.runner.spec.mode.value
        if reflect.skill_aware_ignored:
            log.warning("reflect.skill_aware=true is ignored in update mode %s", mode)
        if self.schedule.autonomous and mode == "full_rewrite_minibatch":
            log.warning("train.schedule=autonomous is ignored in update mode %s (no budget)", mode)

    @property
    def selection(self) -> tuple[Task, ...]:
        return self.evaluator.selection

    @property
    def test(self) -> tuple[Task, ...]:
        return self.evaluator.test

    # ----------------------------------------------------------------- state and usage
    def _usage(self) -> dict[str, Usage]:
        return {
            "optimizer": self.runner.optimizer.ledger.usage(),
            "target": self.runner.target.client.ledger.usage(),
        }

    def _stage_usage(self) -> dict[str, StageUsage]:
        stages: dict[str, StageUsage] = {}
        for usage in self._usage().values():
            stages.update(usage.stages)
        return stages

    def _save(self, state: TrainState) -> None:
        state.usage = self._usage()
        write_json(self.out_dir / "history.json", [r.to_json() for r in state.history])
        write_text(self.out_dir / "best_skill.md", state.best_skill)
        state.save(self.out_dir / STATE_FILE)

    # -------------------------------------------------------------------------- run
    def run(self) -> TrainOutcome:
        """Train (or continue training) and return the outcome."""
        started = time.perf_counter()
        state = self._state = TrainState.resume_or_start(
            self.out_dir / STATE_FILE,
            fingerprint=self.fingerprint,
            initial_skill=self.initial_skill,
        )
        if state.last_completed_step or state.current_score is not None:
            log.info("resuming after step %d from %s", state.last_completed_step, self.out_dir)
        self.runner.optimizer.ledger.restore(state.usage.get("optimizer", Usage()))
        self.runner.target.client.ledger.restore(state.usage.get("target", Usage()))
        self.out_dir.mkdir(parents=True, exist_ok=True)
        write_text(self.out_dir / "skills" / "skill_v0000.md", state.initial_skill)
        write_json(self.out_dir / "split_manifest.json", self.splits.manifest())
        self.observer.on_start(
            TrainPlan(
                epochs=self.settings.epochs,
                steps_per_epoch=self.steps_per_epoch,
                total_steps=self.total_steps,
                resume_after=state.last_completed_step,
                train=len(self.splits.train),
                selection=len(self.selection),
                test=len(self.test),
            )
        )
        if state.current_score is None:
            with open_trace(self.traces, "baseline", tags={TRACE_TAG: "baseline"}):
                self._baseline(state)
        for epoch in range(1, self.settings.epochs + 1):
            if state.buffer_epoch != epoch:
                state.step_buffer, state.buffer_epoch = [], epoch
            steps = plan_steps(
                self.splits.train,
                batch_size=self.settings.batch_size,
                accumulation=self.settings.accumulation,
                seed=self.settings.seed,
                epoch=epoch,
            )
            for index, batches in enumerate(steps):
                step = (epoch - 1) * self.steps_per_epoch + index + 1
                if step <= state.last_completed_step:
                    continue
                tags = {TRACE_TAG: "step", "skillopt.step": str(step), "skillopt.epoch": str(epoch)}
                ids = [t.id for b in batches for t in b.tasks]
                inputs = {"step": step, "epoch": epoch, "batch_ids": ids}
                with open_trace(self.traces, f"step_{step:04d}", inputs=inputs, tags=tags):
                    self._step(state, epoch=epoch, index=index, step=step, batches=batches)
                if self.stop_after_step is not None and step == self.stop_after_step:
                    raise StopRequested(f"stopped after step {step} as train.stop_after_step asked")
            if epoch not in state.epochs_done:
                tags = {TRACE_TAG: "epoch_end", "skillopt.epoch": str(epoch)}
                with open_trace(self.traces, f"epoch_{epoch:02d}", tags=tags):
                    self._epoch_end(state, epoch)
        with open_trace(self.traces, "finish", tags={TRACE_TAG: "finish"}):
            outcome = self._finish(state, wall_s=time.perf_counter() - started)
        self.observer.on_finish(outcome)
        return outcome

    def history(self) -> list[StepRecord]:
        """The step records so far (all of them after `run`)."""
        return list(self._state.history) if self._state is not None else []

    def _baseline(self, state: TrainState) -> None:
        with span("gate"):
            score, _ = self.evaluator.selection_score(
                state.selection_cache, state.initial_skill, self.out_dir / "selection_eval_baseline"
            )
        value = self.gate.value(score)
        state.baseline = score
        state.current_score = state.best_score = value
        self._save(state)
        log.info("baseline: selection %s = %.4f", self.gate.metric, value)
        self.observer.on_baseline(BaselineRecord(selection=score, gate_score=value))

    # -------------------------------------------------------------------------- step
    def _step(
        self,
        state: TrainState,
        *,
        epoch: int,
        index: int,
        step: int,
        batches: tuple[TrainBatch, ...],
    ) -> None:
        step_dir = self.out_dir / "steps" / f"step_{step:04d}"
        usage_before = self._stage_usage()
        spec = self.runner.spec
        inputs = StepInputs(
            batches=batches,
            edit_budget=self.schedule.budget(step),
            step_context=render_step_buffer(state.step_buffer, spec.mode),
            meta_skill=state.meta_skill if self.settings.use_meta_skill else "",
            autonomous=self.schedule.autonomous,
        )
        before = state.current_score
        proposal = self.runner.propose(state.current_skill, inputs, step_dir)
        proposal.warn_fallbacks(step)

        started = time.perf_counter()
        gated: dict[str, Any] = {"action": proposal.skip}
        if proposal.skip is None:
            candidate = proposal.candidate
            assert candidate is not None
            with span("gate") as gate_span:
                score, cached = self.evaluator.selection_score(
                    state.selection_cache, candidate, step_dir / "selection_eval"
                )
                value = self.gate.value(score)
                decision = decide(value, state.gate, step=step, use_gate=self.gate.enabled)
                if gate_span is not None:
                    gate_span.end(outputs={"action": decision.action, "gate_score": value})
            state.adopt(decision, candidate, origin=f"step_{step:04d}")
            gated = {
                "action": decision.action,
                "candidate_hash": skill_hash(candidate),
                "candidate_skill_len": len(candidate),
                "selection": score,
                "selection_cached": cached,
                "gate_metric": self.gate.metric,
                "gate_score": value,
            }
            state.step_buffer.append(
                build_entry(
                    step=step,
                    action=decision.action,
                    rows=proposal.train_rows,
                    failure_summaries=proposal.failure_summaries,
                    score_before=before,
                    score_after=value,
                    rejected_items=[
                        short_item_summary(i, spec.mode) for i in proposal.selected_items
                    ],
                    mode=spec.mode,
                )
            )
        proposal.timing["evaluate_s"] = time.perf_counter() - started
        appendix = None
        if proposal.appendix_notes is not None:
            with span("appendix", attributes={"skillopt.notes": len(proposal.appendix_notes)}):
                state.current_skill, update = update_appendix(
                    state.current_skill,
                    proposal.appendix_notes,
                    threshold=self.settings.appendix_consolidate_threshold,
                    asker=self.runner.asker,
                )
            write_json(step_dir / "appendix_notes.json", update.to_json())
            appendix = AppendixCounts.of(update)
        usage_after = self._stage_usage()
        budget = inputs.edit_budget
        if proposal.learning_rate is not None:
            budget = proposal.learning_rate.learning_rate
        record = StepRecord(
            step=step,
            epoch=epoch,
            step_in_epoch=index,
            batch_seed=batches[0].seed,
            batch_ids=tuple(t.id for t in inputs.tasks),
            edit_budget=None if spec.mode.value == "full_rewrite_minibatch" else budget,
            train=proposal.train_score,
            n_patches=proposal.n_patches,
            n_failure_patches=proposal.n_failure_patches,
            n_success_patches=proposal.n_success_patches,
            failed_minibatches=proposal.failed_minibatches,
            current_score=state.current_score,
            best_score=state.best_score,
            best_step=state.best_step,
            current_origin=state.current_origin,
            best_origin=state.best_origin,
            skill_len=len(state.current_skill),
            usage=usage_delta(usage_before, usage_after),
            llm_cost_usd=round(sum(u.cost_usd for u in usage_after.values()), 6),
            timing={k: round(v, 4) for k, v in proposal.timing.items()},
            appendix=appendix,
            **proposal.record_fields(),
            **gated,
        )
        write_json(step_dir / "step_record.json", record.to_json())
        write_text(self.out_dir / "skills" / f"skill_v{step:04d}.md", state.current_skill)
        state.history.append(record)
        state.last_completed_step = step
        if record.learning_rate is not None:
            self._write_lr_history(state)
        self._save(state)
        log.info(
            "step %d/%d (epoch %d): %s; budget %s, train %s %.3f, gate %s",
            step,
            self.total_steps,
            epoch,
            record.action,
            record.edit_budget,
            self.gate.metric,
            self.gate.value(proposal.train_score),
            "-" if record.gate_score is None else f"{record.gate_score:.4f}",
        )
        self.observer.on_step(record)

    def _write_lr_history(self, state: TrainState) -> None:
        """`lr_history.jsonl`: every autonomous decision so far, {step, epoch, ...}, one a line
        (rewritten from the history, so a resumed run never writes a decision twice)."""
        lines = [
            json.dumps({"step": r.step, "epoch": r.epoch, **r.learning_rate.to_json()})
            for r in state.history
            if r.learning_rate is not None
        ]
        write_text(self.out_dir / LR_HISTORY_FILE, "".join(f"{line}\n" for line in lines))

    # ------------------------------------------------------------------- epoch end
    def _epoch_end(self, state: TrainState, epoch: int) -> None:
        folder = self.out_dir / "slow_update" / f"epoch_{epoch:02d}"
        record = self.epoch_end.run(state, epoch, folder)
        write_json(folder / "epoch_record.json", record.to_json())
        state.prev_epoch_skill = state.current_skill
        state.epochs_done.append(epoch)
        write_text(
            self.out_dir / "skills" / f"skill_v{state.last_completed_step:04d}.md",
            state.current_skill,
        )
        self._save(state)
        self.observer.on_epoch_end(record)

    # ------------------------------------------------------------------------ finish
    def _finish(self, state: TrainState, *, wall_s: float) -> TrainOutcome:
        final_skill = state.current_skill
        promoted = False
        if (
            state.current_score is not None
            and state.best_score is not None
            and state.current_score > state.best_score
        ):
            state.best_skill, state.best_score = final_skill, state.current_score
            state.best_origin, promoted = state.current_origin, True
        tests = None
        if self.settings.eval_test and self.test:
            scores = {}
            for name, skill, folder in (
                ("baseline", state.initial_skill, "test_eval_baseline"),
                ("best", state.best_skill, "test_eval"),
                ("final", final_skill, "test_eval_final"),
            ):
                with span(f"test_{name}"):
                    scores[name] = self.evaluator.test_score(
                        state.test_cache, skill, self.out_dir / folder
                    )
            tests = FinalTestScores(**scores)
        epochs = []
        for epoch in range(1, self.settings.epochs + 1):
            mine = [r for r in state.history if r.epoch == epoch]
            epochs.append(
                EpochStats(
                    epoch=epoch,
                    steps=len(mine),
                    accepts=sum(r.accepted for r in mine),
                    rejects=sum(r.action == "reject" for r in mine),
                    skips=sum(r.skipped for r in mine),
                )
            )
        state.finished = True
        self._save(state)
        write_text(self.out_dir / "final_skill.md", final_skill)
        baseline = state.baseline
        return TrainOutcome(
            gate_metric=self.gate.metric,
            baseline_selection=baseline,
            baseline_selection_score=None if baseline is None else self.gate.value(baseline),
            best_selection_score=state.best_score,
            final_selection=state.selection_cache.get(skill_hash(final_skill)),
            final_selection_score=state.current_score,
            best_step=state.best_step,
            best_origin=state.best_origin,
            current_origin=state.current_origin,
            final_promoted_to_best=promoted,
            epochs=tuple(epochs),
            test=tests,
            splits=SplitSizes(
                train=len(self.splits.train), selection=len(self.selection), test=len(self.test)
            ),
            steps_per_epoch=self.steps_per_epoch,
            usage=self._usage(),
            wall_s=round(wall_s, 4),
            history=tuple(state.history),
        )


def _first(tasks: tuple[Task, ...], n: int) -> tuple[Task, ...]:
    return tasks if n <= 0 else tasks[:n]
