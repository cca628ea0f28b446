/* Charts, comment table, filters and CSV export for the complaintml report.
   Everything taken from the data reaches the page through textContent or createTextNode,
   never innerHTML, so comment text is always shown as text. */
(function () {
  "use strict";
  var DATA = JSON.parse(document.getElementById("report-data").textContent);
  var PAGE = 100;  // rows drawn at a time; a long table slows the page down for nothing

  // ---- charts ------------------------------------------------------------------------
  function drawCharts() {
    if (!window.Plotly) return;
    Object.keys(DATA.figures).forEach(function (id) {
      var el = document.getElementById(id);
      var fig = DATA.figures[id];
      if (el) Plotly.newPlot(el, fig.data, fig.layout, DATA.plotConfig);
    });
  }

  // ---- comment table -----------------------------------------------------------------
  var T = DATA.table;
  var ROWS = T.rows.map(function (r) {
    var o = {};
    T.fields.forEach(function (f, i) { o[f] = r[i]; });
    o.text = o.parts.join("");
    o.lower = o.text.toLowerCase() + " " + String(o.id).toLowerCase();
    return o;
  });
  var $ = function (id) { return document.getElementById(id); };
  var tbody = document.querySelector("#comment-table tbody");
  var countEl = $("table-count");
  var moreBtn = $("show-more");
  var segSelects = Array.prototype.slice.call(document.querySelectorAll("select[data-segment]"));
  var matching = [];
  var shown = 0;

  function value(id) { var el = $(id); return el ? el.value : ""; }
  function checked(id) { var el = $(id); return !!(el && el.checked); }

  function currentFilter() {
    return {
      words: value("f-search").toLowerCase().split(/\s+/).filter(Boolean),
      label: value("f-label"),
      polarity: value("f-polarity"),
      segments: segSelects.map(function (s) { return s.value; }),
      from: value("f-from"),
      to: value("f-to"),
      review: checked("f-review"),
      alert: checked("f-alert")
    };
  }

  function matches(r, f) {
    for (var i = 0; i < f.words.length; i++) if (r.lower.indexOf(f.words[i]) < 0) return false;
    if (f.label !== "" && r.labels.indexOf(Number(f.label)) < 0) return false;
    if (f.polarity && r.polarity !== f.polarity) return false;
    for (var j = 0; j < f.segments.length; j++) if (f.segments[j] && r.segments[j] !== f.segments[j]) return false;
    if (f.from && (!r.date || r.date < f.from)) return false;
    if (f.to && (!r.date || r.date > f.to)) return false;
    if (f.review && !r.review) return false;
    if (f.alert && !r.alert) return false;
    return true;
  }

  function cell(tr, text, cls) {
    var td = document.createElement("td");
    td.textContent = text;
    if (cls) td.className = cls;
    tr.appendChild(td);
    return td;
  }

  function labelsOf(r, head) {
    return r.labels.filter(function (k) { return T.labels[k].head === head; })
      .map(function (k) { return T.labels[k].display; });
  }

  function rowElement(r) {
    var tr = document.createElement("tr");
    if (T.hasId) cell(tr, r.id, "nowrap");
    if (T.hasDate) cell(tr, r.date, "nowrap");
    r.segments.forEach(function (s) { cell(tr, s); });
    if (T.hasPolarity) cell(tr, r.polarity);
    T.heads.forEach(function (h) { cell(tr, labelsOf(r, h.index).join(", ")); });
    var td = cell(tr, "", "text");
    if (r.alert) badge(td, "alert", "Alert" + (r.reason ? ": " + r.reason : ""));
    if (r.review) badge(td, "review", "Needs review");
    r.parts.forEach(function (part, i) {
      if (i % 2) { var m = document.createElement("mark"); m.textContent = part; td.appendChild(m); }
      else if (part) td.appendChild(document.createTextNode(part));
    });
    return tr;
  }

  function badge(td, kind, text) {
    var b = document.createElement("span");
    b.className = "badge " + kind;
    b.textContent = text;
    td.appendChild(b);
  }

  function drawMore() {
    var frag = document.createDocumentFragment();
    var end = Math.min(matching.length, shown + PAGE);
    for (var i = shown; i < end; i++) frag.appendChild(rowElement(matching[i]));
    tbody.appendChild(frag);
    shown = end;
    moreBtn.hidden = shown >= matching.length;
    moreBtn.textContent = "Show " + Math.min(PAGE, matching.length - shown) + " more";
    var n = matching.length.toLocaleString("en-GB");
    var of = ROWS.length === T.total ? "" : " in this table of " + ROWS.length.toLocaleString("en-GB");
    countEl.textContent = (matching.length === 1 ? "1 comment matches" : n + " comments match") + of +
      (shown < matching.length ? " (showing the first " + shown.toLocaleString("en-GB") + ")" : "") + ".";
    countEl.setAttribute("data-count", String(matching.length));
    countEl.setAttribute("data-shown", String(shown));
  }

  function apply() {
    var f = currentFilter();
    matching = ROWS.filter(function (r) { return matches(r, f); });
    tbody.textContent = "";
    shown = 0;
    drawMore();
  }

  // ---- CSV export ----------------------------------------------------------------------
  function csvCell(v) {
    var s = v === null || v === undefined ? "" : String(v);
    // A leading = + - @ would make a spreadsheet run the cell as a formula.
    if (/^[=+\-@\t\r]/.test(s)) s = "'" + s;
    return /[",\r\n]/.test(s) ? '"' + s.replace(/"/g, '""') + '"' : s;
  }

  function exportCsv() {
    var header = ["id", "date"].concat(T.segmentColumns, ["polarity"],
      T.heads.map(function (h) { return h.column; }), ["needs_review", "alert", "alert_reason", "text"]);
    var lines = [header.map(csvCell).join(",")];
    matching.forEach(function (r) {
      var heads = T.heads.map(function (h) {
        return r.labels.filter(function (k) { return T.labels[k].head === h.index; })
          .map(function (k) { return T.labels[k].name; }).join(";");
      });
      lines.push([r.id, r.date].concat(r.segments, [r.polarity], heads,
        [r.review ? "true" : "false", r.alert ? "true" : "false", r.reason, r.text]).map(csvCell).join(","));
    });
    // The BOM makes Excel read the file as UTF-8.
    var blob = new Blob(["\ufeff" + lines.join("\r\n") + "\r\n"], { type: "text/csv;charset=utf-8" });
    var a = document.createElement("a");
    a.href = URL.createObjectURL(blob);
    a.download = "comments.csv";
    document.body.appendChild(a);
    a.click();
    setTimeout(function () { URL.revokeObjectURL(a.href); a.remove(); }, 1000);
  }

  function reset() {
    document.querySelectorAll("form.filters input, form.filters select").forEach(function (el) {
      if (el.type === "checkbox") el.checked = false; else el.value = "";
    });
    apply();
  }

  function goToTable() {
    apply();
    var target = $("comments");
    if (target) { target.scrollIntoView(); $("f-search").focus({ preventScroll: true }); }
  }

  // ---- wiring ----------------------------------------------------------------------------
  var timer = null;
  $("f-search").addEventListener("input", function () { clearTimeout(timer); timer = setTimeout(apply, 150); });
  document.querySelectorAll("form.filters select, form.filters input[type=date], form.filters input[type=checkbox]")
    .forEach(function (el) { el.addEventListener("change", apply); });
  $("f-reset").addEventListener("click", reset);
  $("f-export").addEventListener("click", exportCsv);
  moreBtn.addEventListener("click", drawMore);
  document.querySelectorAll("[data-filter-label]").forEach(function (btn) {
    btn.addEventListener("click", function () {
      var key = btn.getAttribute("data-filter-label");
      var idx = T.labels.findIndex(function (l) { return l.key === key; });
      reset();
      $("f-label").value = String(idx);
      goToTable();
    });
  });
  document.querySelectorAll("[data-show-review]").forEach(function (btn) {
    btn.addEventListener("click", function () { reset(); $("f-review").checked = true; goToTable(); });
  });

  apply();
  drawCharts();
})();
