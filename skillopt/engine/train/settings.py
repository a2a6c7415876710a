"""The training loop's hyperparameters (`train.*`) and gate settings (`gate.*`), typed.

Like the reflect settings, these dataclasses are the single source of truth for their fields,
defaults and allowed values: the Hydra schemas are derived from them and each checks itself on
construction.
"""

from __future__ import annotations

from dataclasses import dataclass

from skillopt.base.checks import SettingError, check_bool, check_int, check_number, choice
from skillopt.base.scores import Score
from skillopt.engine.train.longitudinal import PAIR_POLICIES, PAIR_POLICY_ALIASES
from skillopt.engine.train.schedule import SCHEDULE_ALIASES, SCHEDULE_KINDS

GATE_METRICS: tuple[str, ...] = ("hard", "soft", "mixed")


@dataclass(frozen=True, kw_only=True)
class TrainSettings:
    """Loop hyperparameters (`train.*` in config).

    epochs: passes over the train split (2). batch_size: train tasks per batch (8).
    accumulation: batches rolled out and reflected on before one aggregate/select/update/gate
    (1); steps per epoch = ceil(train size / (batch_size * accumulation)). seed: batch order and
    slow-update samples (42). edit_budget / min_edit_budget / schedule: the per-step budget,
    constant | linear | cosine from edit_budget down to min_edit_budget (0 <= min <= max), or
    autonomous: the optimizer decides each step how many merged items to apply (the analysts
    then propose up to edit_budget each). merge_batch_size: patches per merge call (>= 2).
    use_slow_update / slow_update_samples / slow_update_gate / pair_policy: the epoch-level
    guidance block, the train tasks compared across epochs, whether the block must pass the gate
    (else it is force-accepted and re-scored), and which pairs it sees (mixed | changed |
    unchanged, or a SkillOpt alias; changed tops up with more train tasks when too few changed).
    use_meta_skill: keep optimizer-side memory across epochs. appendix_consolidate_threshold:
    with `reflect.skill_aware`, one optimizer call compacts the execution-notes appendix once it
    holds more notes than this (0 = never). eval_test: score initial, best and final skill on
    the test split.
    """

    epochs: int = 2
    batch_size: int = 8
    accumulation: int = 1
    seed: int = 42
    edit_budget: int = 4
    min_edit_budget: int = 2
    schedule: str = "cosine"
    merge_batch_size: int = 8
    use_slow_update: bool = True
    slow_update_samples: int = 20
    slow_update_gate: bool = False
    pair_policy: str = "mixed"
    use_meta_skill: bool = True
    appendix_consolidate_threshold: int = 0
    eval_test: bool = True

    def __post_init__(self) -> None:
        check_int("epochs", self.epochs, minimum=1)
        check_int("batch_size", self.batch_size, minimum=1)
        check_int("accumulation", self.accumulation, minimum=1, note="batches per step")
        check_int("seed", self.seed)
        check_int("edit_budget", self.edit_budget, minimum=0)
        check_int("min_edit_budget", self.min_edit_budget, minimum=0)
        if self.min_edit_budget > self.edit_budget:
            raise SettingError(
                "min_edit_budget",
                self.min_edit_budget,
                f"expected at most train.edit_budget ({self.edit_budget})",
            )
        schedule = choice("schedule", self.schedule, SCHEDULE_KINDS, SCHEDULE_ALIASES)
        object.__setattr__(self, "schedule", schedule)
        check_int(
            "merge_batch_size", self.merge_batch_size, minimum=2, note="a merge combines patches"
        )
        check_bool("use_slow_update", self.use_slow_update)
        check_int("slow_update_samples", self.slow_update_samples, minimum=1)
        check_bool("slow_update_gate", self.slow_update_gate)
        policy = choice("pair_policy", self.pair_policy, PAIR_POLICIES, PAIR_POLICY_ALIASES)
        object.__setattr__(self, "pair_policy", policy)
        check_bool("use_meta_skill", self.use_meta_skill)
        check_int(
            "appendix_consolidate_threshold",
            self.appendix_consolidate_threshold,
            minimum=0,
            note="0 = never consolidate",
        )
        check_bool("eval_test", self.eval_test)


@dataclass(frozen=True, kw_only=True)
class GateSettings:
    """The gate (`gate.*`): which number it compares and on how many tasks.

    metric: hard | soft | mixed, where mixed = (1 - w) * hard + w * soft with w = mixed_weight
    in [0, 1] (SkillOpt clamped it silently). enabled: false = every candidate is
    force-accepted (still scored). selection_size / test_size: first N tasks of those splits
    (0 = all).
    """

    metric: str = "hard"
    mixed_weight: float = 0.5
    enabled: bool = True
    selection_size: int = 0
    test_size: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "metric", choice("metric", self.metric, GATE_METRICS))
        check_number("mixed_weight", self.mixed_weight, minimum=0, maximum=1)
        object.__setattr__(self, "mixed_weight", float(self.mixed_weight))
        check_bool("enabled", self.enabled)
        check_int("selection_size", self.selection_size, minimum=0, note="0 = the whole split")
        check_int("test_size", self.test_size, minimum=0, note="0 = the whole split")

    def value(self, score: Score) -> float:
        """The gate value of a raw score."""
        if self.metric == "hard":
            return score.hard
        if self.metric == "soft":
            return score.soft
        return (1.0 - self.mixed_weight) * score.hard + self.mixed_weight * score.soft
