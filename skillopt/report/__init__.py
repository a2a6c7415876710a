"""Experiment reports: compare the runs of a sweep, an experiment, a list of run ids or, by
default, the most recent sweep or run of the store, and show how to reproduce each one
(`skillopt-report`).

`make_report(ReportRequest(...))` reads the runs through `skillopt.tracking.reader`, computes
what the report shows once (`content`), lays it out as one document (`layout`, `document`) that
`render_md` and `render_html` draw, writes `report.md`, `report.html`, `report.json` and
`plots/`, and, for a sweep, logs them to the sweep's parent run. Nothing here imports MLflow.
Training runs (`skillopt-train`) get a part of their own: a table, a score curve per run, an
overlay of the best gate score and each run's steps.
"""

from skillopt.report.build import ReportRequest, ReportResult, make_report
from skillopt.report.errors import ReportError
from skillopt.tracking.records import RunRecord, Selection, StoreError

__all__ = [
    "ReportError",
    "ReportRequest",
    "ReportResult",
    "RunRecord",
    "Selection",
    "StoreError",
    "make_report",
]
