"""What the training loop tells its listeners (progress bar, MLflow), one protocol and its defaults."""

from __future__ import annotations

from typing import Any, Protocol


class TrainObserver(Protocol):
    """Told what the loop did, in order; tracking and the progress bar listen."""

    def on_start(self, plan: dict[str, Any]) -> None: ...

    def on_baseline(self, record: dict[str, Any]) -> None: ...

    def on_step(self, record: dict[str, Any]) -> None: ...

    def on_epoch_end(self, record: dict[str, Any]) -> None: ...

    def on_finish(self, summary: dict[str, Any]) -> None: ...


class NullTrainObserver:
    """Does nothing; subclass it to handle only some events."""

    def on_start(self, plan: dict[str, Any]) -> None:
        return None

    def on_baseline(self, record: dict[str, Any]) -> None:
        return None

    def on_step(self, record: dict[str, Any]) -> None:
        return None

    def on_epoch_end(self, record: dict[str, Any]) -> None:
        return None

    def on_finish(self, summary: dict[str, Any]) -> None:
        return None


class TrainObservers(NullTrainObserver):
    """Several observers as one, called in order."""

    def __init__(self, *observers: TrainObserver) -> None:
        self.observers = observers

    def on_start(self, plan: dict[str, Any]) -> None:
        for o in self.observers:
            o.on_start(plan)

    def on_baseline(self, record: dict[str, Any]) -> None:
        for o in self.observers:
            o.on_baseline(record)

    def on_step(self, record: dict[str, Any]) -> None:
        for o in self.observers:
            o.on_step(record)

    def on_epoch_end(self, record: dict[str, Any]) -> None:
        for o in self.observers:
            o.on_epoch_end(record)

    def on_finish(self, summary: dict[str, Any]) -> None:
        for o in self.observers:
            o.on_finish(summary)
