"""The Hydra callbacks of both apps, listed in this order under `hydra.callbacks`.

`ConfigCheck` checks every value before anything else happens: a single run's config, and for a
grid sweep every job's config, so a bad value is one line and exit status 1 with no MLflow run
and no LLM call. `TrackingCallback` owns the run lifecycle: the store checked before any job,
a sweep's parent run, each job's run journal (started before the task, ended after it with its
status) and its upload. Both leave the tracking work to `skillopt.tracking`, which knows no
Hydra.
"""

from __future__ import annotations

import atexit
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
from skillopt.tracking.content import absolute_uri
from skillopt.tracking.names import RunFolder
from skillopt.tracking.params import redact, redact_saved_configs
from skillopt.tracking.preflight import check_store
from skillopt.tracking.run import RunTracker, note_incomplete_sweep, settle_runs
from skillopt.tracking.settings import TrackingSettings
from skillopt.tracking.sweep import (
    ParentRef,
    SweepIdentity,
    close_parent,
    incomplete_jobs,
    log_search_result,
    open_parent,
    start_sweep,
)

log = logging.getLogger("skillopt.tracking")

BASIC_SWEEPER = "hydra._internal.core_plugins.basic_sweeper.BasicSweeper"
BASIC_LAUNCHER = "hydra._internal.core_plugins.basic_launcher.BasicLauncher"


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
    """The tracking settings (tracking on or off), or None when they are invalid (the config
    check has then reported them)."""
    try:
        return load_tracking(config)
    except SkillOptError:
        return None


def _ready(config: DictConfig, settings: TrackingSettings) -> None:
    """Bound every request to the tracking server, then check the store: an unusable one ends
    the app with one line before any job or LLM call."""
    settings.apply_request_bounds()
    cause = check_store(settings.uri, experiment=settings.experiment, timeout_s=settings.timeout_s)
    if cause is not None:
        fail(_prog(config), f"tracking.uri={settings.uri}: {cause}")


class TrackingCallback(Callback):
    """Registered under `hydra.callbacks`. Every job keeps a run journal; with tracking on, its
    run is uploaded as it goes, and a sweep has a parent run."""

    def __init__(self) -> None:
        self._tracker: RunTracker | None = None
        self._parent: ParentRef | None = None
        # In a basic (sequential) sweep, a job's last uploads overlap the next job; the sweep
        # waits for them at its end. Elsewhere a job waits for its own run.
        self._overlap = False

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        settings = _tracking(config)
        if settings is not None and settings.enabled:
            _ready(config, settings)

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        settings = _tracking(config)
        if settings is None:
            return
        sweep_dir = Path(config.hydra.sweep.dir)
        self._overlap = OmegaConf.select(config, "hydra.launcher._target_") == BASIC_LAUNCHER
        start_sweep(
            settings,
            sweep_dir=sweep_dir,
            overrides=list(config.hydra.overrides.task),
            config_yaml=OmegaConf.to_yaml(
                OmegaConf.create(redact(OmegaConf.to_container(config, resolve=False)))
            ),
        )
        if not settings.enabled:
            return
        _ready(config, settings)
        # The experiment and the parent run exist before any worker starts (parallel workers
        # creating a fresh store race on its schema).
        try:
            self._parent = open_parent(sweep_dir, absolute_uri(settings.uri))
            atexit.register(self._end_sweep, sweep_dir)
        except Exception as exc:  # noqa: BLE001 - the jobs run regardless; sync attaches them later
            log.error(
                "tracking: the sweep's parent run could not be created (%s: %s); its jobs "
                "are tracked without it (skillopt-sync %s attaches them later)",
                type(exc).__name__,
                exc,
                sweep_dir,
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
        if settings.enabled:
            settings.apply_request_bounds()
        sweep_dir = parent = None
        if hydra_cfg.mode == RunMode.MULTIRUN:
            sweep_dir = Path(hydra_cfg.sweep.dir)
            parent = SweepIdentity.read(sweep_dir)
        self._tracker = RunTracker.start(
            config=plain(config),
            settings=settings,
            out_dir=out_dir,
            overrides=list(hydra_cfg.overrides.task),
            registry_prompt=OmegaConf.select(config, "registry.prompt"),
            sweep_dir=sweep_dir,
            sweep_id=parent.sweep_id if parent else None,
            job_num=int(hydra_cfg.job.num) if parent else None,
        )

    def on_job_end(self, config: DictConfig, job_return: JobReturn, **kwargs: Any) -> None:
        tracker, self._tracker = self._tracker, None
        if tracker is None:
            return
        # `return_value` re-raises a failed job's exception; the exception itself is stored here.
        failed = job_return.status != JobStatus.COMPLETED
        tracker.finish(error=job_return._return_value if failed else None, wait=not self._overlap)

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        redact_saved_configs(Path(config.hydra.sweep.dir))
        self._end_sweep(Path(config.hydra.sweep.dir))

    def _end_sweep(self, sweep_dir: Path) -> None:
        """Wait for the jobs' runs, then close the parent with their counts and list the runs
        whose tracking is incomplete. Also run at exit: Hydra skips `on_multirun_end` when a
        job failed."""
        atexit.unregister(self._end_sweep)
        settle_runs()
        parent, self._parent = self._parent, None
        if parent is None:
            return
        missing = incomplete_jobs(sweep_dir, parent.tracking_uri)
        if missing:  # the store failed them: the parent is left to skillopt-sync as well
            note_incomplete_sweep(sweep_dir, parent.tracking_uri, missing)
            return
        results = sweep_dir / RunFolder.SEARCH_RESULT
        try:
            if results.is_file():
                log_search_result(parent, results)
            close_parent(parent, sweep_dir)
        except Exception as exc:  # noqa: BLE001 - the jobs' runs are complete; sync closes it
            log.error(
                "tracking: the sweep's parent run could not be closed (%s: %s); "
                "skillopt-sync %s closes it",
                type(exc).__name__,
                exc,
                sweep_dir,
            )
