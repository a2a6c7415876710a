"""What each job kind records in its MLflow run: params, seed tags, metrics, tables, files.

The run lifecycle (`run.py`) is the same for every job; what differs lives here, one class per
job kind. Each reads the job's typed result (`ReflectSummary`, `TrainOutcome`) and the composed
config as a plain mapping; every name comes from `names.py`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

from skillopt.engine.summary import ReflectSummary
from skillopt.engine.train.records import EpochRecord, StepRecord, TrainOutcome
from skillopt.llm.ledger import Usage
from skillopt.tracking.names import (
    JOB_REFLECT,
    JOB_TRAIN,
    REFLECT_EXPERIMENT,
    TRAIN_EXPERIMENT,
    Artifact,
    Metric,
    Param,
    Tag,
)
from skillopt.tracking.params import select

_USAGE_TOTALS = ("calls", "prompt_tokens", "completion_tokens", "cost_usd", "retries", "cache_hits")


def data_digest(path: Path) -> str:
    """sha256 of a data file, or of a rollout directory's results.jsonl and every
    conversation.json in a fixed order (16 hex chars): runs on the same data share it."""
    digest = hashlib.sha256()
    if path.is_file():
        digest.update(path.read_bytes())
        return digest.hexdigest()[:16]
    results = path / "results.jsonl"
    digest.update(results.read_bytes() if results.is_file() else b"")
    for conversation in sorted((path / "predictions").glob("*/conversation.json")):
        digest.update(conversation.parent.name.encode("utf-8") + b"\0" + conversation.read_bytes())
    return digest.hexdigest()[:16]


def usage_metrics(usage: Usage, prefix: str = "llm") -> dict[str, float]:
    """`llm.calls`, `llm.prompt_tokens`, ... of a ledger's totals (`prefix` = `llm.optimizer` for
    one role)."""
    return {f"{prefix}.{name}": float(getattr(usage, name)) for name in _USAGE_TOTALS}


class JobKind(Protocol):
    """One job type's contribution to its run."""

    name: str
    experiment: str
    curated_params: tuple[str, ...]
    output_folders: tuple[str, ...]
    root_files: tuple[str, ...]

    def seed_tags(self, config: Mapping[str, Any]) -> dict[str, str]: ...

    def final_step(self, result: Any) -> int:
        """The step the end-of-job metrics are logged at."""
        ...

    def metrics(self, result: Any) -> dict[str, float]: ...

    def note(self, result: Any, config: Mapping[str, Any]) -> str: ...

    def tables(self, result: Any) -> dict[str, dict[str, list[Any]]]: ...

    def dataset(self, config: Mapping[str, Any]) -> tuple[Path, str, str] | None:
        """(source path, name, context) of the data the job read, or None; its digest is
        `data_digest(path)`."""
        ...

    def skill_path(self, config: Mapping[str, Any]) -> Path | None: ...


