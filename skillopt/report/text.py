"""How the report writes numbers and short texts: one place for `—`, digits and cut lines."""

from __future__ import annotations

MISSING = "—"  # a value the run did not log
NOT_APPLICABLE = "n/a"  # a statistic that is undefined here (a p-value with no non-zero difference)
ITEM_MAX_CHARS = 240


def fmt_number(value: float | None) -> str:
    """Integers without a decimal point, other numbers to 4 significant digits (from 1000 on,
    to the nearest whole number rather than in exponent form), None as `—`."""
    if value is None:
        return MISSING
    if float(value).is_integer():
        return str(int(value))
    if abs(value) >= 1000:
        return f"{value:.0f}"
    return f"{value:.4g}"


def signed(value: float | None) -> str:
    """`+0.1`, `-0.05`, `0`; `—` for None."""
    if value is None:
        return MISSING
    return ("+" if value > 0 else "") + fmt_number(value)


def fmt_p(p: float | None) -> str:
    """A p-value: `0.125`, `< 0.0001`; `n/a` for None (undefined)."""
    if p is None:
        return NOT_APPLICABLE
    return "< 0.0001" if p < 0.0001 else fmt_number(p)


def percent(level: float) -> str:
    """`95%` for 0.95."""
    return f"{level * 100:g}%"


def one_line(text: str, limit: int = ITEM_MAX_CHARS) -> str:
    """`text` on one line (whitespace collapsed), cut to `limit` characters with `…`."""
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def mark(verified: bool | None) -> str:
    """✓, ✗, or `—` for a run whose replay was never verified."""
    return MISSING if verified is None else ("✓" if verified else "✗")


def plural(count: int, noun: str) -> str:
    """`1 run`, `2 runs`."""
    return f"{count} {noun}{'s' if count != 1 else ''}"
