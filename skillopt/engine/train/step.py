"""One optimisation step: rollout, reflect, aggregate, select, update. The gate lives in the loop.

Every stage writes what it produced into the step folder (`steps/step_NNNN/`), so a step can be
read back file by file: the train rollout, the analysts' patches, `merged_patch.json`,
`lr_decision.json` (autonomous schedule), `ranked.json`, `candidate_skill.md` and the apply
report or rewrite result.

With gradient accumulation (`train.accumulation` = A > 1) a step rolls out and reflects on A
batches, each in `batch_NN/` (its `rollout/`, `patches/`, `prompts/`, ...), before one
aggregate over all their patches. A resumed step repeats no call: rollouts resume from their
`results.jsonl`, and every analyst, merge and decision request is the same as before, so the
call cache answers it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from skillopt.base.atomic import write_json, write_text
from skillopt.base.modes import ModeSpec, UpdateMode, mode_spec
from skillopt.base.rollout import load_rollout
from skillopt.base.scores import Score, mean_score
from skillopt.base.skill import normalize_skill
from skillopt.engine.ask import Asker
from skillopt.engine.environment import Environment, TargetModel, Task
from skillopt.engine.output import OutputWriter
from skillopt.engine.prompts import PromptLibrary
from skillopt.engine.reflect import run_reflect
from skillopt.engine.settings import ReflectSettings, RequestSettings
from skillopt.engine.train.aggregate import MergeOutcome, MergeSettings, Patch, merge_patches
from skillopt.engine.train.autonomous import LearningRate, decide_learning_rate
from skillopt.engine.train.rank import RankOutcome, rank_and_select
from skillopt.engine.train.records import BatchSummary
from skillopt.engine.train.rewrite import RewriteOutcome, pick_candidate, rewrite_from_suggestions
from skillopt.engine.train.update import ApplyResult, apply_edits
from skillopt.llm.client import LLMClient
from skillopt.llm.tracing import span, stage

log = logging.getLogger("skillopt.train")


@dataclass(frozen=True, kw_only=True)
class TrainBatch:
    """One batch of train tasks and the seed its minibatches are shuffled with."""

    tasks: tuple[Task, ...]
    seed: int


@dataclass(frozen=True, kw_only=True)
class StepInputs:
    """What one step needs besides the skill: its train batches (one per accumulation round)
    and the step's knobs. `autonomous`: the optimizer decides how many merged items to apply;
    `edit_budget` is then only the analysts' limit."""

    batches: tuple[TrainBatch, ...]
    edit_budget: int
    step_context: str
    meta_skill: str
    autonomous: bool = False

    @property
    def tasks(self) -> tuple[Task, ...]:
        return tuple(t for batch in self.batches for t in batch.tasks)


@dataclass(kw_only=True)
class StepProposal:
    """What a step proposed. `candidate` is None when the step is skipped (`skip` says why)."""

    train_rows: list[dict[str, Any]]
    train_score: Score
    failure_summaries: list[dict[str, Any]] = field(default_factory=list)
    n_patches: int = 0
    n_failure_patches: int = 0
    n_success_patches: int = 0
    failed_minibatches: int = 0
    batches: list[BatchSummary] = field(default_factory=list)
    appendix_notes: list[str] | None = None
    merge: MergeOutcome | None = None
    learning_rate: LearningRate | None = None
    rank: RankOutcome | None = None
    applied: ApplyResult | None = None
    rewrite: RewriteOutcome | None = None
    candidate: str | None = None
    skip: str | None = None
    timing: dict[str, float] = field(default_factory=dict)

    @property
    def selected_items(self) -> list[dict[str, Any]]:
        return list(self.rank.items) if self.rank is not None else []

    def record_fields(self) -> dict[str, Any]:
        """The step record's fields that describe what aggregate, select and update did."""
        fields: dict[str, Any] = {"batches": tuple(self.batches)}
        if self.learning_rate is not None:
            fields["learning_rate"] = self.learning_rate
        if self.merge is not None:
            fields["n_items_merged"] = len(self.merge.items)
            fields["merge_fallbacks"] = self.merge.fallbacks
        if self.rank is not None:
            fields["n_items_selected"] = len(self.rank.items)
            fields["rank_status"] = self.rank.status
            fields["rank_error"] = self.rank.error
        if self.applied is not None:
            fields["edit_apply_summary"] = self.applied.counts()
        if self.rewrite is not None:
            fields["rewrite_change_summary"] = tuple(self.rewrite.change_summary)
            fields["rewrite_error"] = self.rewrite.error
        return fields

    def warn_fallbacks(self, step: int) -> None:
        """Say in the log where a stage fell back (each is also in the step's files and record)."""
        if self.merge is not None:
            for merge in self.merge.records:
                if merge.status == "fallback":
                    log.warning(
                        "step %d: %s merge (level %d) fell back to concatenation: %s",
                        step,
                        merge.group,
                        merge.level,
                        merge.error,
                    )
        if self.learning_rate is not None and self.learning_rate.fallback:
            log.warning(
                "step %d: no usable learning-rate decision, so nothing is applied: %s",
                step,
                self.learning_rate.error,
            )
        if self.rank is not None and self.rank.error:
            log.warning(
                "step %d: ranking fell back to the first %d items: %s",
                step,
                self.rank.budget,
                self.rank.error,
            )
        if self.rewrite is not None and self.rewrite.error:
            log.warning("step %d: no rewritten skill: %s", step, self.rewrite.error)


