"""Scoring skills on the held-out splits: each distinct skill is rolled out once per split.

The selection split gates every candidate; the test split reports the initial, best and final
skill at the end. Scores are cached by skill hash in the run's state (raw hard/soft only, never a
gate value), so a skill met again, before or after a resume, costs no rollout.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from skillopt.base.scores import Score, mean_score
from skillopt.base.skill import skill_hash
from skillopt.engine.environment import Environment, TargetModel, Task
from skillopt.engine.train.gate import ScoreCache


@dataclass(frozen=True, kw_only=True)
class Evaluator:
    """Rolls skills out on the selection and test tasks with the target."""

    env: Environment
    target: TargetModel
    selection: tuple[Task, ...]
    test: tuple[Task, ...]

    def selection_score(self, cache: ScoreCache, skill: str, out_dir: Path) -> tuple[Score, bool]:
        """(score of `skill` on the selection split, whether it came from `cache`)."""
        return self._score(cache, self.selection, skill, out_dir)

    def test_score(self, cache: ScoreCache, skill: str, out_dir: Path) -> Score:
        return self._score(cache, self.test, skill, out_dir)[0]

    def _score(
        self, cache: ScoreCache, tasks: tuple[Task, ...], skill: str, out_dir: Path
    ) -> tuple[Score, bool]:
        key = skill_hash(skill)
        hit = cache.get(key)
        if hit is not None:
            return hit, True
        rows = self.env.rollout(tasks, skill=skill, out_dir=out_dir, target=self.target)
        score = mean_score(rows)
        cache.put(key, score)
        return score, False
