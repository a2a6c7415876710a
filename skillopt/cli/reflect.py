"""`skillopt-reflect`: one reflect step over a rollout directory, composed by Hydra.

    skillopt-reflect                                   # bundled example, offline stand-in
    skillopt-reflect reflect.minibatch_size=4 reflect.update_mode=rewrite
    skillopt-reflect data=custom data.rollout_dir=runs/step_0003/rollout data.skill_path=skill.md
    skillopt-reflect model=openai model.name=gpt-4.1-mini model.base_url=http://127.0.0.1:8000/v1
    skillopt-reflect -m reflect.minibatch_size=4,8,16  # a sweep

The output directory (Hydra's run dir) receives patches/, prompts/, trajectories/,
llm_calls/ and summary.json. Running again into the same directory reuses every call whose
request is unchanged.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path
from typing import Any

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.errors import CompactHydraException
from omegaconf import DictConfig

import skillopt
from skillopt.base.errors import ConfigError, SkillOptError
from skillopt.base.modes import mode_spec
from skillopt.base.resources import conf_dir, prompts_dir
from skillopt.base.rollout import load_rollout
from skillopt.cli import config as cfgmap
from skillopt.cli.backends import build_client
from skillopt.cli.progress import ProgressBar, log_outcome
from skillopt.engine.outcome import Observers
from skillopt.engine.output import OutputWriter, summarize
from skillopt.engine.prompts import PromptLibrary
from skillopt.engine.reflect import run_reflect
from skillopt.tracking.run import active_tracker

log = logging.getLogger("skillopt.reflect")


def reflect_job(cfg: DictConfig, out_dir: Path) -> dict[str, Any]:
    """Run one reflect job into `out_dir` and return its summary."""
    settings = cfgmap.reflect_settings(cfg)
    data = cfgmap.plain(cfg.data, "data")
    model = cfgmap.plain(cfg.model, "model")
    context = cfgmap.plain(cfg.context, "context")
    requests = cfgmap.request_settings(model)
    price = cfgmap.price(model)

    skill_path = Path(data["skill_path"]).expanduser()
    if not skill_path.is_file():
        raise ConfigError(f"data.skill_path: skill file not found: {skill_path}")
    skill = skill_path.read_text(encoding="utf-8")
    rollout = load_rollout(data["rollout_dir"], on_bad_record=data.get("on_bad_record", "error"))
    prompts = PromptLibrary(builtin_dir=prompts_dir(), override_dirs=cfg.prompts.dirs or [])

    client = None
    if not settings.dry_run:
        tracker = active_tracker()
        client = build_client(
            model,
            cfg,
            role="optimizer",
            cache_dir=out_dir / "llm_calls",
            listeners=tracker.call_listeners() if tracker is not None else (),
        )
        if model["backend"] == "replay" and model.get("name") is None:
            requests = replace(requests, model=client.backend.model_name)

    log.info(
        "reflect: %d trajectories (%d failures, %d successes) from %s; mode=%s M=%d L=%d seed=%s",
        len(rollout.records),
        len(rollout.failures),
        len(rollout.successes),
        rollout.root,
        settings.update_mode,
        settings.minibatch_size,
        settings.edit_budget,
        settings.seed,
    )
    if rollout.missing_conversation:
        log.warning(
            "%d trajectories have no conversation and are skipped: %s",
            len(rollout.missing_conversation),
            ", ".join(rollout.missing_conversation),
        )
    for bad in rollout.bad_records:
        log.warning("skipped bad record %s: %s", bad.location, bad.reason)

    progress = ProgressBar()
    writer = OutputWriter(out_dir, spec=mode_spec(settings.update_mode))
    try:
        outcome = run_reflect(
            rollout=rollout,
            skill=skill,
            settings=settings,
            requests=requests,
            prompts=prompts,
            client=client,
            step_context=cfgmap.text_or_file(context, "step_buffer"),
            meta_skill=cfgmap.text_or_file(context, "meta_skill"),
            observer=Observers(progress, writer),
        )
    finally:
        progress.close()

    summary = summarize(
        outcome,
        price=price,
        extra={
            "skillopt_version": skillopt.__version__,
            "output_dir": str(out_dir),
            "data": {
                "name": data.get("name"),
                "rollout_dir": str(rollout.root),
                "skill_path": str(skill_path),
            },
            "model": {"backend": model["backend"], "name": model["name"]},
            "settings": {
                "minibatch_size": settings.minibatch_size,
                "edit_budget": settings.edit_budget,
                "update_mode": settings.update_mode,
                "seed": settings.seed,
                "failure_seed": settings.seed,
                "success_seed": None if settings.seed is None else settings.seed + 1,
                "workers": settings.workers,
                "failure_only": settings.failure_only,
                "max_trajectory_chars": settings.formatting.max_trajectory_chars,
            },
        },
    )
    writer.finish(summary)
    log_outcome(outcome, summary, out_dir)
    return summary


cfgmap.register_resolvers()


@hydra.main(version_base="1.3", config_path=str(conf_dir()), config_name="reflect")
def _app(cfg: DictConfig) -> dict[str, Any]:
    out_dir = Path(HydraConfig.get().runtime.output_dir)
    try:
        return reflect_job(cfg, out_dir)
    except SkillOptError as exc:
        log.error("%s", exc)
        # Hydra prints a compact error as one line; the job is recorded as failed (its MLflow run
        # too) and, in a sweep, the other jobs still run.
        raise JobError(str(exc)) from None


class JobError(CompactHydraException):
    """A SkillOptError surfaced through Hydra without a traceback."""


def main() -> None:
    """Console entry point of `skillopt-reflect`."""
    _app()


if __name__ == "__main__":
    main()
