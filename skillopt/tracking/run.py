"""One job's MLflow run, as the job sees it: a journal it appends to, and an agent that uploads.

`RunTracker.start` writes the job's run identity (whether or not tracking is on: a run can then
be synced later) and, when tracking is on, has this process's tracking agent follow the output
directory. During the job, metrics and skill versions are appended to the journal and the agent
is told; spans reach the journal through the job's span sink. `finish` records how the job
ended and waits, up to `tracking.flush_timeout_s`, for the agent to complete the run. The job's
process never imports MLflow and never waits on a tracking server before its end.
"""

from __future__ import annotations

import atexit
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from skillopt.llm.tracing import SpanRecord, SpanSink, TraceRecord
from skillopt.tracking.content import job_identity, write_tables
from skillopt.tracking.jobs import JobKind, job_kind
from skillopt.tracking.journal import RunJournal
from skillopt.tracking.link import AgentLink, agent_link
from skillopt.tracking.names import Tag
from skillopt.tracking.provenance import command_line
from skillopt.tracking.settings import TrackingSettings
from skillopt.tracking.upload import INTERRUPTED

log = logging.getLogger("skillopt.tracking")

TAG_MAX_CHARS = 5000

_active: RunTracker | None = None


@dataclass(frozen=True, kw_only=True)
class Incomplete:
    """Results complete in `out_dir` whose run (or, for a sweep, the runs of `jobs`) is not
    complete in its tracking store."""

    out_dir: Path
    uri: str
    cause: str
    jobs: tuple[str, ...] = ()

    def line(self) -> str:
        which = f" for {len(self.jobs)} runs ({', '.join(self.jobs)})" if self.jobs else ""
        return (
            f"the results are complete in {self.out_dir}, but tracking to {self.uri} is "
            f"not{which} ({self.cause}); complete it with: skillopt-sync {self.out_dir}"
        )


_incomplete: list[Incomplete] = []


def incomplete_runs() -> list[Incomplete]:
    """What this process's jobs and sweeps left incomplete in their tracking store."""
    return list(_incomplete)


def note_incomplete_sweep(sweep_dir: Path, uri: str, missing: list[Path]) -> None:
    """Report a sweep's incomplete runs as one entry (replacing its jobs' own entries)."""
    inside = sweep_dir.resolve()
    _incomplete[:] = [e for e in _incomplete if inside not in e.out_dir.resolve().parents]
    entry = Incomplete(
        out_dir=sweep_dir,
        uri=uri,
        cause="see the jobs' logs",
        jobs=tuple(d.name for d in missing),
    )
    _incomplete.append(entry)
    log.error("tracking: %s", entry.line())


def active_tracker() -> RunTracker | None:
    """The tracker of the job running in this process, if any."""
    return _active


class _Poke:
    """A span sink that tells the agent a span was journaled (the journal is the job's own
    sink; this one only wakes the upload)."""

    def __init__(self, link: AgentLink, folder: str) -> None:
        self.link, self.folder = link, folder

    def on_span(self, record: SpanRecord) -> None:
        self.link.poke(self.folder)

    def on_trace(self, record: TraceRecord) -> None:
        self.link.poke(self.folder)