@dataclass(frozen=True, kw_only=True)
class StepRunner:
    """Runs the proposal half of a step with fixed collaborators."""

    env: Environment
    target: TargetModel
    optimizer: LLMClient
    asker: Asker
    prompts: PromptLibrary
    reflect: ReflectSettings
    requests: RequestSettings
    merge: MergeSettings

    @property
    def spec(self) -> ModeSpec:
        return mode_spec(self.reflect.update_mode)

    def propose(self, skill: str, inputs: StepInputs, step_dir: Path) -> StepProposal:
        """Roll out and reflect on each batch, then aggregate, select and update: the step's
        candidate, or why there is none. Each stage is a span of the current trace and a
        `timing` entry (summed over the batches of an accumulated step)."""
        timing: dict[str, float] = {}
        proposal = StepProposal(train_rows=[], train_score=mean_score([]), timing=timing)
        patches: list[Patch] = []
        accumulated = len(inputs.batches) > 1
        for index, batch in enumerate(inputs.batches):
            folder = step_dir / f"batch_{index:02d}" if accumulated else step_dir
            if accumulated:
                with span(folder.name, attributes={"skillopt.batch_seed": batch.seed}):
                    patches += self._round(skill, inputs, batch, index, folder, proposal)
            else:
                patches += self._round(skill, inputs, batch, index, folder, proposal)
        proposal.train_score = mean_score(proposal.train_rows)
        proposal.n_patches = len(patches)
        proposal.n_failure_patches = sum(p.source_type == "failure" for p in patches)
        proposal.n_success_patches = sum(p.source_type == "success" for p in patches)
        if not patches:
            proposal.skip = "skip_no_patches"
            return proposal
        spec = self.spec
        with stage("aggregate", timing, patches=len(patches)):
            proposal.merge = merge_patches(
                skill=skill,
                patches=patches,
                spec=spec,
                asker=self.asker,
                settings=self.merge,
                meta_skill=inputs.meta_skill,
            )
            write_json(step_dir / "merged_patch.json", proposal.merge.to_json(spec))
        budget = inputs.edit_budget
        if inputs.autonomous and spec.mode is not UpdateMode.FULL_REWRITE_MINIBATCH:
            with stage("lr_autonomous", timing, items=len(proposal.merge.items)):
                proposal.learning_rate = decide_learning_rate(
                    skill=skill,
                    items=proposal.merge.items,
                    spec=spec,
                    train=proposal.train_score,
                    asker=self.asker,
                    max_tokens=self.requests.max_tokens,
                    step_context=inputs.step_context,
                    meta_skill=inputs.meta_skill,
                )
                write_json(step_dir / "lr_decision.json", proposal.learning_rate.to_json())
            budget = proposal.learning_rate.learning_rate
        with stage("select", timing, edit_budget=budget):
            proposal.rank = self._select(skill, proposal.merge, budget, inputs.meta_skill)
            write_json(step_dir / "ranked.json", proposal.rank.to_json(spec))
        with stage("update", timing, mode=spec.mode.value):
            self._update(skill, proposal, inputs, step_dir)
        return proposal

    def _round(
        self,
        skill: str,
        inputs: StepInputs,
        batch: TrainBatch,
        index: int,
        folder: Path,
        proposal: StepProposal,
    ) -> list[Patch]:
        """One accumulation round: roll `batch` out into `folder/rollout` and reflect on it
        into `folder`; its rows, summary and notes are added to `proposal`."""
        round_timing: dict[str, float] = {}
        with stage("rollout", round_timing, tasks=len(batch.tasks)):
            rows = self.env.rollout(
                batch.tasks, skill=skill, out_dir=folder / "rollout", target=self.target
            )
        with stage("reflect", round_timing, edit_budget=inputs.edit_budget):
            patches = self._reflect(skill, inputs, batch, folder, proposal)
        for name, seconds in round_timing.items():
            proposal.timing[name] = proposal.timing.get(name, 0.0) + seconds
        if len(inputs.batches) > 1:
            patches = [replace(p, name=f"{folder.name}/{p.name}") for p in patches]
        proposal.train_rows.extend(rows)
        proposal.batches.append(
            BatchSummary(
                index=index,
                seed=batch.seed,
                train=mean_score(rows),
                n_failure_patches=sum(p.source_type == "failure" for p in patches),
                n_success_patches=sum(p.source_type == "success" for p in patches),
            )
        )
        return patches

    def _reflect(
        self,
        skill: str,
        inputs: StepInputs,
        batch: TrainBatch,
        folder: Path,
        proposal: StepProposal,
    ) -> list[Patch]:
        """The analysts on one batch's rollout: their patches (failure summaries, failed
        minibatches and appendix notes go into `proposal`)."""
        settings = replace(self.reflect, edit_budget=inputs.edit_budget, seed=batch.seed)
        outcome = run_reflect(
            rollout=load_rollout(folder / "rollout"),
            skill=skill,
            settings=settings,
            requests=self.requests,
            prompts=self.prompts,
            client=self.optimizer,
            step_context=inputs.step_context,
            meta_skill=inputs.meta_skill,
            observer=OutputWriter(folder, spec=self.spec),
        )
        ok = [r for r in outcome.results if r.status == "ok"]
        proposal.failed_minibatches += len(outcome.by_status("failed"))
        proposal.failure_summaries += [
            s
            for r in ok
            if r.minibatch.kind == "failure"
            for s in (r.reply or {}).get("failure_summary") or []
            if isinstance(s, dict)
        ]
        if self.reflect.skill_aware_active:
            notes = [n for r in ok for n in r.appendix_notes or []]
            proposal.appendix_notes = (proposal.appendix_notes or []) + notes
        return [
            Patch(name=r.name, source_type=r.minibatch.kind, items=list(r.items))
            for r in ok
            if r.items
        ]

    def _select(self, skill: str, merge: MergeOutcome, budget: int, meta_skill: str) -> RankOutcome:
        """The merged items within the step's budget (full rewrites have no budget)."""
        if self.spec.mode is UpdateMode.FULL_REWRITE_MINIBATCH:
            return RankOutcome(
                items=merge.items, status="within_budget", budget=-1, available=len(merge.items)
            )
        return rank_and_select(
            skill=skill,
            items=merge.items,
            budget=budget,
            spec=self.spec,
            asker=self.asker,
            max_tokens=self.requests.max_tokens,
            meta_skill=meta_skill,
        )

    def _update(
        self, skill: str, proposal: StepProposal, inputs: StepInputs, step_dir: Path
    ) -> None:
        """The candidate skill from the selected items: edits applied, or a rewrite (a skip
        when a rewrite gives no skill)."""
        spec = self.spec
        assert proposal.rank is not None
        if spec.mode is UpdateMode.PATCH:
            proposal.applied = apply_edits(skill, proposal.rank.items)
            write_json(step_dir / "edit_apply_report.json", proposal.applied.to_json())
            proposal.candidate = normalize_skill(proposal.applied.skill)
        elif spec.mode is UpdateMode.REWRITE_FROM_SUGGESTIONS:
            proposal.rewrite = rewrite_from_suggestions(
                skill=skill,
                suggestions=proposal.rank.items,
                asker=self.asker,
                max_tokens=self.requests.full_rewrite_max_tokens,
                step_context=inputs.step_context,
            )
            write_json(step_dir / "rewrite_result.json", proposal.rewrite.to_json())
        else:
            proposal.rewrite = pick_candidate(skill, proposal.rank.items)
            write_json(step_dir / "full_rewrite_result.json", proposal.rewrite.to_json())
        if proposal.rewrite is not None:
            if proposal.rewrite.new_skill is None:
                proposal.skip = "skip_no_rewrite"
            else:
                proposal.candidate = proposal.rewrite.new_skill
        if proposal.candidate is not None:
            write_text(step_dir / "candidate_skill.md", proposal.candidate)
