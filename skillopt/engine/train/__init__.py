"""The training loop (pure: no Hydra, no MLflow): the stages after reflect and the loop around them.

aggregate (merge patches) -> rank (select within the edit budget) -> update (apply edits, or
rewrite) -> gate (score on the selection split, keep only improvements); `loop.Trainer` runs
epochs of such steps with resumable `state`, then the epoch-level slow update and meta skill
(`epochend`), and reports typed records (`records`) to its observers.
"""

from skillopt.engine.train.loop import StopRequested, Trainer, plan_epoch
from skillopt.engine.train.observer import NullTrainObserver, TrainObserver, TrainObservers
from skillopt.engine.train.records import (
    BaselineRecord,
    EpochRecord,
    StepRecord,
    TrainOutcome,
    TrainPlan,
)
from skillopt.engine.train.settings import GateSettings, TrainSettings
from skillopt.engine.train.state import TrainState
from skillopt.engine.train.step import StepRunner

__all__ = [
    "BaselineRecord",
    "EpochRecord",
    "GateSettings",
    "NullTrainObserver",
    "StepRecord",
    "StepRunner",
    "StopRequested",
    "TrainObserver",
    "TrainObservers",
    "TrainOutcome",
    "TrainPlan",
    "TrainSettings",
    "TrainState",
    "Trainer",
    "plan_epoch",
]
