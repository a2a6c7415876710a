"""What each job kind records in its MLflow run: params, seed tags, metrics, tables, files.

The run lifecycle (`run.py`) is the same for every job; what differs lives here, one class per
job kind, chosen from the composed config.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, Protocol

from omegaconf import DictConfig, OmegaConf

from skillopt.tracking.params import CURATED_PARAMS, TRAIN_PARAMS


def rollout_digest(rollout_dir: Path) -> str:
    """sha256 over results.jsonl and every conversation.json, in a fixed order (16 hex chars)."""
    digest = hashlib.sha256()
    results = rollout_dir / "results.jsonl"
    digest.update(results.read_bytes() if results.is_file() else b"")
    for path in sorted((rollout_dir / "predictions").glob("*/conversation.json")):
        digest.update(path.parent.name.encode("utf-8") + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


def file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


class JobKind(Protocol):
    """One job type's contribution to its run."""

    name: str
    experiment: str
    curated_params: tuple[str, ...]
    seed_key: str
    output_folders: tuple[str, ...]
    root_files: tuple[str, ...]

    def seed_tags(self, cfg: DictConfig) -> dict[str, str]: ...

    def final_step(self, summary: dict[str, Any]) -> int:
        """The step the end-of-job metrics are logged at."""
        ...

    def metrics(self, summary: dict[str, Any]) -> dict[str, float]: ...

    def note(self, summary: dict[str, Any]) -> str: ...

    def tables(self, summary: dict[str, Any]) -> dict[str, dict[str, list[Any]]]: ...

    def dataset(self, summary: dict[str, Any]) -> tuple[Path, str, str, str] | None:
        """(source path, name, digest, context) of the data the job read, or None."""
        ...

    def skill_path(self, summary: dict[str, Any]) -> Path | None: ...


class ReflectJob:
    """`skillopt-reflect`: one reflect step over a rollout directory."""

    name = "reflect"
    experiment = "skillopt-reflect"
    curated_params = CURATED_PARAMS
    seed_key = "reflect.seed"
    output_folders = ("patches", "prompts", "trajectories", "llm_calls")
    root_files = ("summary.json",)

    def final_step(self, summary: dict[str, Any]) -> int:
        return 0

    def seed_tags(self, cfg: DictConfig) -> dict[str, str]:
        seed = OmegaConf.select(cfg, "reflect.seed")
        return {
            "skillopt.seed": str(seed),
            "skillopt.failure_seed": str(seed),
            "skillopt.success_seed": str(None if seed is None else int(seed) + 1),
        }

    def metrics(self, summary: dict[str, Any]) -> dict[str, float]:
        """The run's metrics, named as in the README (`llm.prompt_tokens`, `minibatches.failed`, ...)."""
        traj, mb, payload, llm = (
            summary["trajectories"],
            summary["minibatches"],
            summary["payload"],
            summary["llm"],
        )
        metrics: dict[str, float] = {
            "trajectories.total": traj["total"],
            "trajectories.failures": traj["failures"],
            "trajectories.successes": traj["successes"],
            "trajectories.skipped": traj["skipped"],
            "minibatches.total": mb["total"],
            "minibatches.failure": mb["failure"],
            "minibatches.success": mb["success"],
            "minibatches.failed": mb["failed"],
            "minibatches.resumed": mb["resumed"],
            "payload.items": payload["items"],
            "payload.dropped": payload["dropped"],
            "payload.truncated": payload["truncated_by_budget"],
            "reflect.wall_s": summary["wall_s"],
        }
        for kind, count in payload["by_kind"].items():
            metrics[f"payload.{payload['key']}.{kind}"] = count
        for name in (
            "calls",
            "prompt_tokens",
            "completion_tokens",
            "cost_usd",
            "retries",
            "cache_hits",
        ):
            metrics[f"llm.{name}"] = llm.get(name, 0)
        metrics["llm.latency_p50_s"] = llm.get("latency_p50_s", 0.0)
        metrics["llm.latency_max_s"] = llm.get("latency_max_s", 0.0)
        return metrics

    def note(self, summary: dict[str, Any]) -> str:
        data, settings, mb, payload = (
            summary["data"],
            summary["settings"],
            summary["minibatches"],
            summary["payload"],
        )
        traj = summary["trajectories"]
        return (
            f"Reflect on {data['name']} ({traj['total']} trajectories: {traj['failures']} failures, "
            f"{traj['successes']} successes, {traj['skipped']} skipped) with {summary['model']['backend']}:"
            f"{summary['model']['name']}. Mode {settings['update_mode']}, M={settings['minibatch_size']}, "
            f"L={settings['edit_budget']}, seed={settings['seed']}. {mb['ok']}/{mb['total']} minibatches ok, "
            f"{mb['failed']} failed; {payload['items']} {payload['key']} kept."
        )

    def tables(self, summary: dict[str, Any]) -> dict[str, dict[str, list[Any]]]:
        rows = summary["plan"]
        return {
            "tables/minibatches.json": {
                "minibatch": [r["minibatch"] for r in rows],
                "kind": [r["kind"] for r in rows],
                "ids": [",".join(r["ids"]) for r in rows],
                "items": [len(r["ids"]) for r in rows],
                "status": [r["status"] for r in rows],
                "payload_items": [r["payload_items"] for r in rows],
                "prompt_tokens": [r["prompt_tokens"] for r in rows],
                "completion_tokens": [r["completion_tokens"] for r in rows],
                "latency_s": [r["latency_s"] for r in rows],
            }
        }

    def dataset(self, summary: dict[str, Any]) -> tuple[Path, str, str, str] | None:
        rollout_dir = Path(summary["data"]["rollout_dir"])
        name = str(summary["data"]["name"] or rollout_dir.name)
        return rollout_dir, name, rollout_digest(rollout_dir), "reflect"

    def skill_path(self, summary: dict[str, Any]) -> Path | None:
        return Path(summary["data"]["skill_path"])


