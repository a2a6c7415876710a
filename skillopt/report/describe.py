"""Sentences about a selection of runs: the report's title, where its runs come from, and the
line `skillopt-report` prints when it chose the runs itself."""

from __future__ import annotations

from skillopt.report.text import plural
from skillopt.tracking.records import Selection


def selection_title(selection: Selection) -> str:
    """`sweep <id>`, `experiment <name>`, `run <id>` (the most recent one) or `N selected runs`."""
    if selection.kind == "sweep":
        return f"sweep {selection.sweep_id}"
    if selection.kind == "experiment":
        return f"experiment {selection.experiment}"
    if selection.latest and len(selection.runs) == 1:
        return f"run {selection.runs[0].run_id}"
    return plural(len(selection.runs), "selected run")


def source_sentence(selection: Selection) -> str:
    """Where the runs come from, in one sentence."""
    count = plural(len(selection.runs), "run")
    where = f"tracking URI {selection.tracking_uri}"
    if selection.kind == "sweep":
        parent = selection.parent.run_id if selection.parent else "?"
        return (
            f"Sweep {selection.sweep_id} of experiment {selection.experiment} "
            f"(parent run {parent}), {count}; {where}."
        )
    if selection.kind == "experiment":
        return f"Experiment {selection.experiment}, {count} (sweep parents left out); {where}."
    if selection.latest:
        return f"The most recent run in the store, from experiment {selection.experiment}; {where}."
    return f"{count.capitalize()} chosen by id, from experiment {selection.experiment}; {where}."


def jobs_sentence(selection: Selection) -> str | None:
    """How many runs are training runs, when any are (None for a reflect-only report)."""
    trained = len(selection.training_runs)
    if not trained:
        return None
    reflect = len(selection.reflect_runs)
    if not reflect:
        if trained == 1:
            return "It is a training run (skillopt-train)."
        return "All of them are training runs (skillopt-train)."
    what = "is a training run" if trained == 1 else "are training runs"
    return f"{trained} of them {what} (skillopt-train); {plural(reflect, 'reflect run')}."


def choice_sentence(selection: Selection) -> str | None:
    """What was chosen when no runs were named (`chose the most recent sweep ...`); None when
    the selection was asked for."""
    if not selection.latest:
        return None
    where = f"experiment {selection.experiment}"
    if selection.kind == "sweep":
        count = plural(len(selection.runs), "run")
        return f"chose the most recent sweep {selection.sweep_id} ({where}, {count})"
    (run,) = selection.runs
    return f"chose the most recent run {run.run_id} ({where}, a {run.job} run)"
