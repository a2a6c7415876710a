"""The Hydra callbacks of both apps, listed in this order under `hydra.callbacks`.

`ConfigCheck` checks every value before anything else happens: a single run's config, and for a
grid sweep every job's config, so a bad value is one line and exit status 1 with no MLflow run
and no LLM call. `TrackingCallback` owns the MLflow run lifecycle: the store and experiment
before any job, a sweep's parent run, each job's run (opened before the task, closed after it
with its status). Both leave the MLflow work to `skillopt.tracking`, which knows no Hydra.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from hydra.core.global_hydra import GlobalHydra
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.utils import JobReturn, JobStatus
from hydra.errors import HydraException
from hydra.experimental.callback import Callback
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from skillopt.base.errors import SkillOptError
from skillopt.cli.failures import describe, fail
from skillopt.cli.schemas import load
from skillopt.cli.schemas.apps import load_tracking, plain
from skillopt.tracking.names import RunFolder
from skillopt.tracking.params import redact, redact_saved_configs
from skillopt.tracking.settings import TrackingSettings

log = logging.getLogger("skillopt.tracking")

BASIC_SWEEPER = "hydra._internal.core_plugins.basic_sweeper.BasicSweeper"


def _prog(config: DictConfig) -> str:
    return str(OmegaConf.select(config, "hydra.help.app_name") or "skillopt")


def sweep_job_configs(config: DictConfig) -> list[DictConfig]:
    """The composed config of every job of a basic (grid) sweep, as the sweeper will compose
    them; other sweepers choose their jobs as they go, so only the sweep's own config is known."""
    if OmegaConf.select(config, "hydra.sweeper._target_") != BASIC_SWEEPER:
        return [config]
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper

    loader = GlobalHydra.instance().config_loader()
    task = [str(o) for o in config.hydra.overrides.task]
    parsed = OverridesParser.create(config_loader=loader).parse_overrides(task)
    jobs = [job for batch in BasicSweeper.split_arguments(parsed, None) for job in batch]
    return [loader.load_sweep_config(config, list(job)) for job in jobs]


class ConfigCheck(Callback):
    """Refuses a bad value before any run or call: one line, exit status 1."""

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        self._check([config], _prog(config))

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        prog = _prog(config)
        try:
            configs = sweep_job_configs(config)
        except (HydraException, OmegaConfBaseException) as exc:
            fail(prog, describe(exc) or str(exc))
        self._check(configs, prog)

    @staticmethod
    def _check(configs: list[DictConfig], prog: str) -> None:
        # Hydra catches a callback's exceptions and goes on, so a refused value ends the
        # process here (SystemExit passes through Hydra's handler).
        for config in configs:
            try:
                load(config)
            except SkillOptError as exc:
                fail(prog, str(exc))


def _tracking(config: DictConfig) -> TrackingSettings | None:
    """The tracking settings, or None when tracking is off or its settings are invalid (the
    config check has then reported them)."""
    try:
        settings = load_tracking(config)
    except SkillOptError:
        return None
    return settings if settings.enabled else None


class TrackingCallback(Callback):
    """Registered under `hydra.callbacks`; does nothing when tracking is off."""

    def __init__(self) -> None:
        self._tracker: Any = None
        self._sweep: Any = None

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        settings = _tracking(config)
        if settings is not None:
            from skillopt.tracking.store import client_for, ensure_experiment

            ensure_experiment(client_for(settings.uri), settings.experiment)

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        settings = _tracking(config)
        if settings is None:
            return
        from skillopt.tracking.sweep import SweepRun

        self._sweep = SweepRun.open(
            settings,
            sweep_dir=Path(config.hydra.sweep.dir),
            overrides=list(config.hydra.overrides.task),
            config_yaml=OmegaConf.to_yaml(
                OmegaConf.create(redact(OmegaConf.to_container(config, resolve=False)))
            ),
        )

    def on_job_start(self, config: DictConfig, **kwargs: Any) -> None:
        hydra_cfg = config.hydra
        out_dir = Path(hydra_cfg.runtime.output_dir)
        redact_saved_configs(out_dir / ".hydra")
        settings = _tracking(config)
        if settings is None:
            return
        try:
            load(config)
        except SkillOptError:
            return  # a bad value (in a job a search sweeper chose): no run; the task reports it
        from skillopt.tracking.run import RunTracker
        from skillopt.tracking.sweep import ParentRef

        parent = None
        if hydra_cfg.mode == RunMode.MULTIRUN:
            parent = ParentRef.read(Path(hydra_cfg.sweep.dir))
        self._tracker = RunTracker.start(
            config=plain(config),
            settings=settings,
            out_dir=out_dir,
            overrides=list(hydra_cfg.overrides.task),
            parent_run_id=parent.run_id if parent else None,
            sweep_id=parent.sweep_id if parent else None,
            job_num=int(hydra_cfg.job.num) if parent else None,
        )

    def on_job_end(self, config: DictConfig, job_return: JobReturn, **kwargs: Any) -> None:
        tracker, self._tracker = self._tracker, None
        if tracker is None:
            return
        # `return_value` re-raises a failed job's exception; the exception itself is stored here.
        failed = job_return.status != JobStatus.COMPLETED
        tracker.finish(error=job_return._return_value if failed else None)

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        redact_saved_configs(sweep_dir)
        sweep, self._sweep = self._sweep, None
        if sweep is None:
            return
        results = sweep_dir / RunFolder.SEARCH_RESULT
        if results.is_file():
            sweep.log_search_result(results)
        sweep.close()
