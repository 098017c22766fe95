/* gallery — filters for the grid and sorting for the leaderboard. No framework. */
(function () {
  "use strict";

  function words(el, name) {
    var v = el.getAttribute(name);
    return v ? v.split(" ") : [];
  }

  /* --- grid filters: model hides columns, prompt hides rows, check dims cells --- */
  var form = document.getElementById("filters");
  var matrix = document.getElementById("matrix");
  if (form && matrix) {
    var selects = form.querySelectorAll("select[data-filter]");

    var apply = function () {
      var want = {};
      selects.forEach(function (s) { want[s.getAttribute("data-filter")] = s.value; });
      var lanes = 0;
      matrix.querySelectorAll(".mhead [data-model]").forEach(function (h) {
        var show = !want.model || h.getAttribute("data-model") === want.model;
        h.hidden = !show;
        if (show) lanes += 1;
      });
      matrix.style.setProperty("--lanes", String(lanes));
      var shown = 0, total = 0;
      matrix.querySelectorAll(".mrow[data-prompt]").forEach(function (row) {
        var rowShown = !want.prompt || row.getAttribute("data-prompt") === want.prompt;
        row.hidden = !rowShown;
        row.querySelectorAll(".cell").forEach(function (cell) {
          var inLane = !want.model || cell.getAttribute("data-model") === want.model;
          cell.hidden = !inLane;
          var match = true;
          if (want.check) {
            var parts = want.check.split(":");
            var state = parts[0], name = parts.slice(1).join(":");
            if (name === "*") {
              match = cell.getAttribute("data-passed") === (state === "pass" ? "yes" : "no");
            } else {
              match = words(cell, "data-" + state).indexOf(name) !== -1;
            }
          }
          cell.classList.toggle("dim", !match);
          if (rowShown && inLane && !cell.classList.contains("empty")) {
            total += 1;
            if (match) shown += 1;
          }
        });
      });
      var out = document.getElementById("shown");
      if (out) out.textContent = shown + " of " + total + " shown";
      var q = [];
      Object.keys(want).forEach(function (k) { if (want[k]) q.push(k + "=" + encodeURIComponent(want[k])); });
      if (window.history && history.replaceState) {
        history.replaceState(null, "", q.length ? "#" + q.join("&") : location.pathname + location.search);
      }
    };

    /* restore filters from the address (#model=..&prompt=..&check=..) */
    if (location.hash.length > 1 && location.hash.indexOf("=") !== -1) {
      location.hash.slice(1).split("&").forEach(function (pair) {
        var kv = pair.split("=");
        var sel = form.querySelector('select[data-filter="' + kv[0] + '"]');
        if (sel) {
          var value = decodeURIComponent(kv[1] || "");
          if (Array.prototype.some.call(sel.options, function (o) { return o.value === value; })) sel.value = value;
        }
      });
    }
    selects.forEach(function (s) { s.addEventListener("change", apply); });
    form.addEventListener("submit", function (e) { e.preventDefault(); });
    apply();
  }

  /* --- live preview: lay the page out at the recorded viewport, scaled to fit --- */
  document.querySelectorAll(".stage[data-w]").forEach(function (stage) {
    var w = Number(stage.getAttribute("data-w")), h = Number(stage.getAttribute("data-h"));
    var frame = stage.querySelector("iframe");
    if (!frame || !w || !h) return;
    var fit = function () {
      /* as wide as the column allows, at most 75% of the window's height, never enlarged */
      var room = stage.parentNode.clientWidth;
      var scale = Math.min(1, room / w, (window.innerHeight * 0.75) / h);
      frame.style.width = w + "px";
      frame.style.height = h + "px";
      frame.style.transform = "scale(" + scale + ")";
      stage.style.width = Math.floor(w * scale) + "px";
      stage.style.height = Math.floor(h * scale) + "px";
    };
    stage.classList.add("scaled");
    fit();
    window.addEventListener("resize", fit);
  });

  /* --- sortable tables: click a header; numbers sort numerically, missing last --- */
  document.querySelectorAll("table.sortable").forEach(function (table) {
    var heads = table.querySelectorAll("thead th");
    heads.forEach(function (th, col) {
      var button = th.querySelector("button");
      if (!button) return;
      button.addEventListener("click", function () {
        var numeric = th.getAttribute("data-type") === "num";
        var now = th.getAttribute("aria-sort");
        /* first click: biggest first for numbers, A-Z for names and ranks; then toggle */
        var desc = now ? now === "ascending" : numeric && col !== 0;
        heads.forEach(function (h) { h.removeAttribute("aria-sort"); });
        th.setAttribute("aria-sort", desc ? "descending" : "ascending");
        var body = table.querySelector("tbody.ranked");
        if (!body) return;
        var rows = Array.prototype.slice.call(body.querySelectorAll("tr[data-model]"));
        var key = function (row) {
          var cell = row.children[col];
          var v = cell ? cell.getAttribute("data-v") : "";
          if (!numeric) return (v || "").toLowerCase();
          return v === "" || v === null ? null : parseFloat(v);
        };
        rows.sort(function (a, b) {
          var x = key(a), y = key(b);
          if (x === y) return 0;
          if (x === null) return 1;
          if (y === null) return -1;
          return (x < y ? -1 : 1) * (desc ? -1 : 1);
        });
        rows.forEach(function (r) { body.appendChild(r); });
      });
    });
  });
})();
