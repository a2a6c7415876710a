"""The training loop's hyperparameters (`train.*`) and gate settings (`gate.*`), typed."""

from __future__ import annotations

from dataclasses import dataclass

from skillopt.base.errors import ConfigError
from skillopt.engine.train.gate import GateMetric


@dataclass(frozen=True, kw_only=True)
class TrainSettings:
    """Loop hyperparameters (`train.*` in config).

    epochs: passes over the train split (2). batch_size: train tasks per step (8); steps per
    epoch = ceil(train size / batch_size). seed: batch order and slow-update samples (42).
    edit_budget / min_edit_budget / schedule: the per-step budget, constant | linear | cosine
    from edit_budget down to min_edit_budget. merge_batch_size: patches per merge call (>= 2).
    use_slow_update / slow_update_samples / slow_update_gate / pair_policy: the epoch-level
    guidance block, the train tasks compared across epochs, whether the block must pass the gate
    (else it is force-accepted and re-scored), and which pairs it sees (mixed|changed|unchanged).
    use_meta_skill: keep optimizer-side memory across epochs. eval_test: score initial, best and
    final skill on the test split at the end.
    """

    epochs: int = 2
    batch_size: int = 8
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
    eval_test: bool = True

    def __post_init__(self) -> None:
        if self.epochs < 1:
            raise ConfigError(f"train.epochs must be >= 1, got {self.epochs}")
        if self.batch_size < 1:
            raise ConfigError(f"train.batch_size must be >= 1, got {self.batch_size}")
        if self.slow_update_samples < 1:
            raise ConfigError(
                f"train.slow_update_samples must be >= 1, got {self.slow_update_samples}"
            )


@dataclass(frozen=True, kw_only=True)
class GateSettings:
    """The gate (`gate.*`): metric hard | soft | mixed, mixed_weight for soft in mixed, enabled
    (false = every candidate is force-accepted, still scored), selection_size / test_size:
    first N tasks of those splits (0 = all)."""

    metric: str = "hard"
    mixed_weight: float = 0.5
    enabled: bool = True
    selection_size: int = 0
    test_size: int = 0

    @property
    def gate_metric(self) -> GateMetric:
        return GateMetric(metric=self.metric, mixed_weight=self.mixed_weight)
