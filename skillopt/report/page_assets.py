"""What `report.html` carries inline besides the report: its Content-Security-Policy, its
stylesheet, and its two scripts (a render self-check and click-to-sort for sortable tables).

The page loads nothing from anywhere, so it looks the same offline, attached to an MLflow run
or mailed around. The self-check, once the page has loaded, writes into `#render-check` how
many images decoded and any script error (the browser test reads it).
"""

CSP = (
    "default-src 'none'; img-src data:; style-src 'unsafe-inline'; script-src 'unsafe-inline'; "
    "base-uri 'none'; form-action 'none'"
)

STYLE = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2rem auto;
  max-width: 1400px; padding: 0 1rem; color: #1b1f23; }
h1, h2, h3, h4 { line-height: 1.2; }
h2 { border-bottom: 1px solid #d0d7de; padding-bottom: .2em; margin-top: 2em; }
code, pre { font: 12px/1.4 ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace; }
pre { background: #f6f8fa; padding: .6em .8em; overflow-x: auto; border-radius: 4px; }
table { border-collapse: collapse; margin: .6em 0; }
th, td { border: 1px solid #d0d7de; padding: .25em .6em; vertical-align: top; }
th { background: #f6f8fa; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
table.sortable th { cursor: pointer; user-select: none; }
table.sortable th[aria-sort="ascending"]::after { content: " ▲"; }
table.sortable th[aria-sort="descending"]::after { content: " ▼"; }
td.gap { color: #8c959f; }
tr.same td, tr.accepted td { background: #f0fff4; }
tr.rejected td { background: #fff5f5; }
tr.better td { background: #f0fff4; } tr.worse td { background: #fff5f5; }
tr.baseline td { font-weight: 600; }
tr.skipped td { color: #8c959f; }
.muted, .generated { color: #57606a; }
figure { margin: 1em 0; }
figure img { max-width: 100%; height: auto; border: 1px solid #d0d7de; }
.compare td { width: 48%; }
.ok { color: #1a7f37; } .bad { color: #cf222e; }
"""

# Registered first, so errors in any later script are counted.
CHECK_SCRIPT = """
(function () {
  var errors = [];
  window.addEventListener("error", function (event) {
    errors.push(String(event.message || event.type));
  });
  window.addEventListener("load", function () {
    var images = Array.prototype.slice.call(document.images);
    var ok = images.filter(function (img) { return img.complete && img.naturalWidth > 0; });
    var check = document.getElementById("render-check");
    check.setAttribute("data-images", String(images.length));
    check.setAttribute("data-images-ok", String(ok.length));
    check.setAttribute("data-errors", String(errors.length));
    check.textContent = (ok.length === images.length && errors.length === 0 ? "images-ok " : "images-bad ")
      + ok.length + "/" + images.length + (errors.length ? " errors: " + errors.join("; ") : "");
  });
})();
"""

SORT_SCRIPT = """
(function () {
  function key(cell, numeric) {
    var raw = cell.getAttribute("data-sort");
    if (numeric) { return raw === "" ? null : parseFloat(raw); }
    return raw;
  }
  Array.prototype.forEach.call(document.querySelectorAll("table.sortable"), function (table) {
    var heads = table.tHead.rows[0].cells;
    Array.prototype.forEach.call(heads, function (th, col) {
      function sort() {
        var ascending = th.getAttribute("aria-sort") !== "ascending";
        Array.prototype.forEach.call(heads, function (h) { h.removeAttribute("aria-sort"); });
        th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
        var numeric = th.getAttribute("data-type") === "number";
        var body = table.tBodies[0];
        var rows = Array.prototype.slice.call(body.rows);
        rows.sort(function (a, b) {
          var x = key(a.cells[col], numeric), y = key(b.cells[col], numeric);
          if (x === null || y === null) { return (x === null) - (y === null); }
          var order = numeric ? x - y : x.localeCompare(y);
          return ascending ? order : -order;
        });
        rows.forEach(function (row) { body.appendChild(row); });
      }
      th.addEventListener("click", sort);
      th.addEventListener("keydown", function (event) {
        if (event.key === "Enter" || event.key === " ") { event.preventDefault(); sort(); }
      });
    });
  });
})();
"""
