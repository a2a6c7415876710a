"""The reflect part's figures as PNG bytes (matplotlib, Agg, no pyplot state): every metric
that varies against a swept param, and tokens and cost per run.

Bytes are reproducible: fixed figure sizes and dpi, Matplotlib's default style whatever the
user's matplotlibrc says, and no `Software` entry in the PNG metadata, so the same runs give
the same files on every render.
"""

from __future__ import annotations

import io
import math
import re
from collections import defaultdict
from typing import Any

from skillopt.report.document import Figure
from skillopt.report.tables import metric_sum
from skillopt.report.text import MISSING
from skillopt.tracking.names import Metric, Param
from skillopt.tracking.records import RunRecord

DPI = 100
MODE_PARAM = Param.UPDATE_MODE
PNG_METADATA = {"Software": None}
_STYLE = {"font.size": 8.0, "axes.titlesize": 8.0, "legend.fontsize": 8.0, "figure.dpi": DPI}


def file_stem(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_") or "plot"


def _numeric(values: list[str | None]) -> bool:
    try:
        for value in values:
            if value is None:
                return False
            float(value)
    except ValueError:
        return False
    return True


def _short(label: str, limit: int = 28) -> str:
    return label if len(label) <= limit else "…" + label[-(limit - 1) :]


def png_bytes(fig: Any) -> bytes:
    """`fig` as PNG bytes, at the fixed dpi and without a `Software` entry."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI, metadata=PNG_METADATA)
    return buffer.getvalue()


def new_figure(width: float, height: float) -> Any:
    """A Matplotlib figure of that size in inches (no pyplot state), laid out constrained."""
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=DPI, layout="constrained")


class DefaultStyle:
    """Matplotlib's defaults plus a few sizes, for the duration of a `with` block."""

    def __enter__(self) -> None:
        import matplotlib

        self._context = matplotlib.rc_context()
        self._context.__enter__()
        matplotlib.rcdefaults()
        matplotlib.rcParams.update(_STYLE)

    def __exit__(self, *exc: object) -> None:
        self._context.__exit__(*exc)


def metric_plot(runs: tuple[RunRecord, ...], param: str, metrics: list[str]) -> Figure | None:
    """Every metric in `metrics` against `param`, one subplot each, one line per update mode
    (the mean where several runs share a value; every run is also drawn as a dot)."""
    if not metrics:
        return None
    raw = [run.params.get(param) for run in runs]
    numeric = _numeric(raw)
    if numeric:
        positions = {value: float(value) for value in raw if value is not None}
        ticks = sorted(set(positions.values()))
        tick_labels = [f"{t:g}" for t in ticks]
    else:
        categories = sorted({MISSING if v is None else v for v in raw})
        positions = {value: float(i) for i, value in enumerate(categories)}
        ticks = [float(i) for i in range(len(categories))]
        tick_labels = [_short(c) for c in categories]
    modes = sorted({run.params.get(MODE_PARAM) or MISSING for run in runs})

    ncols = min(4, len(metrics))
    nrows = math.ceil(len(metrics) / ncols)
    with DefaultStyle():
        fig = new_figure(3.3 * ncols, 2.5 * nrows + 0.5)
        axes = fig.subplots(nrows, ncols, squeeze=False)
        for index, metric in enumerate(metrics):
            ax = axes[index // ncols][index % ncols]
            for color, mode in enumerate(modes):
                points: dict[float, list[float]] = defaultdict(list)
                for run in runs:
                    if (run.params.get(MODE_PARAM) or MISSING) != mode or metric not in run.metrics:
                        continue
                    value = run.params.get(param)
                    points[positions[MISSING if value is None and not numeric else value]].append(
                        run.metrics[metric]
                    )
                if not points:
                    continue
                xs = sorted(points)
                means = [sum(points[x]) / len(points[x]) for x in xs]
                ax.plot(xs, means, marker="o", color=f"C{color}", label=mode)
                if any(len(v) > 1 for v in points.values()):
                    dots = [(x, y) for x in xs for y in points[x]]
                    ax.scatter(*zip(*dots, strict=True), s=10, alpha=0.4, color=f"C{color}")
            ax.set_title(metric)
            ax.set_xticks(ticks, tick_labels, rotation=20 if not numeric else 0)
            ax.set_xlabel(param)
            ax.grid(True, alpha=0.3)
        for index in range(len(metrics), nrows * ncols):
            axes[index // ncols][index % ncols].set_visible(False)
        handles, labels = axes[0][0].get_legend_handles_labels()
        if handles:
            fig.legend(handles, labels, loc="outside upper center", ncols=len(handles))
        png = png_bytes(fig)
    return Figure(
        name=f"metrics_vs_{file_stem(param)}.png",
        title=f"Each metric that varies against {param}, one line per update mode",
        png=png,
    )


def usage_plot(runs: tuple[RunRecord, ...]) -> Figure | None:
    """Prompt and completion tokens (stacked) and cost per run."""
    if not runs:
        return None
    labels = [run.label for run in runs]
    prompt = [run.metrics.get(Metric.LLM_PROMPT_TOKENS) for run in runs]
    completion = [run.metrics.get(Metric.LLM_COMPLETION_TOKENS) for run in runs]
    cost = [metric_sum(run, (Metric.LLM_COST_USD,)) for run in runs]
    xs = list(range(len(runs)))
    width = min(20.0, max(6.0, 0.6 * len(runs) + 2.0))
    with DefaultStyle():
        fig = new_figure(width, 5.5)
        tokens_ax, cost_ax = fig.subplots(2, 1, sharex=True)
        tokens_ax.bar(xs, [p or 0 for p in prompt], color="C0", label="prompt")
        tokens_ax.bar(
            xs,
            [c or 0 for c in completion],
            bottom=[p or 0 for p in prompt],
            color="C1",
            label="completion",
        )
        tokens_ax.set_title("tokens per run")
        tokens_ax.legend(loc="upper right")
        cost_ax.bar(xs, [c or 0 for c in cost], color="C2")
        cost_ax.set_title("cost per run (USD)")
        for x, (p, c) in enumerate(zip(prompt, cost, strict=True)):
            if p is None:
                tokens_ax.annotate(MISSING, (x, 0), ha="center", va="bottom")
            if c is None:
                cost_ax.annotate(MISSING, (x, 0), ha="center", va="bottom")
        cost_ax.set_xticks(xs, labels, rotation=30, ha="right")
        for ax in (tokens_ax, cost_ax):
            ax.set_ylim(bottom=0)
            ax.grid(True, axis="y", alpha=0.3)
        png = png_bytes(fig)
    return Figure(name="tokens_cost.png", title="Tokens and cost per run", png=png)


def report_plots(
    runs: tuple[RunRecord, ...], *, params: list[str], metrics: list[str]
) -> list[Figure]:
    """One figure per swept param (every varying metric against it), then tokens and cost."""
    plots = [metric_plot(runs, param, metrics) for param in params]
    plots.append(usage_plot(runs))
    return [p for p in plots if p is not None]
