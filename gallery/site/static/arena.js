/* The arena: fetch a pair (gallery serve's /api/pair, else pick one from arena.json),
   show both pages with their lanes hidden, send the vote (or keep it in this browser). */
(function () {
  "use strict";
  var root = document.getElementById("arena");
  if (!root) return;
  var base = root.getAttribute("data-root");
  var status = document.getElementById("arena-status");
  var refs = document.getElementById("arena-refs");
  var next = document.getElementById("arena-next");
  var download = document.getElementById("arena-download");
  var buttons = root.querySelectorAll("button[data-winner]");
  var data = null, pair = null, voted = false;
  var KEY = "gallery-votes";

  function stored() {
    try { return JSON.parse(localStorage.getItem(KEY) || "[]"); } catch (e) { return []; }
  }
  function offerDownload() {
    var votes = stored();
    if (!votes.length) { download.hidden = true; return; }
    var lines = votes.map(function (v) { return JSON.stringify(v); }).join("\n") + "\n";
    download.href = URL.createObjectURL(new Blob([lines], { type: "application/x-ndjson" }));
    download.textContent = votes.length + " vote(s) kept in this browser: download them";
    download.hidden = false;
  }
  function pick(items) { return items[Math.floor(Math.random() * items.length)]; }
  function localPair() {
    /* fewest votes between two lanes first (counted in this browser), then the closest ratings */
    var seen = {}, best = null;
    stored().forEach(function (v) {
      var k = [v.a.model, v.b.model].sort().join("\u0000");
      seen[k] = (seen[k] || 0) + 1;
    });
    Object.keys(data.samples).forEach(function (prompt) {
      var lanes = Object.keys(data.samples[prompt]).filter(function (l) {
        return refs.checked || !data.lanes[l].reference;
      }).sort();
      for (var i = 0; i < lanes.length; i++) for (var j = i + 1; j < lanes.length; j++) {
        var k = lanes[i] + "\u0000" + lanes[j];
        var gap = Math.abs((data.ratings[lanes[i]] || 1000) - (data.ratings[lanes[j]] || 1000));
        var score = [seen[k] || 0, gap, Math.random()];
        if (!best || score[0] < best.score[0] || (score[0] === best.score[0] &&
            (score[1] < best.score[1] || (score[1] === best.score[1] && score[2] < best.score[2])))) {
          best = { score: score, prompt: prompt, x: lanes[i], y: lanes[j] };
        }
      }
    });
    if (!best) return null;
    var flip = Math.random() < 0.5, l = flip ? best.y : best.x, r = flip ? best.x : best.y;
    return {
      run: data.run, prompt: best.prompt,
      a: { model: l, sample: pick(data.samples[best.prompt][l]) },
      b: { model: r, sample: pick(data.samples[best.prompt][r]) }
    };
  }
  function show(p) {
    pair = p; voted = false;
    next.hidden = true;
    buttons.forEach(function (b) { b.disabled = !p; });
    ["left", "right"].forEach(function (side) {
      var name = document.getElementById("arena-" + side + "-name");
      name.hidden = true; name.textContent = "";
      var frame = document.getElementById("arena-" + side + "-frame");
      if (!p) { frame.removeAttribute("src"); return; }
      var s = side === "left" ? p.a : p.b;
      frame.src = base + "s/" + encodeURIComponent(p.prompt) + "/" + encodeURIComponent(s.model) +
        "/" + s.sample + "/artifact/index.html";
    });
    if (!p) {
      status.textContent = "No pair to vote on: this run needs two lanes with pages for one prompt" +
        (refs.checked ? "." : " (tick the box below to vote against the hand-written references).");
      return;
    }
    var prompt = data.prompts[p.prompt] || { title: p.prompt, text: "" };
    document.getElementById("arena-title").textContent = prompt.title;
    document.getElementById("arena-text").textContent = prompt.text;
    status.textContent = "";
  }
  function load() {
    fetch("/api/pair" + (refs.checked ? "?refs=1" : ""), { cache: "no-store" })
      .then(function (r) {
        if (r.ok) return r.json();
        /* 404 with a reason from gallery serve: no pair; anything else: a static host */
        return r.status === 404 && (r.headers.get("content-type") || "").indexOf("json") >= 0
          ? null : Promise.reject(r.status);
      })
      .then(show, function () { show(localPair()); });
  }
  function reveal(text) {
    ["left", "right"].forEach(function (side) {
      var s = side === "left" ? pair.a : pair.b;
      var name = document.getElementById("arena-" + side + "-name");
      name.textContent = "— " + ((data.lanes[s.model] || {}).display || s.model) + " #" + s.sample;
      name.hidden = false;
    });
    status.textContent = text;
    buttons.forEach(function (b) { b.disabled = true; });
    next.hidden = false;
    next.focus();
  }
  function uuid() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    return "v" + Date.now().toString(36) + Math.random().toString(36).slice(2);
  }
  buttons.forEach(function (button) {
    button.addEventListener("click", function () {
      if (!pair || voted) return;
      voted = true;
      var w = button.getAttribute("data-winner");
      var vote = { prompt: pair.prompt, a: pair.a, b: pair.b, run: pair.run || data.run, id: uuid(),
                   winner: w === "left" ? "a" : w === "right" ? "b" : w };
      fetch("/api/votes", { method: "POST", headers: { "Content-Type": "application/json" },
                            body: JSON.stringify(vote) })
        .then(function (r) {
          if (r.ok) { reveal("Vote recorded."); return; }
          if (r.status === 400 || r.status === 413) {
            return r.json().then(function (e) { voted = false; status.textContent = "Not recorded: " + e.error; });
          }
          return Promise.reject(r.status);
        })
        .catch(function () {
          /* a static host: keep the vote here, to download and import */
          var votes = stored(); votes.push(vote);
          try { localStorage.setItem(KEY, JSON.stringify(votes)); } catch (e) {}
          offerDownload();
          reveal("Kept in this browser (no vote server here).");
        });
    });
  });
  next.addEventListener("click", load);
  refs.addEventListener("change", load);
  fetch(base + "arena.json", { cache: "no-store" })
    .then(function (r) { return r.json(); })
    .then(function (d) { data = d; offerDownload(); load(); },
          function () { status.textContent = "arena.json is missing: rebuild the site."; });
})();
