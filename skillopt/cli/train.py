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
from dataclasses import replace
from pathlib import Path
from typing import Any

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.errors import InstantiationException
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

import skillopt
from skillopt.base.atomic import write_json
from skillopt.base.errors import ConfigError, SkillOptError
from skillopt.base.resources import conf_dir, prompts_dir
from skillopt.cli import config as cfgmap
from skillopt.cli.backends import build_client
from skillopt.cli.progress import TrainProgress
from skillopt.cli.reflect import JobError
from skillopt.engine.ask import Asker
from skillopt.engine.environment import Environment, TargetModel
from skillopt.engine.prompts import PromptLibrary
from skillopt.engine.train import (
    GateSettings,
    StepRunner,
    Trainer,
    TrainObserver,
    TrainObservers,
    TrainSettings,
)
from skillopt.engine.train.aggregate import MergeSettings
from skillopt.tracking.run import active_tracker

log = logging.getLogger("skillopt.train")

_ENV_ONLY = ("skill_path",)  # env.* keys the loop reads itself; the rest go to the environment
# Keys that may change between a run and its resumption: they change how fast calls are made,
# not what is computed (and secrets never belong in the state file).
_NOT_FINGERPRINTED = (
    "workers",
    "timeout_s",
    "max_retries",
    "max_calls",
    "max_cost_usd",
    "api_key",
    "token",
    "secret",
    "password",
)


def build_environment(env_cfg: dict[str, Any]) -> Environment:
    """Instantiate `env._target_` with the other env keys (skill_path excluded)."""
    if "_target_" not in env_cfg:
        raise ConfigError(
            "env._target_ must name the environment class, e.g. skillopt.envs.qa.QAEnvironment"
        )
    kwargs = {k: v for k, v in env_cfg.items() if k not in _ENV_ONLY}
    try:
        env = instantiate(kwargs)
    except InstantiationException as exc:
        cause = exc.__cause__ or exc
        if isinstance(cause, SkillOptError):
            raise cause from None
        raise ConfigError(f"cannot build env {env_cfg['_target_']}: {cause}") from exc
    for member in ("name", "splits", "rollout"):
        if not hasattr(env, member):
            raise ConfigError(
                f"env {env_cfg['_target_']} has no '{member}': it is not an Environment"
            )
    return env


def fingerprint(cfg: DictConfig) -> dict[str, Any]:
    """What must not change between a run and its resumption, flattened to dotted keys:
    everything but tracking, hooks, Hydra itself and the `_NOT_FINGERPRINTED` keys."""
    plain = OmegaConf.to_container(cfg, resolve=True)
    assert isinstance(plain, dict)
    for key in ("tracking", "fault", "hydra", "experiment"):
        plain.pop(key, None)
    flat: dict[str, Any] = {}

    def walk(prefix: str, node: Any) -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                walk(f"{prefix}{k}.", v)
        else:
            flat[prefix.rstrip(".")] = node

    walk("", plain)
    for key in [k for k in flat if k.endswith(_NOT_FINGERPRINTED)]:
        flat.pop(key)
    return flat


