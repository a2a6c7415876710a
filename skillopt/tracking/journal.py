"""A job's MLflow run as files in its output directory, written whether or not it is tracked.

The journal is what a run is uploaded from: its identity (experiment, name, params, tags, data,
skill; written when the job starts), its metric batches with their steps and times, its spans
(`skillopt.llm.journal`), the skills to register, and how the job ended. The tracking agent
uploads it while the job runs and `skillopt-sync` uploads it later, the same way, so a run
tracked live and one synced afterwards hold the same things. Nothing here imports MLflow: a job
only appends to files.
"""

from __future__ import annotations

import json
import logging
import shutil
import threading
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from skillopt.base.atomic import write_json
from skillopt.tracking.names import RunFolder

log = logging.getLogger("skillopt.tracking")

# Files that belong to one run: a job whose config changed starts a new run without them.
_RUN_FILES = (RunFolder.RUN, RunFolder.METRICS, RunFolder.SPANS, RunFolder.SKILL_VERSIONS)


def now_ms() -> int:
    return int(time.time() * 1000)


@dataclass(frozen=True, kw_only=True)
class RunIdentity:
    """What a job's run holds from its start. `uri` is where the job was configured to track
    (relative SQLite paths made absolute); `sweep_dir` is set for a job of a sweep."""

    kind: str
    experiment: str
    run_name: str
    params: dict[str, str]
    tags: dict[str, str]
    start_ms: int
    uri: str
    trace: bool = True
    sweep_dir: str | None = None
    skill_path: str | None = None
    dataset: dict[str, str] | None = None  # path, name, context

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RunIdentity:
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})


@dataclass(frozen=True, kw_only=True)
class RunEnd:
    """How a job ended: FINISHED, FAILED or KILLED, when, and the tags set at its end."""

    status: str
    end_ms: int
    tags: dict[str, str] = field(default_factory=dict)


def read_identity(out_dir: Path) -> RunIdentity | None:
    path = out_dir / RunFolder.IDENTITY
    if not path.is_file():
        return None
    return RunIdentity.from_json(json.loads(path.read_text(encoding="utf-8")))


def read_end(out_dir: Path) -> RunEnd | None:
    path = out_dir / RunFolder.END
    if not path.is_file():
        return None
    return RunEnd(**json.loads(path.read_text(encoding="utf-8")))


def read_lines(path: Path, offset: int) -> list[tuple[dict[str, Any] | None, int]]:
    """Each complete JSON line of `path` from byte `offset` (None for a damaged one) with the
    offset just after it. A last line without its newline is still being written: left out."""
    if not path.is_file():
        return []
    with path.open("rb") as handle:
        handle.seek(offset)
        data = handle.read()
    found: list[tuple[dict[str, Any] | None, int]] = []
    for line in data.splitlines(keepends=True):
        if not line.endswith(b"\n"):
            break
        offset += len(line)
        try:
            found.append((json.loads(line), offset))
        except json.JSONDecodeError:
            log.warning("tracking: skipped a damaged line in %s", path)
            found.append((None, offset))
    return found


class RunJournal:
    """The journal of one job. Create with `start`; append with `log_metrics` and
    `add_skill_version`; close with `end`."""

    def __init__(self, out_dir: Path, identity: RunIdentity) -> None:
        self.out_dir = out_dir
        self.identity = identity
        self._lock = threading.Lock()

    @classmethod
    def start(cls, out_dir: Path, identity: RunIdentity) -> RunJournal:
        """Begin (or, for a job resumed with the same config, continue) the journal. A config
        whose params changed since the last attempt starts a new run: the old run's files go."""
        previous = read_identity(out_dir)
        if previous is not None:
            changed = sorted(
                k
                for k in previous.params.keys() | identity.params.keys()
                if previous.params.get(k) != identity.params.get(k)
            )
            if changed or previous.experiment != identity.experiment:
                log.warning(
                    "tracking: the config changed since the last attempt in %s (%s); "
                    "its run starts afresh",
                    out_dir,
                    ", ".join(changed) or "experiment",
                )
                for name in _RUN_FILES:
                    (out_dir / name).unlink(missing_ok=True)
                shutil.rmtree(out_dir / RunFolder.TABLES, ignore_errors=True)
            else:
                identity = replace(identity, start_ms=previous.start_ms)
        (out_dir / RunFolder.END).unlink(missing_ok=True)  # the job runs (again) ...
        _reopen(out_dir)  # ... so its run, wherever it was uploaded, is not complete any more
        write_json(out_dir / RunFolder.IDENTITY, identity.to_json())
        return cls(out_dir, identity)

    def _append(self, name: Path, record: Mapping[str, Any]) -> None:
        line = json.dumps(record, ensure_ascii=False) + "\n"
        path = self.out_dir / name
        with self._lock, path.open("a", encoding="utf-8") as handle:
            handle.write(line)

    def log_metrics(self, metrics: Mapping[str, float], *, step: int) -> None:
        """One batch of metrics at `step`, stamped now."""
        values = {k: float(v) for k, v in metrics.items()}
        self._append(RunFolder.METRICS, {"step": step, "timestamp": now_ms(), "metrics": values})

    def add_skill_version(self, record: Mapping[str, Any]) -> None:
        """A skill to register as a prompt version (see `skillopt.tracking.registry`)."""
        self._append(RunFolder.SKILL_VERSIONS, record)

    def end(self, *, status: str, tags: Mapping[str, str]) -> RunEnd:
        """Record how the job ended; after this the journal is complete."""
        end = RunEnd(status=status, end_ms=now_ms(), tags=dict(tags))
        write_json(self.out_dir / RunFolder.END, asdict(end))
        return end


@dataclass(kw_only=True)
class Progress:
    """How far the upload of a run got, at one tracking URI (`RunFolder.RUN`)."""

    tracking_uri: str
    run_id: str | None = None
    experiment_id: str | None = None
    metrics_offset: int = 0
    spans_offset: int = 0
    skills_offset: int = 0
    linked: list[str] = field(default_factory=list)
    artifacts: dict[str, list[int]] = field(default_factory=dict)
    complete: bool = False
    error: str | None = None

    @classmethod
    def load(cls, out_dir: Path, uri: str) -> Progress:
        """The progress recorded for `uri`; a fresh one for another store (a new run there)."""
        path = out_dir / RunFolder.RUN
        if path.is_file():
            data = json.loads(path.read_text(encoding="utf-8"))
            if data.get("tracking_uri") == uri:
                return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})
        return cls(tracking_uri=uri)

    def save(self, out_dir: Path) -> None:
        write_json(out_dir / RunFolder.RUN, asdict(self))


def _reopen(out_dir: Path) -> None:
    path = out_dir / RunFolder.RUN
    if path.is_file():
        data = json.loads(path.read_text(encoding="utf-8"))
        data["complete"] = False
        write_json(path, data)
