"""Write a report folder: `report.md`, `report.html`, `report.json` and `plots/*.png`.

The only line that differs between two writes of the same content is the generated-at line of
`report.md` and `report.html`; `report.json` and the PNGs are identical bytes.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from skillopt.report.document import PLOTS_DIR, Document
from skillopt.report.render_html import render_html
from skillopt.report.render_md import render_markdown

REPORT_FILES = ("report.md", "report.html", "report.json")


def _write(path: Path, data: bytes) -> None:
    """Replace `path` atomically, with the usual permissions (a report is meant to be shared)."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    tmp.replace(path)


def utc_now() -> str:
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def write_report(
    document: Document, data: dict[str, Any], out: Path, *, generated_at: str | None = None
) -> Path:
    """Write `document` (with its figures) and `data` (as report.json) into `out` (created if
    needed) and return the path of `report.html`.

    PNGs under `out/plots/` that this report does not show (left by an earlier report into the
    same folder) are removed, so the folder holds exactly one report."""
    stamp = generated_at or utc_now()
    plots = out / PLOTS_DIR
    plots.mkdir(parents=True, exist_ok=True)
    figures = document.figures()
    names = {figure.name for figure in figures}
    for stale in plots.glob("*.png"):
        if stale.name not in names:
            stale.unlink()
    for figure in figures:
        _write(plots / figure.name, figure.png)
    _write(out / "report.md", render_markdown(document, generated_at=stamp).encode("utf-8"))
    _write(out / "report.html", render_html(document, generated_at=stamp).encode("utf-8"))
    text = json.dumps(data, indent=2, ensure_ascii=False, sort_keys=True) + "\n"
    _write(out / "report.json", text.encode("utf-8"))
    return out / "report.html"