class RunTracker:
    """The run of one job. Create with `start`, end with `finish`."""

    def __init__(
        self,
        *,
        journal: RunJournal,
        config: Mapping[str, Any],
        settings: TrackingSettings,
        kind: JobKind,
        link: AgentLink | None,
        registry_prompt: str | None,
    ) -> None:
        self.journal = journal
        self.config = config
        self.settings = settings
        self.kind = kind
        self.link = link
        self.registry_prompt = registry_prompt
        self.out_dir = journal.out_dir
        self.result: Any = None  # the job's typed result, handed over by its observer
        self._folder = str(self.out_dir.resolve())
        self._done = False

    @classmethod
    def start(
        cls,
        *,
        config: Mapping[str, Any],
        settings: TrackingSettings,
        out_dir: Path,
        overrides: list[str],
        registry_prompt: str | None = None,
        sweep_dir: Path | None = None,
        sweep_id: str | None = None,
        job_num: int | None = None,
    ) -> RunTracker:
        """Write the job's run identity; with tracking on, start uploading its run."""
        global _active
        kind = job_kind(config)
        identity = job_identity(
            config=config,
            settings=settings,
            overrides=overrides,
            kind=kind,
            out_dir=out_dir,
            command=command_line(),
            sweep_dir=sweep_dir,
            sweep_id=sweep_id,
            job_num=job_num,
        )
        journal = RunJournal.start(out_dir, identity)
        link = None
        if settings.enabled:
            link = agent_link(exit_timeout_s=settings.flush_timeout_s)
            link.follow(str(out_dir.resolve()), identity.uri)
            if not _settle_at_exit:
                # after the agent's own exit handler, so it runs first (atexit is LIFO)
                atexit.register(settle_runs)
                _settle_at_exit.append(True)
        tracker = cls(
            journal=journal,
            config=config,
            settings=settings,
            kind=kind,
            link=link,
            registry_prompt=registry_prompt,
        )
        _active = tracker
        atexit.register(tracker.abandon)
        return tracker

    # ----------------------------------------------------------------- during the job
    def wake(self) -> None:
        """Tell the agent there is something new to upload (files included)."""
        if self.link is not None:
            self.link.poke(self._folder)

    def log_metrics(self, metrics: Mapping[str, float], *, step: int) -> None:
        self.journal.log_metrics(metrics, step=step)
        self.wake()

    def add_skill_version(self, record: Mapping[str, Any]) -> None:
        """Journal a skill for the Prompt Registry (ignored when `registry.prompt` is unset)."""
        if self.registry_prompt is None:
            return
        self.journal.add_skill_version({"prompt": self.registry_prompt, **record})
        self.wake()

    def span_sink(self) -> SpanSink | None:
        """A sink that wakes the upload as spans are journaled (None when they are not
        uploaded live)."""
        if self.link is None or not self.settings.trace_llm_calls:
            return None
        return _Poke(self.link, self._folder)

    # -------------------------------------------------------------------- the end
    def finish(self, *, error: BaseException | None, wait: bool = True) -> None:
        """Record the job's final metrics, tables and end (FINISHED, or FAILED with the error)
        and ask for the run to be completed. With `wait`, wait for that up to the flush
        deadline; without, the process goes on (a sweep's next job starts while this run's
        last uploads run) and `settle_runs` waits later."""
        if self._done:
            return
        tags: dict[str, str] = {}
        result = self.result
        if result is not None:
            self.journal.log_metrics(self.kind.metrics(result), step=self.kind.final_step(result))
            tags[Tag.NOTE] = self.kind.note(result, self.config)
            tags.update(write_tables(self.kind, result, self.out_dir))
        if error is not None:
            tags[Tag.ERROR] = f"{type(error).__name__}: {error}"[:TAG_MAX_CHARS]
        self.journal.end(status="FINISHED" if error is None else "FAILED", tags=tags)
        self._hand_over()
        if wait:
            self.settle(timeout_s=self.settings.flush_timeout_s)

    def abandon(self) -> None:
        """At interpreter exit, a job that never finished was interrupted: end it KILLED."""
        if self._done:
            return
        self.journal.end(status="KILLED", tags={Tag.ERROR: INTERRUPTED})
        self._hand_over()
        self.settle(timeout_s=self.settings.flush_timeout_s)

    def _hand_over(self) -> None:
        global _active
        self._done = True
        if _active is self:
            _active = None
        atexit.unregister(self.abandon)
        if self.link is not None:
            self.link.finish(self._folder)
            _unsettled.append(self)

    def settle(self, *, timeout_s: float) -> None:
        """Wait for the run to be complete; if it is not within `timeout_s`, say so (one line
        in the log; `incomplete_runs` makes the app exit non-zero)."""
        if self not in _unsettled or self.link is None:
            return
        _unsettled.remove(self)
        answer = self.link.wait(self._folder, timeout_s=timeout_s)
        if answer is not None and answer.complete:
            log.info(
                "tracking: MLflow run %s complete (%s)",
                answer.run_id,
                ", ".join(f"{n} {k}" for k, n in answer.uploaded.items() if n) or "no changes",
            )
            return
        if answer is not None:
            cause = answer.error or "the upload stopped"
        elif self.link.dead is not None:
            cause = self.link.dead
        else:
            cause = f"not done within tracking.flush_timeout_s={self.settings.flush_timeout_s:g}"
        missing = Incomplete(out_dir=self.out_dir, uri=self.journal.identity.uri, cause=cause)
        _incomplete.append(missing)
        log.error("tracking: %s", missing.line())


_unsettled: list[RunTracker] = []
_settle_at_exit: list[bool] = []


def settle_runs() -> None:
    """Wait for the runs of this process's finished jobs to be complete, all within one flush
    deadline (the longest of theirs)."""
    if not _unsettled:
        return
    deadline = time.monotonic() + max(t.settings.flush_timeout_s for t in _unsettled)
    for tracker in list(_unsettled):
        tracker.settle(timeout_s=max(0.0, deadline - time.monotonic()))
