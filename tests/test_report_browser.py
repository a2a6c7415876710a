"""`report.html` in a real browser: headless Chromium (Debian package `chromium`; `.ci/run`
installs it) renders the page, its images decode, its scripts run without an error, nothing
is written to the console, and clicking a header sorts the runs table.

Chromium logs every console message (any level, uncaught errors and Content-Security-Policy
violations included) to stderr as `...:INFO:CONSOLE:<line>] "<message>", source: ...` when
started with `--enable-logging=stderr`; the page itself writes nothing to the console, so any
such line is a failure.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import matplotlib.image
import mlflow
import pytest

from skillopt.cli.report import main
from tests.cli_helpers import run_sweep

pytestmark = pytest.mark.slow

CONSOLE_LINE = re.compile(r":CONSOLE[:(]")


def chromium() -> str:
    path = shutil.which("chromium")
    if path is None:
        message = "chromium is not installed (Debian: apt-get install chromium; .ci/run does it)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return path


def browse(page: Path, profile: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    """Headless Chromium on `page` with no network features; stdout, stderr as text."""
    return subprocess.run(
        [
            chromium(),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={profile}",
            "--enable-logging=stderr",
            "--v=0",
            *extra,
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=180,
    )


@pytest.fixture(scope="module")
def page(tmp_path_factory) -> Path:
    chromium()  # skip (or, in CI, fail) before building the sweep
    cwd = tmp_path_factory.mktemp("report-browser")
    run = run_sweep(
        cwd, "tracking=local", "reflect.minibatch_size=4,8", "reflect.update_mode=patch"
    )
    assert run.returncode == 0, run.output
    store = f"sqlite:///{cwd / 'mlflow.db'}"
    client = mlflow.MlflowClient(store)
    exp = client.get_experiment_by_name("skillopt-reflect")
    ids = [r.info.run_id for r in client.search_runs([exp.experiment_id]) if r.data.params]
    out = cwd / "report"
    args = ["--tracking-uri", store, "--out", str(out), "--sweep", "sweep", "--compare", *ids]
    assert main(args) == 0
    return out / "report.html"


def console_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if CONSOLE_LINE.search(line)]


def test_page_renders_with_its_images_and_no_console_output(page, tmp_path):
    html = page.read_text()
    images = html.count("<img ")
    assert images == 2  # metrics vs minibatch size, tokens and cost
    proc = browse(page, tmp_path / "profile", "--dump-dom")
    assert proc.returncode == 0, proc.stderr[-2000:]
    dom = proc.stdout
    assert console_lines(proc.stderr) == []
    assert '<table class="sortable" id="runs-table">' in dom
    assert dom.count('<tr data-run-id="') == 2
    check = re.search(r'<div id="render-check"[^>]*>([^<]*)</div>', dom)
    assert check is not None, dom[-2000:]
    assert check.group(1) == f"images-ok {images}/{images}"
    assert f'data-images-ok="{images}"' in check.group(0) and 'data-errors="0"' in check.group(0)


def test_screenshot_is_not_blank(page, tmp_path):
    shot = tmp_path / "shot.png"
    proc = browse(page, tmp_path / "profile", f"--screenshot={shot}", "--window-size=1280,2000")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert console_lines(proc.stderr) == []
    assert shot.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    image = matplotlib.image.imread(shot)
    assert image.shape[:2] == (2000, 1280)
    assert image.std() > 0.05  # text, tables and plots, not an empty page
    assert len({tuple(px) for px in image[::16, ::16, :3].reshape(-1, 3).tolist()}) > 20


def test_clicking_a_header_sorts_the_runs_table(page, tmp_path):
    """The shipped sort script, driven by clicks: tokens ascending, then descending."""
    probe = """
<script>
window.addEventListener("load", function () {
  var head = document.querySelector('#runs-table th[data-key="tokens"]');
  var order = function () {
    return Array.prototype.map.call(
      document.querySelectorAll("#runs-table tbody tr"),
      function (row) { return row.getAttribute("data-run-id"); }).join(",");
  };
  head.click();
  var up = order();
  head.click();
  var out = document.createElement("div");
  out.id = "sort-probe";
  out.textContent = up + "|" + order() + "|" + head.getAttribute("aria-sort");
  document.body.appendChild(out);
});
</script>
"""
    copy = tmp_path / "probe.html"
    copy.write_text(page.read_text().replace("</body>", probe + "</body>"))
    proc = browse(copy, tmp_path / "profile", "--dump-dom")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert console_lines(proc.stderr) == []
    found = re.search(r'<div id="sort-probe">([^<]*)</div>', proc.stdout)
    assert found is not None
    up, down, state = found.group(1).split("|")
    rows = json.loads((page.parent / "report.json").read_text())["table"]["rows"]
    by_tokens = [r["run_id"] for r in sorted(rows, key=lambda r: r["tokens"])]
    assert up.split(",") == by_tokens
    assert down.split(",") == by_tokens[::-1]
    assert state == "descending"
