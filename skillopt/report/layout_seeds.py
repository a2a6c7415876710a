"""The statistics across seeds in the document: how the settings were formed, a table of every
setting's statistics per metric, their figure, and the paired comparisons with the baseline on
the chosen metric (report.json holds them for every metric)."""

from __future__ import annotations

from skillopt.report.across_seeds import PairedComparison, SeedsPart
from skillopt.report.document import (
    Block,
    Cell,
    Code,
    Column,
    Paragraph,
    Row,
    Section,
    Spans,
    Table,
)
from skillopt.report.grouping import Setting
from skillopt.report.layout_runs import joined
from skillopt.report.stats import BOOTSTRAP_METHOD, MIN_PAIRS, RESAMPLES, Sample
from skillopt.report.text import MISSING, fmt_number, fmt_p, percent, plural, signed


def seeds_section(part: SeedsPart, *, title: str, prefix: str) -> Section:
    """The part's section; `prefix` makes its anchors unique (`train-` for the training part)."""
    blocks: list[Block] = [_intro(part), _settings_table(part, anchor=f"{prefix}settings-table")]
    blocks.append(_legend(part))
    if part.plot is not None:
        blocks.append(part.plot)
    blocks.append(_comparisons(part, anchor=f"{prefix}comparisons-table"))
    return Section(title=title, level=2, anchor=f"{prefix}seeds", blocks=tuple(blocks))


def _codes(names: tuple[str, ...], empty: str) -> Spans:
    """`a`, `b` as code, or `empty` when there are no names."""
    return joined([(Code(n),) for n in names], ", ") if names else (empty,)


def _intro(part: SeedsPart) -> Paragraph:
    grouping = part.grouping
    used = sum(len(s.runs) for s in grouping.settings)
    return Paragraph(
        spans=(
            "Runs that differ only in their seeds form one setting: "
            f"{plural(len(grouping.settings), 'setting')} from {plural(used, 'run')}, told apart "
            "by ",
            *_codes(grouping.params, "nothing (one setting)"),
            ". Seed keys: ",
            *_codes(grouping.seed_keys, "none"),
            "; a run's seed is its value of ",
            *_codes(grouping.varying_seeds, "none (no seed varies)"),
            ".",
        )
    )


def cell_text(s: Sample) -> str:
    """`0.75 ± 0.1 [0.6, 0.9]`: mean ± standard deviation [interval]; `—` where undefined."""
    if s.mean is None:
        return MISSING
    return f"{fmt_number(s.mean)} ± {fmt_number(s.sd)} [{fmt_number(s.low)}, {fmt_number(s.high)}]"


def _param_cells(setting: Setting, params: tuple[str, ...]) -> list[Cell]:
    cells = []
    for name in params:
        value = setting.params.get(name)
        cells.append(Cell(text=MISSING if value is None else value, missing=value is None))
    return cells


def _settings_table(part: SeedsPart, *, anchor: str) -> Table:
    params = part.grouping.params
    columns = [
        Column(header="setting", key="setting", code=True),
        *(Column(header=name, key=f"params.{name}") for name in params),
        Column(header="seeds", key="seeds"),
        Column(header="n", key="n", numeric=True),
        *(Column(header=f"{m.header} {m.arrow}", key=m.key, numeric=True) for m in part.metrics),
    ]
    rows = []
    baseline = part.baseline.key if part.baseline else None
    for stats in part.stats:
        setting = stats.setting
        cells = [Cell(text=setting.key), *_param_cells(setting, params)]
        cells += [Cell(text=", ".join(setting.seeds)), Cell(text=str(len(setting.runs)))]
        for metric in part.metrics:
            s = stats.samples[metric.key]
            sort = repr(s.mean) if s.mean is not None else None
            cells.append(Cell(text=cell_text(s), sort=sort, missing=s.mean is None))
        kind = "baseline" if setting.key == baseline else None
        rows.append(Row(cells=tuple(cells), kind=kind))
    return Table(
        columns=tuple(columns),
        rows=tuple(rows),
        notes=part.notes,
        sortable=True,
        anchor=anchor,
        kind="seeds",
    )


def _legend(part: SeedsPart) -> Paragraph:
    return Paragraph(
        spans=(
            f"Each cell: mean ± standard deviation [{percent(part.level)} interval of the mean] "
            f"over the setting's runs; {MISSING} where undefined (one run has no standard "
            f"deviation or interval). Intervals: bootstrap, {BOOTSTRAP_METHOD}, {RESAMPLES} "
            "resamples, fixed random state. ↑ higher is better, ↓ lower is better, ↕ neither. "
            "n: the setting's runs.",
        ),
        muted=True,
    )


def _per_seed(comparison: PairedComparison) -> str:
    values = comparison.test.differences.values
    return "; ".join(
        f"{seed}: {signed(d)}" for seed, d in zip(comparison.seeds, values, strict=True)
    )


def _comparison_row(comparison: PairedComparison, params: tuple[str, ...]) -> Row:
    d = comparison.test.differences
    interval = MISSING if d.low is None else f"[{signed(d.low)}, {signed(d.high)}]"
    verdict = comparison.verdict
    cells = (
        Cell(text=comparison.setting.key),
        *_param_cells(comparison.setting, params),
        Cell(text=str(comparison.test.pairs)),
        Cell(text=_per_seed(comparison) or MISSING, missing=not d.values),
        Cell(text=signed(d.mean), missing=d.mean is None),
        Cell(text=interval, missing=d.low is None),
        Cell(text=fmt_p(comparison.test.wilcoxon_p)),
        Cell(text=verdict),
    )
    return Row(cells=cells, kind=verdict if verdict in ("better", "worse") else None)


def _comparisons(part: SeedsPart, *, anchor: str) -> Section:
    metric, level = part.metric, percent(part.level)
    title = f"Paired comparisons: {metric.header} ({metric.direction})"
    chosen = part.chosen()
    if part.baseline is None or not chosen:
        why = "there is only one setting" if part.baseline else "no setting has a value"
        return Section(
            title=title,
            level=3,
            blocks=(Paragraph(spans=(f"Nothing to compare: {why}.",)),),
        )
    which = "named by --baseline" if part.baseline_asked else "the best setting"
    intro = Paragraph(
        spans=(
            f"Each setting against {part.baseline.label} (",
            Code(part.baseline.key),
            f", {which}), on the seeds both ran: differences are setting − baseline. "
            f"Verdict at {level}: better or worse when the whole {level} interval of the mean "
            f"difference is on one side of 0, no evidence when it holds 0, too few pairs with "
            f"fewer than {MIN_PAIRS} shared seeds (never a guess). The Wilcoxon signed-rank p "
            "(exact, zero differences dropped) is shown for reference: with 4 pairs it cannot "
            "go below 0.125. Choose the metric with --metric, the baseline with --baseline.",
        )
    )
    params = part.grouping.params
    columns = (
        Column(header="setting", key="setting", code=True),
        *(Column(header=name, key=f"params.{name}") for name in params),
        Column(header="pairs", key="pairs", numeric=True),
        Column(header="difference per seed", key="differences"),
        Column(header="mean difference", key="diff_mean", numeric=True),
        Column(header=f"{level} interval", key="interval"),
        Column(header="Wilcoxon p", key="wilcoxon_p", numeric=True),
        Column(header="verdict", key="verdict"),
    )
    table = Table(
        columns=columns,
        rows=tuple(_comparison_row(c, params) for c in chosen),
        anchor=anchor,
        kind="comparisons",
    )
    return Section(title=title, level=3, blocks=(intro, table))