def train_job(cfg: DictConfig, out_dir: Path) -> dict[str, Any]:
    """Run (or resume) one training job into `out_dir` and return its summary."""
    env_cfg = cfgmap.plain(cfg.env, "env")
    model = cfgmap.plain(cfg.model, "model")
    target_cfg = cfgmap.plain(cfg.target, "target")
    settings = cfgmap.build_settings(TrainSettings, cfgmap.plain(cfg.train, "train"), "train")
    gate = cfgmap.build_settings(GateSettings, cfgmap.plain(cfg.gate, "gate"), "gate")
    reflect = cfgmap.reflect_settings(cfg)
    requests = cfgmap.request_settings(model)

    skill_path = Path(str(env_cfg.get("skill_path") or "")).expanduser()
    if not skill_path.is_file():
        raise ConfigError(f"env.skill_path: skill file not found: {skill_path}")
    env = build_environment(env_cfg)
    splits = env.splits()

    tracker = active_tracker()
    listeners = tracker.call_listeners() if tracker is not None else ()
    optimizer = build_client(
        model,
        cfg,
        role="optimizer",
        cache_dir=out_dir / "llm_calls" / "optimizer",
        listeners=listeners,
    )
    target_client = build_client(
        target_cfg,
        cfg,
        role="target",
        cache_dir=out_dir / "llm_calls" / "target",
        listeners=listeners,
    )
    if model["backend"] == "replay" and model.get("name") is None:
        requests = replace(requests, model=optimizer.backend.model_name)
    target = TargetModel(
        client=target_client,
        model=target_cfg.get("name") or getattr(target_client.backend, "model_name", ""),
        max_tokens=target_cfg.get("max_tokens", 1024),
        temperature=target_cfg.get("temperature"),
        workers=target_cfg.get("workers", 8),
    )
    prompts = PromptLibrary(builtin_dir=prompts_dir(), override_dirs=cfg.prompts.dirs or [])
    runner = StepRunner(
        env=env,
        target=target,
        optimizer=optimizer,
        asker=Asker(
            client=optimizer,
            prompts=prompts,
            model=requests.model,
            temperature=requests.temperature,
            parse_retries=requests.parse_retries,
        ),
        prompts=prompts,
        reflect=reflect,
        requests=requests,
        merge=MergeSettings(
            merge_batch_size=settings.merge_batch_size,
            workers=reflect.workers,
            max_tokens=requests.max_tokens,
            full_rewrite_max_tokens=requests.full_rewrite_max_tokens,
        ),
        price=cfgmap.price(model),
    )
    progress = TrainProgress()
    observers: list[TrainObserver] = [progress]
    if tracker is not None:
        from skillopt.tracking.train_log import TrainLogger

        observers.append(TrainLogger(tracker))
    trainer = Trainer(
        runner=runner,
        splits=splits,
        initial_skill=skill_path.read_text(encoding="utf-8"),
        out_dir=out_dir,
        settings=settings,
        gate=gate,
        fingerprint=fingerprint(cfg),
        observer=TrainObservers(*observers),
        stop_after_step=OmegaConf.select(cfg, "fault.stop_after_step"),
    )
    log.info(
        "train: env %s (%d train, %d selection, %d test tasks), %d epochs x %d steps, mode %s, "
        "budget %d->%d %s, gate %s",
        env.name,
        len(splits.train),
        len(trainer.selection),
        len(trainer.test),
        settings.epochs,
        trainer.steps_per_epoch,
        reflect.update_mode,
        settings.edit_budget,
        settings.min_edit_budget,
        settings.schedule,
        gate.metric,
    )
    try:
        summary = trainer.run()
    finally:
        progress.close()
    summary.update(
        {
            "skillopt_version": skillopt.__version__,
            "output_dir": str(out_dir),
            "env": {
                "name": env.name,
                "target": env_cfg["_target_"],
                "data_path": env_cfg.get("data_path"),
                "skill_path": str(skill_path),
            },
            "model": {"backend": model["backend"], "name": requests.model},
            "target": {"backend": target_cfg["backend"], "name": target.model},
        }
    )
    write_json(out_dir / "summary.json", summary)
    log.info(
        "done: selection %s %.4f -> best %.4f (step %d); %d accepted, %d rejected, %d skipped -> %s",
        gate.metric,
        summary["baseline_selection_score"],
        summary["best_selection_score"],
        summary["best_step"],
        summary["accepts"],
        summary["rejects"],
        summary["skips"],
        out_dir,
    )
    if tracker is not None:
        tracker.summary = {**summary, "history": trainer.history()}
    return summary


cfgmap.register_resolvers()


@hydra.main(version_base="1.3", config_path=str(conf_dir()), config_name="train")
def _app(cfg: DictConfig) -> float:
    out_dir = Path(HydraConfig.get().runtime.output_dir)
    try:
        summary = train_job(cfg, out_dir)
    except SkillOptError as exc:
        log.error("%s", exc)
        raise JobError(str(exc)) from None
    # The objective for sweepers (Optuna maximises it): the best selection-split gate score.
    return float(summary["best_selection_score"])


def main() -> None:
    """Console entry point of `skillopt-train`."""
    _app()


if __name__ == "__main__":
    main()
