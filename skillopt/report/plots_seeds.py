"""The figure of the statistics across seeds: one panel per metric, one point per setting at its
mean with its interval as a bar (the baseline's in another colour), and each run's value as a
small grey dot beside it.

Drawn like `plots` (fixed sizes and dpi, Matplotlib's default style, no `Software` entry in the
PNG) and with no randomness (the dots are spread evenly, not jittered), so the same runs give
the same bytes.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from skillopt.report.document import Figure
from skillopt.report.grouping import SeedMetric, Setting
from skillopt.report.plots import DefaultStyle, new_figure, png_bytes
from skillopt.report.stats import Sample
from skillopt.report.text import percent

DOT_SPREAD = 0.18  # the runs' dots sit within ±this of their setting's position


def _short(label: str, limit: int = 24) -> str:
    return label if len(label) <= limit else label[: limit - 1] + "…"


def seeds_plot(
    stats: Sequence[tuple[Setting, Mapping[str, Sample]]],
    metrics: Sequence[SeedMetric],
    *,
    baseline: Setting | None,
    xlabel: str,
    level: float,
    name: str,
) -> Figure | None:
    """Every metric of `metrics` per setting (`stats`: each setting with its samples by metric
    key), `xlabel` naming what tells them apart (None when no setting has a value of any
    metric)."""
    shown = [m for m in metrics if any(samples[m.key].n for _, samples in stats)]
    if not shown:
        return None
    ncols = min(3, len(shown))
    nrows = math.ceil(len(shown) / ncols)
    xs = list(range(len(stats)))
    ticks = [_short(setting.short) for setting, _ in stats]
    rotate = 30 if len(stats) > 3 or any(len(t) > 8 for t in ticks) else 0
    with DefaultStyle():
        fig = new_figure(max(7.5, 3.4 * ncols), 2.9 * nrows + 0.6)
        axes = fig.subplots(nrows, ncols, squeeze=False)
        for index, metric in enumerate(shown):
            ax = axes[index // ncols][index % ncols]
            for x, (setting, samples) in zip(xs, stats, strict=True):
                s = samples[metric.key]
                if s.mean is None:
                    continue
                color = "C1" if baseline and setting.key == baseline.key else "C0"
                count = len(s.values)
                offsets = [
                    DOT_SPREAD * (2 * i / (count - 1) - 1) if count > 1 else 0.0
                    for i in range(count)
                ]
                ax.scatter(
                    [x + o for o in offsets], s.values, s=9, color="0.6", zorder=2, linewidths=0
                )
                if s.low is not None and s.high is not None:
                    err = [[s.mean - s.low], [s.high - s.mean]]
                    ax.errorbar([x], [s.mean], yerr=err, fmt="o", color=color, capsize=4, zorder=3)
                else:
                    ax.plot([x], [s.mean], "o", color=color, zorder=3)
            ax.set_title(f"{metric.header} {metric.arrow}")
            ax.set_xticks(xs, ticks, rotation=rotate, ha="right" if rotate else "center")
            ax.set_xlim(-0.6, len(xs) - 0.4)
            ax.grid(True, axis="y", alpha=0.3)
            if xlabel:
                ax.set_xlabel(_short(xlabel, 60))
        for index in range(len(shown), nrows * ncols):
            axes[index // ncols][index % ncols].set_visible(False)
        png = png_bytes(fig)
    return Figure(
        name=name,
        title=(
            f"Each metric per setting: the mean with its {percent(level)} bootstrap interval "
            "(bar; the baseline's in orange) and every run's value (grey dots); ↑ higher is "
            "better, ↓ lower is better, ↕ neither"
        ),
        png=png,
    )