class ReflectJob:
    """`skillopt-reflect`: one reflect step over a rollout directory."""

    name = JOB_REFLECT
    experiment = REFLECT_EXPERIMENT
    curated_params = Param.REFLECT
    output_folders = (Artifact.PATCHES, Artifact.PROMPTS, Artifact.TRAJECTORIES, Artifact.LLM_CALLS)
    root_files = (Artifact.SUMMARY,)

    def final_step(self, result: ReflectSummary) -> int:
        return 0

    def seed_tags(self, config: Mapping[str, Any]) -> dict[str, str]:
        seed = select(config, "reflect.seed")
        return {
            Tag.SEED: str(seed),
            Tag.FAILURE_SEED: str(seed),
            Tag.SUCCESS_SEED: str(None if seed is None else int(seed) + 1),
        }

    def metrics(self, result: ReflectSummary) -> dict[str, float]:
        """The run's metrics, named as in the README (`llm.prompt_tokens`, `minibatches.failed`)."""
        traj, mb, payload = result.trajectories, result.minibatches, result.payload
        metrics: dict[str, float] = {
            Metric.TRAJECTORIES.format("total"): traj.total,
            Metric.TRAJECTORIES.format("failures"): traj.failures,
            Metric.TRAJECTORIES.format("successes"): traj.successes,
            Metric.TRAJECTORIES.format("skipped"): traj.skipped,
            Metric.MINIBATCHES.format("total"): mb.total,
            Metric.MINIBATCHES.format("failure"): mb.failure,
            Metric.MINIBATCHES.format("success"): mb.success,
            Metric.MINIBATCHES_FAILED: mb.failed,
            Metric.MINIBATCHES.format("resumed"): mb.resumed,
            Metric.PAYLOAD_ITEMS: payload.items,
            Metric.PAYLOAD_DROPPED: payload.dropped,
            Metric.PAYLOAD_TRUNCATED: payload.truncated_by_budget,
            Metric.REPLIES_REPAIRED: payload.repaired_replies,
            Metric.REFLECT_WALL_S: result.wall_s,
            Metric.LLM_LATENCY_P50_S: result.llm.latency_p50_s,
            Metric.LLM_LATENCY_MAX_S: result.llm.latency_max_s,
            **usage_metrics(result.llm),
        }
        for kind, count in payload.by_kind.items():
            metrics[Metric.PAYLOAD_KIND.format(payload.key, kind)] = count
        return {k: float(v) for k, v in metrics.items()}

    def note(self, result: ReflectSummary, config: Mapping[str, Any]) -> str:
        traj, mb, payload = result.trajectories, result.minibatches, result.payload
        reflect = config.get("reflect") or {}
        model = config.get("model") or {}
        return (
            f"Reflect on {select(config, 'data.name')} ({traj.total} trajectories: "
            f"{traj.failures} failures, {traj.successes} successes, {traj.skipped} skipped) with "
            f"{model.get('backend')}:{model.get('name')}. Mode {result.update_mode}, "
            f"M={reflect.get('minibatch_size')}, L={reflect.get('edit_budget')}, "
            f"seed={reflect.get('seed')}. {mb.ok}/{mb.total} minibatches ok, {mb.failed} failed; "
            f"{payload.items} {payload.key} kept."
        )

    def tables(self, result: ReflectSummary) -> dict[str, dict[str, list[Any]]]:
        rows = result.plan
        return {
            Artifact.MINIBATCH_TABLE: {
                "minibatch": [r.minibatch for r in rows],
                "kind": [r.kind for r in rows],
                "ids": [",".join(r.ids) for r in rows],
                "items": [len(r.ids) for r in rows],
                "status": [r.status for r in rows],
                "payload_items": [r.payload_items for r in rows],
                "prompt_tokens": [r.prompt_tokens for r in rows],
                "completion_tokens": [r.completion_tokens for r in rows],
                "latency_s": [r.latency_s for r in rows],
            }
        }

    def dataset(self, config: Mapping[str, Any]) -> tuple[Path, str, str] | None:
        rollout_dir = Path(str(select(config, "data.rollout_dir"))).expanduser()
        if not rollout_dir.is_dir():
            return None
        return rollout_dir, str(select(config, "data.name") or rollout_dir.name), JOB_REFLECT

    def skill_path(self, config: Mapping[str, Any]) -> Path | None:
        return Path(str(select(config, "data.skill_path"))).expanduser()


def step_metrics(record: StepRecord) -> dict[str, float]:
    """The metrics of one training step (logged with `step=record.step`)."""
    metrics: dict[str, float | None] = {
        Metric.SELECTION_HARD: record.selection.hard if record.selection else None,
        Metric.SELECTION_SOFT: record.selection.soft if record.selection else None,
        Metric.GATE_SCORE: record.gate_score,
        Metric.GATE_CURRENT: record.current_score,
        Metric.GATE_BEST: record.best_score,
        Metric.GATE_ACCEPTED: None if record.skipped else float(record.accepted),
        Metric.STEP_SKIPPED: float(record.skipped),
        Metric.TRAIN_HARD: record.train.hard,
        Metric.TRAIN_SOFT: record.train.soft,
        Metric.TRAIN_BATCHES: len(record.batches) or None,
        Metric.EDIT_BUDGET: record.edit_budget,
        Metric.ITEMS_MERGED: record.n_items_merged,
        Metric.MERGE_FALLBACKS: record.merge_fallbacks,
        Metric.ITEMS_SELECTED: record.n_items_selected,
        Metric.REPLIES_REPAIRED: record.replies_repaired,
        Metric.LLM_COST_USD: record.llm_cost_usd,  # cumulative, both roles
    }
    if record.edit_apply_summary is not None:
        metrics[Metric.EDITS_APPLIED] = record.edit_apply_summary.applied
        metrics[Metric.EDITS_SKIPPED] = record.edit_apply_summary.skipped
    if record.learning_rate is not None:
        metrics[Metric.LR_DECISION] = record.learning_rate.learning_rate
        metrics[Metric.LR_FALLBACK] = float(record.learning_rate.fallback)
    if record.appendix is not None:
        for name in ("proposed", "added", "total"):
            metrics[Metric.APPENDIX_NOTES.format(name)] = getattr(record.appendix, name)
        metrics[Metric.APPENDIX_CONSOLIDATED] = float(record.appendix.consolidated)
    for stage, usage in record.usage.items():
        metrics[Metric.STAGE_TOKENS.format(stage, "prompt")] = usage.prompt_tokens
        metrics[Metric.STAGE_TOKENS.format(stage, "completion")] = usage.completion_tokens
        metrics[Metric.STAGE_COST.format(stage)] = usage.cost_usd
    return {k: float(v) for k, v in metrics.items() if v is not None}


def topup_metrics(record: EpochRecord) -> dict[str, float]:
    """The `changed` pair policy's top-up at an epoch's end (none when there was no top-up)."""
    if record.topup_tasks is None:
        return {}
    return {
        Metric.TOPUP.format("tasks"): float(record.topup_tasks),
        Metric.TOPUP.format("pairs"): float(record.topup_pairs or 0),
    }


