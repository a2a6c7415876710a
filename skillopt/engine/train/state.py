"""The training loop's resumable state: one JSON file, written atomically after every step.

It holds everything a resumed run needs to continue exactly where it stopped: the current and
best skill with their scores (None = not measured yet; a real 0.0 survives), the score caches,
the history, the step buffer of the running epoch, the active meta skill, which epoch-level
stages are done, and what the calls of earlier attempts cost. A state file that cannot be read
is an error, never a silent fresh start.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from skillopt.base.atomic import write_json
from skillopt.base.errors import ConfigError
from skillopt.base.scores import Score
from skillopt.engine.train.gate import ScoreCache
from skillopt.engine.train.stepbuffer import StepEntry

STATE_VERSION = 1


def _score_dict(score: Score | None) -> dict[str, Any] | None:
    return None if score is None else {"hard": score.hard, "soft": score.soft, "n": score.n}


def _score(data: dict[str, Any] | None) -> Score | None:
    return None if data is None else Score(hard=data["hard"], soft=data["soft"], n=data.get("n", 0))


@dataclass(kw_only=True)
class TrainState:
    """Mutable state of one training run (see the module docstring)."""

    fingerprint: dict[str, Any]
    initial_skill: str
    current_skill: str
    best_skill: str
    current_score: float | None = None
    best_score: float | None = None
    best_step: int = 0
    current_origin: str = "initial"
    best_origin: str = "initial"
    baseline: Score | None = None
    last_completed_step: int = 0
    selection_cache: ScoreCache = field(default_factory=ScoreCache)
    test_cache: ScoreCache = field(default_factory=ScoreCache)
    history: list[dict[str, Any]] = field(default_factory=list)
    step_buffer: list[StepEntry] = field(default_factory=list)
    buffer_epoch: int = 0
    meta_skill: str = ""
    prev_epoch_skill: str | None = None
    epochs_done: list[int] = field(default_factory=list)
    usage: dict[str, dict[str, Any]] = field(default_factory=dict)
    finished: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": STATE_VERSION,
            "fingerprint": self.fingerprint,
            "last_completed_step": self.last_completed_step,
            "current_score": self.current_score,
            "best_score": self.best_score,
            "best_step": self.best_step,
            "current_origin": self.current_origin,
            "best_origin": self.best_origin,
            "baseline": _score_dict(self.baseline),
            "initial_skill": self.initial_skill,
            "current_skill": self.current_skill,
            "best_skill": self.best_skill,
            "selection_cache": self.selection_cache.to_dict(),
            "test_cache": self.test_cache.to_dict(),
            "history": self.history,
            "step_buffer": [e.to_dict() for e in self.step_buffer],
            "buffer_epoch": self.buffer_epoch,
            "meta_skill": self.meta_skill,
            "prev_epoch_skill": self.prev_epoch_skill,
            "epochs_done": self.epochs_done,
            "usage": self.usage,
            "finished": self.finished,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainState:
        return cls(
            fingerprint=data["fingerprint"],
            initial_skill=data["initial_skill"],
            current_skill=data["current_skill"],
            best_skill=data["best_skill"],
            current_score=data["current_score"],
            best_score=data["best_score"],
            best_step=data["best_step"],
            current_origin=data["current_origin"],
            best_origin=data["best_origin"],
            baseline=_score(data["baseline"]),
            last_completed_step=data["last_completed_step"],
            selection_cache=ScoreCache.from_dict(data["selection_cache"]),
            test_cache=ScoreCache.from_dict(data["test_cache"]),
            history=list(data["history"]),
            step_buffer=[StepEntry.from_dict(e) for e in data["step_buffer"]],
            buffer_epoch=data["buffer_epoch"],
            meta_skill=data["meta_skill"],
            prev_epoch_skill=data["prev_epoch_skill"],
            epochs_done=list(data["epochs_done"]),
            usage=dict(data["usage"]),
            finished=bool(data["finished"]),
        )

    def save(self, path: Path) -> None:
        write_json(path, self.to_dict())

    @classmethod
    def load(cls, path: Path) -> TrainState:
        """The state in `path`; a file that cannot be used raises ConfigError naming it."""
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(data, dict):
                raise ValueError(f"expected a JSON object, got {type(data).__name__}")
            if data.get("version") != STATE_VERSION:
                raise ValueError(f"state version {data.get('version')!r}, expected {STATE_VERSION}")
            return cls.from_dict(data)
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ConfigError(
                f"cannot resume from {path}: {type(exc).__name__}: {exc} "
                "(move the file away to start this output directory afresh)"
            ) from None
