"""Two runs' patches side by side, minibatch by minibatch (`skillopt-report --compare A B`)."""

from __future__ import annotations

from dataclasses import dataclass

from skillopt.report.errors import ReportError
from skillopt.report.tables import item_text
from skillopt.tracking.records import RunRecord


@dataclass(frozen=True, kw_only=True)
class MinibatchPair:
    """One minibatch of the comparison. left/right: the items each run proposed for it, as
    lines; None when that run has no patch for it. identical: both patch files are the same
    bytes."""

    minibatch: str
    left: list[str] | None
    right: list[str] | None
    identical: bool

    @property
    def rows(self) -> list[tuple[str | None, str | None]]:
        """The items paired by position (None where one side has fewer)."""
        left, right = self.left or [], self.right or []
        return [
            (left[i] if i < len(left) else None, right[i] if i < len(right) else None)
            for i in range(max(len(left), len(right)))
        ]


@dataclass(frozen=True, kw_only=True)
class Comparison:
    left: RunRecord
    right: RunRecord
    pairs: list[MinibatchPair]

    @property
    def identical(self) -> int:
        return sum(p.identical for p in self.pairs)


def pick(ref: str, runs: tuple[RunRecord, ...]) -> RunRecord | None:
    """The run whose id is `ref` or starts with it; None if no run matches; a ReportError if
    the prefix is ambiguous."""
    exact = [r for r in runs if r.run_id == ref]
    if exact:
        return exact[0]
    matches = [r for r in runs if r.run_id.startswith(ref)]
    if len(matches) > 1:
        ids = ", ".join(r.run_id for r in matches)
        raise ReportError(f"--compare: {ref!r} matches several runs ({ids}); give more of the id")
    return matches[0] if matches else None


def compare(left: RunRecord, right: RunRecord) -> Comparison:
    """Pair the two runs' patches by minibatch name (sorted)."""
    lefts = {p.minibatch: p for p in left.patches}
    rights = {p.minibatch: p for p in right.patches}
    pairs = []
    for name in sorted(set(lefts) | set(rights)):
        a, b = lefts.get(name), rights.get(name)
        pairs.append(
            MinibatchPair(
                minibatch=name,
                left=None if a is None else [item_text(a.payload_key, i) for i in a.items],
                right=None if b is None else [item_text(b.payload_key, i) for i in b.items],
                identical=a is not None and b is not None and a.text == b.text,
            )
        )
    return Comparison(left=left, right=right, pairs=pairs)
