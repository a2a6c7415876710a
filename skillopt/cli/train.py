"""`skillopt-train`: the whole SkillOpt loop, composed by Hydra.

    skillopt-train                                        # offline simulation, no network, no key
    skillopt-train train.epochs=3 train.edit_budget=2 train.schedule=linear
    skillopt-train env=qa env.data_path=data/qa.jsonl env.skill_path=skill.md \
        model=openai model.name=gpt-4.1 target=openai target.name=gpt-4.1-mini
    skillopt-train -m train.edit_budget=1,2,4            # a sweep
    skillopt-train -m experiment=optuna_budget            # an Optuna search (optuna extra)

The job returns the best selection score, so Hydra sweepers can optimise it. Running again into
the same output directory continues from the last completed step.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

import skillopt
from skillopt.base.atomic import write_json
from skillopt.base.errors import SkillOptError
from skillopt.base.resources import conf_dir, prompts_dir
from skillopt.cli.backends import build_client
from skillopt.cli.failures import JobError, run_app
from skillopt.cli.progress import TrainProgress
from skillopt.cli.schemas import TrainConfig, load_train, register_schemas
from skillopt.cli.traces import job_spans
from skillopt.engine.ask import Asker
from skillopt.engine.prompts import PromptLibrary
from skillopt.engine.train import (
    StepRunner,
    Trainer,
    TrainObserver,
    TrainObservers,
    TrainOutcome,
)
from skillopt.engine.train.aggregate import MergeSettings
from skillopt.tracking.observers import run_observer
from skillopt.tracking.run import active_tracker

log = logging.getLogger("skillopt.train")

# Settings that may change between a run and its resumption: they change how fast calls are
# made, not what is computed.
_NOT_FINGERPRINTED = ("workers", "timeout_s", "max_retries", "max_calls", "max_cost_usd")


def fingerprint(config: TrainConfig) -> dict[str, Any]:
    """What must not change between a run and its resumption, flattened to dotted keys: every
    setting but tracking, test hooks and the `_NOT_FINGERPRINTED` ones."""
    parts: dict[str, Any] = {
        "train": asdict(config.train),
        "gate": asdict(config.gate),
        "reflect": asdict(config.reflect),
        "model": _role_json(config.model),
        "target": _role_json(config.target),
        "env": {
            "_target_": config.env.target,
            "skill_path": config.env.skill_path,
            **config.env.kwargs,
        },
        "prompts": asdict(config.prompts),
    }
    flat: dict[str, Any] = {}

    def walk(prefix: str, node: Any) -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                walk(f"{prefix}{k}.", v)
        elif not prefix.rstrip(".").endswith(_NOT_FINGERPRINTED):
            flat[prefix.rstrip(".")] = list(node) if isinstance(node, tuple) else node

    walk("", parts)
    return flat


def _role_json(role: Any) -> dict[str, Any]:
    values: dict[str, Any] = {"backend": role.backend, "name": role.name}
    values["price"] = asdict(role.price)
    values.update(asdict(role.budget))
    if role.options is not None:
        values.update(asdict(role.options))
    if role.requests is not None:
        values.update({k: v for k, v in asdict(role.requests).items() if k != "name"})
    if role.answering is not None:
        values.update(
            {k: v for k, v in asdict(role.answering).items() if k not in ("client", "name")}
        )
    return values


def train_job(config: TrainConfig, out_dir: Path) -> TrainOutcome:
    """Run (or resume) one training job into `out_dir` and return its outcome."""
    skill_path = Path(config.env.skill_path).expanduser()
    if not skill_path.is_file():
        raise SkillOptError(f"env.skill_path={config.env.skill_path}: skill file not found")
    env = config.env.instantiate()
    splits = env.splits()

    tracker = active_tracker()
    optimizer, model = build_client(
        config.model,
        tracking=config.tracking,
        cache_dir=out_dir / "llm_calls" / "optimizer",
        training=True,
    )
    target_client, target_cfg = build_client(
        config.target,
        tracking=config.tracking,
        cache_dir=out_dir / "llm_calls" / "target",
        training=True,
    )
    requests, answering = model.requests, target_cfg.answering
    assert requests is not None and answering is not None
    prompts = PromptLibrary(builtin_dir=prompts_dir(), override_dirs=config.prompts.dirs)
    runner = StepRunner(
        env=env,
        target=replace(answering, client=target_client),
        optimizer=optimizer,
        asker=Asker(
            client=optimizer,
            prompts=prompts,
            model=requests.name,
            temperature=requests.temperature,
            parse_retries=requests.parse_retries,
        ),
        prompts=prompts,
        reflect=config.reflect,
        requests=requests,
        merge=MergeSettings(
            merge_batch_size=config.train.merge_batch_size,
            workers=config.reflect.workers,
            max_tokens=requests.max_tokens,
            full_rewrite_max_tokens=requests.full_rewrite_max_tokens,
        ),
    )
    progress = TrainProgress(out_dir)
    observers: list[TrainObserver] = [progress]
    if tracker is not None:
        observers.append(run_observer(tracker))
    trainer = Trainer(
        runner=runner,
        splits=splits,
        initial_skill=skill_path.read_text(encoding="utf-8"),
        out_dir=out_dir,
        settings=config.train,
        gate=config.gate,
        fingerprint=fingerprint(config),
        observer=TrainObservers(*observers),
        stop_after_step=config.fault.stop_after_step,
    )
    log.info(
        "train: env %s (%d train, %d selection, %d test tasks), %d epochs x %d steps, mode %s, "
        "budget %d->%d %s, gate %s",
        env.name,
        len(splits.train),
        len(trainer.selection),
        len(trainer.test),
        config.train.epochs,
        trainer.steps_per_epoch,
        config.reflect.update_mode,
        config.train.edit_budget,
        config.train.min_edit_budget,
        config.train.schedule,
        config.gate.metric,
    )
    try:
        with job_spans(out_dir, tracker) as spans:
            trainer.traces = spans
            outcome = trainer.run()
    finally:
        progress.close()
    write_json(
        out_dir / "summary.json",
        {
            **outcome.to_json(),
            "skillopt_version": skillopt.__version__,
            "output_dir": str(out_dir),
            "env": {
                "name": env.name,
                "target": config.env.target,
                "data_path": config.env.kwargs.get("data_path"),
                "skill_path": str(skill_path),
            },
            "model": {"backend": model.backend, "name": requests.name},
            "target": {"backend": target_cfg.backend, "name": answering.name},
        },
    )
    return outcome


register_schemas()


@hydra.main(version_base="1.3", config_path=str(conf_dir()), config_name="train")
def _app(cfg: DictConfig) -> float:
    out_dir = Path(HydraConfig.get().runtime.output_dir)
    try:
        outcome = train_job(load_train(cfg), out_dir)
    except SkillOptError as exc:
        log.error("%s", exc)
        raise JobError(str(exc)) from None
    # The objective for sweepers (Optuna maximises it): the best selection-split gate score.
    return float(outcome.best_selection_score or 0.0)


def main() -> None:
    """Console entry point of `skillopt-train`."""
    run_app(_app, prog="skillopt-train")


if __name__ == "__main__":
    main()
