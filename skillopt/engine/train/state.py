"""The training loop's resumable state: one JSON file, written atomically after every step.

It holds everything a resumed run needs to continue exactly where it stopped: the current and
best skill with their scores (None = not measured yet; a real 0.0 survives), the score caches,
the history, the step buffer of the running epoch, the active meta skill, which epoch-level
stages are done, and what the calls of earlier attempts cost. A state file that cannot be read
is an error, never a silent fresh start; so is one written with other settings or from another
initial skill.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from skillopt.base.atomic import write_json
from skillopt.base.errors import ConfigError
from skillopt.base.scores import Score
from skillopt.engine.train.gate import GateDecision, GateState, ScoreCache
from skillopt.engine.train.records import StepRecord
from skillopt.engine.train.stepbuffer import StepEntry
from skillopt.llm.ledger import Usage

STATE_VERSION = 2


def _score(data: dict[str, Any] | None) -> Score | None:
    return None if data is None else Score.from_json(data)


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
    history: list[StepRecord] = field(default_factory=list)
    step_buffer: list[StepEntry] = field(default_factory=list)
    buffer_epoch: int = 0
    meta_skill: str = ""
    prev_epoch_skill: str | None = None
    epochs_done: list[int] = field(default_factory=list)
    usage: dict[str, Usage] = field(default_factory=dict)
    finished: bool = False

    @classmethod
    def fresh(cls, *, fingerprint: dict[str, Any], initial_skill: str) -> TrainState:
        return cls(
            fingerprint=fingerprint,
            initial_skill=initial_skill,
            current_skill=initial_skill,
            best_skill=initial_skill,
        )

    @property
    def gate(self) -> GateState:
        return GateState(
            current_score=self.current_score, best_score=self.best_score, best_step=self.best_step
        )

    def adopt(self, decision: GateDecision, candidate: str, *, origin: str) -> None:
        """Carry a gate decision into the state: the candidate becomes current unless rejected,
        and best when it is a new best; the scores follow the decision."""
        if decision.accepted:
            self.current_skill, self.current_origin = candidate, origin
        if decision.new_best:
            self.best_skill, self.best_origin = candidate, origin
        self.current_score = decision.state.current_score
        self.best_score = decision.state.best_score
        self.best_step = decision.state.best_step

    def to_json(self) -> dict[str, Any]:
        return {
            "version": STATE_VERSION,
            "fingerprint": self.fingerprint,
            "last_completed_step": self.last_completed_step,
            "current_score": self.current_score,
            "best_score": self.best_score,
            "best_step": self.best_step,
            "current_origin": self.current_origin,
            "best_origin": self.best_origin,
            "baseline": None if self.baseline is None else self.baseline.to_json(),
            "initial_skill": self.initial_skill,
            "current_skill": self.current_skill,
            "best_skill": self.best_skill,
            "selection_cache": self.selection_cache.to_json(),
            "test_cache": self.test_cache.to_json(),
            "history": [record.to_json() for record in self.history],
            "step_buffer": [e.to_json() for e in self.step_buffer],
            "buffer_epoch": self.buffer_epoch,
            "meta_skill": self.meta_skill,
            "prev_epoch_skill": self.prev_epoch_skill,
            "epochs_done": self.epochs_done,
            "usage": {role: usage.to_json() for role, usage in self.usage.items()},
            "finished": self.finished,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TrainState:
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
            selection_cache=ScoreCache.from_json(data["selection_cache"]),
            test_cache=ScoreCache.from_json(data["test_cache"]),
            history=[StepRecord.from_json(record) for record in data["history"]],
            step_buffer=[StepEntry.from_json(e) for e in data["step_buffer"]],
            buffer_epoch=data["buffer_epoch"],
            meta_skill=data["meta_skill"],
            prev_epoch_skill=data["prev_epoch_skill"],
            epochs_done=list(data["epochs_done"]),
            usage={role: Usage.from_json(usage) for role, usage in data["usage"].items()},
            finished=bool(data["finished"]),
        )

    def save(self, path: Path) -> None:
        write_json(path, self.to_json())

    @classmethod
    def load(cls, path: Path) -> TrainState:
        """The state in `path`; a file that cannot be used raises ConfigError naming it."""
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(data, dict):
                raise ValueError(f"expected a JSON object, got {type(data).__name__}")
            if data.get("version") != STATE_VERSION:
                raise ValueError(f"state version {data.get('version')!r}, expected {STATE_VERSION}")
            return cls.from_json(data)
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ConfigError(
                f"cannot resume from {path}: {type(exc).__name__}: {exc} "
                "(move the file away to start this output directory afresh)"
            ) from None

    @classmethod
    def resume_or_start(
        cls, path: Path, *, fingerprint: dict[str, Any], initial_skill: str
    ) -> TrainState:
        """The state saved in `path` if there is one, else a fresh state. A saved state written
        with other settings (`fingerprint`) or another initial skill is refused, naming what
        changed, so a resume never mixes two experiments."""
        if not path.is_file():
            return cls.fresh(fingerprint=fingerprint, initial_skill=initial_skill)
        state = cls.load(path)
        expected = json.loads(json.dumps(fingerprint))  # as stored: tuples become lists
        if state.fingerprint != expected:
            changed = sorted(
                k
                for k in set(state.fingerprint) | set(expected)
                if state.fingerprint.get(k) != expected.get(k)
            )
            raise ConfigError(
                f"{path.parent} holds a training run with other settings ({', '.join(changed)}); "
                "resume it with the same config or choose another output directory"
            )
        if state.initial_skill != initial_skill:
            raise ConfigError(
                f"{path.parent} was trained from another initial skill than env.skill_path "
                "holds now; resume with the original skill or choose another output directory"
            )
        return state
