"""What the training loop tells its listeners (progress bar, MLflow): one protocol, typed events.

Every method is optional: subclass `NullTrainObserver` and override what you need. Events come in
order on the loop's thread: `on_start`, `on_baseline` (fresh runs only), then `on_step` per step
and `on_epoch_end` per epoch, and `on_finish` with the outcome. A resumed run starts with the
first step not yet done. `TrainObservers` calls several in turn; one that raises is logged and
does not stop the loop (`skillopt.engine.observing`).
"""

from __future__ import annotations

from typing import Protocol

from skillopt.engine.observing import notify
from skillopt.engine.train.records import (
    BaselineRecord,
    EpochRecord,
    StepRecord,
    TrainOutcome,
    TrainPlan,
)


class TrainObserver(Protocol):
    def on_start(self, plan: TrainPlan) -> None: ...

    def on_baseline(self, record: BaselineRecord) -> None: ...

    def on_step(self, record: StepRecord) -> None: ...

    def on_epoch_end(self, record: EpochRecord) -> None: ...

    def on_finish(self, outcome: TrainOutcome) -> None: ...


class NullTrainObserver:
    """Does nothing; subclass it to handle only some events."""

    def on_start(self, plan: TrainPlan) -> None:
        return None

    def on_baseline(self, record: BaselineRecord) -> None:
        return None

    def on_step(self, record: StepRecord) -> None:
        return None

    def on_epoch_end(self, record: EpochRecord) -> None:
        return None

    def on_finish(self, outcome: TrainOutcome) -> None:
        return None


class TrainObservers(NullTrainObserver):
    """Several observers as one, called in order."""

    def __init__(self, *observers: TrainObserver) -> None:
        self.observers = observers

    def on_start(self, plan: TrainPlan) -> None:
        notify(self.observers, "on_start", plan)

    def on_baseline(self, record: BaselineRecord) -> None:
        notify(self.observers, "on_baseline", record)

    def on_step(self, record: StepRecord) -> None:
        notify(self.observers, "on_step", record)

    def on_epoch_end(self, record: EpochRecord) -> None:
        notify(self.observers, "on_epoch_end", record)

    def on_finish(self, outcome: TrainOutcome) -> None:
        notify(self.observers, "on_finish", outcome)
