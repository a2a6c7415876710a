"""Training figures as PNG bytes: each run's score curve, and the best gate score of several
runs overlaid.

Drawn like `plots` (fixed sizes and dpi, Matplotlib's default style, no `Software` entry in the
PNG), so the same histories give the same bytes on every render.
"""

from __future__ import annotations

import math

from skillopt.report.document import Figure
from skillopt.report.plots import DefaultStyle, new_figure, png_bytes
from skillopt.report.training import REJECT, SKIP, StepRow
from skillopt.tracking.names import Metric
from skillopt.tracking.records import RunRecord

OVERLAY_NAME = "train_gate_best.png"

# (metric, legend label, line style) of a run's score curve. The gate values are states that
# hold until the next decision, so they are drawn as steps.
CURVE_LINES = (
    (
        Metric.SELECTION_HARD,
        "selection hard (candidate)",
        {"color": "C0", "marker": ".", "lw": 1.2},
    ),
    (Metric.GATE_CURRENT, "gate current", {"color": "C1", "drawstyle": "steps-post", "lw": 1.4}),
    (
        Metric.GATE_BEST,
        "gate best",
        {"color": "k", "drawstyle": "steps-post", "ls": "--", "lw": 1.2},
    ),
)
_LINE_STYLES = ("-", "--", ":", "-.")


def curve_name(run: RunRecord) -> str:
    return f"train_curve_{run.run_id}.png"


def _mark_height(row: StepRow) -> float | None:
    """Where a decision is marked: at the candidate's gate score, else its selection hard."""
    return row.gate_score if row.gate_score is not None else row.selection_hard


def curve_plot(run: RunRecord, rows: list[StepRow], *, caption: str) -> Figure | None:
    """Selection hard, gate current and gate best against step for one training run; accepted
    steps marked with a green triangle and rejected ones with a red cross (both at the
    candidate's gate score), skipped steps as grey vertical lines. None without any of the
    three histories."""
    if not any(run.history.get(name) for name, _, _ in CURVE_LINES):
        return None
    accepted = [(r.step, _mark_height(r)) for r in rows if r.accepted]
    rejected = [(r.step, _mark_height(r)) for r in rows if r.action == REJECT]
    skipped = [r.step for r in rows if r.action == SKIP]
    with DefaultStyle():
        from matplotlib.ticker import MaxNLocator

        fig = new_figure(7.5, 3.6)
        ax = fig.subplots()
        for index, step in enumerate(skipped):
            ax.axvline(
                step, color="0.82", lw=0.9, zorder=0, label="skipped" if index == 0 else None
            )
        for name, label, style in CURVE_LINES:
            points = list(run.history.get(name, ()))
            if name == Metric.SELECTION_HARD:  # no candidate on a skipped step: a gap, not a line
                points = sorted(points + [(step, math.nan) for step in skipped])
            if points:
                xs, ys = zip(*points, strict=True)
                ax.plot(xs, ys, label=label, **style)
        for points, label, style in (
            (accepted, "accepted", {"marker": "^", "color": "tab:green"}),
            (rejected, "rejected", {"marker": "x", "color": "tab:red"}),
        ):
            shown = [(x, y) for x, y in points if y is not None]
            if shown:
                ax.scatter(*zip(*shown, strict=True), s=40, zorder=3, label=label, **style)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("step")
        ax.set_ylabel("score")
        ax.set_title(caption)
        ax.grid(True, alpha=0.3)
        fig.legend(loc="outside right upper")
        png = png_bytes(fig)
    return Figure(
        name=curve_name(run),
        title=f"Score curve of run {caption}: selection hard, gate current and gate best "
        "against step; accepted steps ▲, rejected ✕, skipped as grey lines",
        png=png,
    )


def best_overlay(runs: tuple[RunRecord, ...], captions: list[str]) -> Figure | None:
    """`gate.best` against step, one line per run (by caption); None when fewer than two runs
    logged it."""
    lines = [
        (caption, run.history[Metric.GATE_BEST])
        for run, caption in zip(runs, captions, strict=True)
        if run.history.get(Metric.GATE_BEST)
    ]
    if len(lines) < 2:
        return None
    with DefaultStyle():
        from matplotlib.ticker import MaxNLocator

        legend_rows = math.ceil(len(lines) / 2)
        fig = new_figure(7.5, 3.4 + 0.2 * legend_rows)
        ax = fig.subplots()
        for index, (caption, points) in enumerate(lines):
            xs, ys = zip(*points, strict=True)
            ax.plot(
                xs,
                ys,
                drawstyle="steps-post",
                marker="o",
                markersize=3,
                color=f"C{index % 10}",
                ls=_LINE_STYLES[(index // 10) % len(_LINE_STYLES)],
                label=caption,
            )
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("step")
        ax.set_ylabel("gate best")
        ax.grid(True, alpha=0.3)
        fig.legend(loc="outside lower center", ncols=2)
        png = png_bytes(fig)
    return Figure(
        name=OVERLAY_NAME,
        title="Best gate score against step, one line per training run",
        png=png,
    )
