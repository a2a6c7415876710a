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
from pathlib import Path
from typing import Any

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

import skillopt
from skillopt.base.errors import SkillOptError
from skillopt.base.modes import mode_spec
from skillopt.base.resources import conf_dir, prompts_dir
from skillopt.base.rollout import load_rollout
from skillopt.cli.backends import build_client
from skillopt.cli.failures import JobError, run_app
from skillopt.cli.progress import ProgressBar
from skillopt.cli.schemas import ReflectConfig, load_reflect, register_schemas
from skillopt.cli.traces import job_spans
from skillopt.engine.outcome import Observers, ReflectObserver
from skillopt.engine.output import OutputWriter
from skillopt.engine.prompts import PromptLibrary
from skillopt.engine.reflect import run_reflect
from skillopt.engine.summary import ReflectSummary
from skillopt.engine.train.loop import TRACE_TAG
from skillopt.llm.tracing import open_trace
from skillopt.tracking.observers import run_observer
from skillopt.tracking.registry import materialize_skill, read_exact
from skillopt.tracking.run import active_tracker

log = logging.getLogger("skillopt.reflect")


def reflect_job(config: ReflectConfig, out_dir: Path) -> ReflectSummary:
    """Run one reflect job into `out_dir` and return its summary (the job's MLflow run, when
    tracking is on, is told everything through its observer)."""
    settings, data = config.reflect, config.data
    skill_path = materialize_skill(
        data.skill_path, tracking_uri=config.tracking.uri, out_dir=out_dir
    )
    if not skill_path.is_file():
        raise SkillOptError(f"data.skill_path={data.skill_path}: skill file not found")
    skill = read_exact(skill_path)  # byte for byte: line endings as the file has them
    rollout = load_rollout(data.rollout_dir, on_bad_record=data.on_bad_record)  # type: ignore[arg-type]
    prompts = PromptLibrary(builtin_dir=prompts_dir(), override_dirs=config.prompts.dirs)
    tracker = active_tracker()
    observers: list[ReflectObserver] = []
    client, model = None, config.model
    if not settings.dry_run:
        client, model = build_client(
            config.model,
            tracking=config.tracking,
            cache_dir=out_dir / "llm_calls",
        )
    requests = model.requests
    assert requests is not None

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
    if settings.skill_aware_ignored:
        log.warning("reflect.skill_aware=true is ignored in update mode %s", settings.update_mode)
    if rollout.missing_conversation:
        log.warning(
            "%d trajectories have no conversation and are skipped: %s",
            len(rollout.missing_conversation),
            ", ".join(rollout.missing_conversation),
        )
    for bad in rollout.bad_records:
        log.warning("skipped bad record %s: %s", bad.location, bad.reason)

    provenance: dict[str, Any] = {
        "skillopt_version": skillopt.__version__,
        "output_dir": str(out_dir),
        "data": {
            "name": data.name,
            "rollout_dir": str(rollout.root),
            "skill_path": str(skill_path),
        },
        "model": {"backend": model.backend, "name": requests.name},
        "settings": {
            "minibatch_size": settings.minibatch_size,
            "edit_budget": settings.edit_budget,
            "update_mode": settings.update_mode,
            "seed": settings.seed,
            "failure_seed": settings.seed,
            "success_seed": None if settings.seed is None else settings.seed + 1,
            "workers": settings.workers,
            "failure_only": settings.failure_only,
            "max_trajectory_chars": settings.max_trajectory_chars,
        },
    }
    progress = ProgressBar(out_dir)
    observers = [
        progress,
        OutputWriter(out_dir, spec=mode_spec(settings.update_mode), extra=provenance),
    ]
    if tracker is not None:
        observers.append(run_observer(tracker))
    inputs = {"rollout_dir": str(rollout.root), "trajectories": len(rollout.records)}
    try:
        with (
            job_spans(out_dir, tracker) as spans,
            open_trace(spans, "reflect", inputs=inputs, tags={TRACE_TAG: "reflect"}),
        ):
            outcome = run_reflect(
                rollout=rollout,
                skill=skill,
                settings=settings,
                requests=requests,
                prompts=prompts,
                client=client,
                step_context=config.context.text("step_buffer"),
                meta_skill=config.context.text("meta_skill"),
                observer=Observers(*observers),
                price=model.price,
            )
    finally:
        progress.close()
    return outcome.summary


register_schemas()


@hydra.main(version_base="1.3", config_path=str(conf_dir()), config_name="reflect")
def _app(cfg: DictConfig) -> None:
    out_dir = Path(HydraConfig.get().runtime.output_dir)
    try:
        reflect_job(load_reflect(cfg), out_dir)
    except SkillOptError as exc:
        log.error("%s", exc)
        # The job is recorded as failed (its MLflow run too) and, in a sweep, the other jobs
        # still run; the app prints the error as one line.
        raise JobError(str(exc)) from None


def main() -> None:
    """Console entry point of `skillopt-reflect`."""
    run_app(_app, prog="skillopt-reflect")


if __name__ == "__main__":
    main()