class TrainJob:
    """`skillopt-train`: the whole loop; step metrics are logged live by `TrainLogger`."""

    name = "train"
    experiment = "skillopt-train"
    curated_params = TRAIN_PARAMS
    seed_key = "train.seed"
    output_folders = ("skills", "steps", "slow_update", "llm_calls")
    root_files = (
        "summary.json",
        "history.json",
        "best_skill.md",
        "final_skill.md",
        "split_manifest.json",
    )

    def final_step(self, summary: dict[str, Any]) -> int:
        # After the last step, so the run's latest value of a metric that is also logged per
        # step (llm.cost_usd) is the end-of-run total.
        return int(summary["total_steps"])

    def seed_tags(self, cfg: DictConfig) -> dict[str, str]:
        return {
            "skillopt.seed": str(OmegaConf.select(cfg, "train.seed")),
            "skillopt.split_seed": str(OmegaConf.select(cfg, "env.split_seed")),
        }

    def metrics(self, summary: dict[str, Any]) -> dict[str, float]:
        metrics: dict[str, float] = {
            "baseline.selection_score": summary["baseline_selection_score"],
            "best.selection_score": summary["best_selection_score"],
            "final.selection_score": summary["final_selection_score"],
            "best.step": summary["best_step"],
            "steps.total": summary["total_steps"],
            "steps.accepted": summary["accepts"],
            "steps.rejected": summary["rejects"],
            "steps.skipped": summary["skips"],
            "train.wall_s": summary["wall_s"],
        }
        test = summary.get("test") or {}
        for name, key in (("baseline", "baseline"), ("best", "best"), ("final", "final")):
            if test.get(key):
                metrics[f"test.{name}_hard"] = test[key]["hard"]
                metrics[f"test.{name}_soft"] = test[key]["soft"]
        if test:
            metrics["test.delta_hard"] = test["delta_hard"]
            metrics["test.final_delta_hard"] = test["final_delta_hard"]
        totals = {"calls": 0, "prompt_tokens": 0, "completion_tokens": 0, "cost_usd": 0.0}
        for role in ("optimizer", "target"):
            usage = summary["llm"][role]
            for name in totals:
                metrics[f"llm.{role}.{name}"] = usage.get(name, 0)
                totals[name] += usage.get(name, 0)
            metrics[f"llm.{role}.cache_hits"] = usage.get("cache_hits", 0)
        for name, value in totals.items():
            metrics[f"llm.{name}"] = value
        return {k: float(v) for k, v in metrics.items() if v is not None}

    def note(self, summary: dict[str, Any]) -> str:
        test = summary.get("test") or {}
        tested = (
            f" Test hard (exact match): {test['baseline']['hard']:.3f} -> {test['best']['hard']:.3f}."
            if test
            else ""
        )
        return (
            f"Train on {summary['env']['name']} ({summary['splits']['train']} train, "
            f"{summary['splits']['selection']} selection, {summary['splits']['test']} test tasks); "
            f"{summary['total_steps']} steps: {summary['accepts']} accepted, {summary['rejects']} rejected, "
            f"{summary['skips']} skipped. Selection {summary['gate_metric']}: "
            f"{summary['baseline_selection_score']:.4f} -> best {summary['best_selection_score']:.4f} "
            f"(step {summary['best_step']}).{tested}"
        )

    def tables(self, summary: dict[str, Any]) -> dict[str, dict[str, list[Any]]]:
        history = summary.get("history") or []

        def sel(h: dict[str, Any], key: str) -> float | None:
            return (h.get("selection") or {}).get(key)

        return {
            "tables/steps.json": {
                "step": [h["step"] for h in history],
                "epoch": [h["epoch"] for h in history],
                "action": [h["action"] for h in history],
                "edit_budget": [h.get("edit_budget") for h in history],
                "selection_hard": [sel(h, "hard") for h in history],
                "selection_soft": [sel(h, "soft") for h in history],
                "gate_score": [h.get("gate_score") for h in history],
                "edits_applied": [
                    (h.get("edit_apply_summary") or {}).get("applied") for h in history
                ],
            }
        }

    def dataset(self, summary: dict[str, Any]) -> tuple[Path, str, str, str] | None:
        data_path = summary["env"].get("data_path")
        if not data_path or not Path(data_path).is_file():
            return None
        path = Path(data_path)
        return path, str(summary["env"]["name"]), file_digest(path), "train"

    def skill_path(self, summary: dict[str, Any]) -> Path | None:
        return Path(summary["env"]["skill_path"])


def job_kind(cfg: DictConfig) -> JobKind:
    """TrainJob when the config has a `train` section, else ReflectJob."""
    return TrainJob() if OmegaConf.select(cfg, "train") is not None else ReflectJob()
