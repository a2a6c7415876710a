"""Experiment reports: compare the runs of a sweep, an experiment or a list of run ids, and
show how to reproduce each one (`skillopt-report`).

`make_report(ReportRequest(...))` queries MLflow (through `collect`, the only module here that
imports it), renders `report.md`, `report.html`, `report.json` and `plots/`, and, for a sweep,
logs them to the sweep's parent run. Rendering is a pure function of the collected records.
Training runs (`skillopt-train`, tag `skillopt.job=train`) get a part of their own: a table,
a score curve per run, an overlay of the best gate score and each run's steps (`training`,
`curves`).
"""

from skillopt.report.build import ReportRequest, ReportResult, make_report
from skillopt.report.records import ReportError, RunRecord, Selection

__all__ = ["ReportError", "ReportRequest", "ReportResult", "RunRecord", "Selection", "make_report"]