class TrainJob:
    """`skillopt-train`: the whole loop; step metrics are logged live (`TrainLogger`)."""

    name = JOB_TRAIN
    experiment = TRAIN_EXPERIMENT
    curated_params = Param.TRAIN
    output_folders = (Artifact.SKILLS, Artifact.STEPS, Artifact.SLOW_UPDATE, Artifact.LLM_CALLS)
    root_files = (
        Artifact.SUMMARY,
        Artifact.HISTORY,
        Artifact.BEST_SKILL,
        Artifact.FINAL_SKILL,
        Artifact.SPLIT_MANIFEST,
        Artifact.LR_HISTORY,
    )

    def final_step(self, result: TrainOutcome) -> int:
        # After the last step, so the run's latest value of a metric that is also logged per
        # step (llm.cost_usd) is the end-of-run total.
        return result.total_steps

    def seed_tags(self, config: Mapping[str, Any]) -> dict[str, str]:
        return {
            Tag.SEED: str(select(config, "train.seed")),
            Tag.SPLIT_SEED: str(select(config, "env.split_seed")),
        }

    def metrics(self, result: TrainOutcome) -> dict[str, float]:
        metrics: dict[str, float | None] = {
            Metric.BASELINE_SELECTION: result.baseline_selection_score,
            Metric.BEST_SELECTION: result.best_selection_score,
            Metric.FINAL_SELECTION: result.final_selection_score,
            Metric.BEST_STEP: result.best_step,
            Metric.STEPS_TOTAL: result.total_steps,
            Metric.STEPS_ACCEPTED: result.accepts,
            Metric.STEPS_REJECTED: result.rejects,
            Metric.STEPS_SKIPPED: result.skips,
            Metric.REPLIES_REPAIRED: result.replies_repaired,
            Metric.TRAIN_WALL_S: result.wall_s,
        }
        if result.test is not None:
            for name in ("baseline", "best", "final"):
                score = getattr(result.test, name)
                metrics[Metric.TEST_HARD.format(name)] = score.hard
                metrics[Metric.TEST_SOFT.format(name)] = score.soft
            metrics[Metric.TEST_DELTA_HARD] = result.test.delta_hard
            metrics[Metric.TEST_FINAL_DELTA_HARD] = result.test.final_delta_hard
        totals = Usage()
        for role, usage in result.usage.items():
            metrics.update(usage_metrics(usage, f"llm.{role}"))
            totals = Usage(
                **{
                    name: getattr(totals, name) + getattr(usage, name)
                    for name in (*_USAGE_TOTALS, "errors", "repaired")
                }
            )
        metrics.update(usage_metrics(totals))
        return {k: float(v) for k, v in metrics.items() if v is not None}

    def note(self, result: TrainOutcome, config: Mapping[str, Any]) -> str:
        tested = (
            f" Test hard (exact match): {result.test.baseline.hard:.3f} -> "
            f"{result.test.best.hard:.3f}."
            if result.test is not None
            else ""
        )
        splits = result.splits
        return (
            f"Train on {select(config, 'env.name')} ({splits.train} train, {splits.selection} "
            f"selection, {splits.test} test tasks); {result.total_steps} steps: {result.accepts} "
            f"accepted, {result.rejects} rejected, {result.skips} skipped. Selection "
            f"{result.gate_metric}: {result.baseline_selection_score or 0.0:.4f} -> best "
            f"{result.best_selection_score or 0.0:.4f} (step {result.best_step}).{tested}"
        )

    def tables(self, result: TrainOutcome) -> dict[str, dict[str, list[Any]]]:
        history = result.history
        return {
            Artifact.STEP_TABLE: {
                "step": [h.step for h in history],
                "epoch": [h.epoch for h in history],
                "action": [h.action for h in history],
                "edit_budget": [h.edit_budget for h in history],
                "selection_hard": [h.selection.hard if h.selection else None for h in history],
                "selection_soft": [h.selection.soft if h.selection else None for h in history],
                "gate_score": [h.gate_score for h in history],
                "edits_applied": [
                    h.edit_apply_summary.applied if h.edit_apply_summary else None for h in history
                ],
            }
        }

    def dataset(self, config: Mapping[str, Any]) -> tuple[Path, str, str] | None:
        data_path = select(config, "env.data_path")
        if not isinstance(data_path, str) or not Path(data_path).is_file():
            return None
        return Path(data_path), str(select(config, "env.name")), JOB_TRAIN

    def skill_path(self, config: Mapping[str, Any]) -> Path | None:
        return Path(str(select(config, "env.skill_path"))).expanduser()


def job_kind(config: Mapping[str, Any]) -> JobKind:
    """TrainJob when the config has a `train` section, else ReflectJob."""
    return TrainJob() if "train" in config else ReflectJob()


def job_kind_named(name: str) -> JobKind:
    """The job kind a run journal names (`reflect` or `train`)."""
    kinds: dict[str, JobKind] = {JOB_REFLECT: ReflectJob(), JOB_TRAIN: TrainJob()}
    return kinds[name]
