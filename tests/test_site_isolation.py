"""A model-written page on the built site cannot read the gallery's DOM, cookies or storage.

The site is built from a run with one sample whose page is a spy: from inside
its live-preview iframe it tries the gallery's DOM (``parent``/``top``), cookies,
``localStorage``, ``sessionStorage``, IndexedDB, CacheStorage and the opener,
tries to write a cookie, to navigate the top page, and writes everything it got
into its own DOM. The gallery origin holds a secret in each of those places
first. In a real Chromium (pytest-playwright), the spy must report nothing but
refusals, and the gallery's own state must be unchanged.

The same spy opened on its own (a reader's "open frame in new tab") is served
by ``gallery serve`` with a sandbox CSP, so it gets an opaque origin there too.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect

from gallery.catalogue.prompts import parse_prompt
from gallery.generate.imported import import_pages
from gallery.records.store import Store
from gallery.site.build import build_site
from gallery.site.serve import make_server

SECRETS = ("c00kie-s3cret", "l0cal-s3cret", "sess10n-s3cret", "1db-s3cret", "cache-s3cret")
PROBES = ("parent.document", "top.document", "document.cookie", "write cookie", "localStorage",
          "sessionStorage", "indexedDB", "indexedDB.databases", "caches", "opener",
          "top.location", "navigate top")  # fmt: skip

SPY = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>spy</title></head>
<body><h1>spy</h1><pre id="probe"></pre>
<script>
const out = document.getElementById('probe');
const lines = [];
function note(what, got) { lines.push(what + ': ' + got); out.textContent = lines.join('\\n'); }
function attempt(what, read) {
  try {
    const got = read();
    note(what, got === undefined || got === null || got === '' ? 'refused (empty)' : 'LEAK ' + String(got).slice(0, 300));
  } catch (e) { note(what, 'refused (' + e.name + ')'); }
}
async function attemptAsync(what, read) {
  try {
    const got = await read();
    note(what, got === undefined || got === null || got === '' || (Array.isArray(got) && !got.length)
      ? 'refused (empty)' : 'LEAK ' + JSON.stringify(got).slice(0, 300));
  } catch (e) { note(what, 'refused (' + e.name + ')'); }
}
attempt('parent.document', () => window.parent === window ? null : parent.document.body.innerHTML);
attempt('top.document', () => window.top === window ? null : top.document.documentElement.outerHTML);
attempt('document.cookie', () => document.cookie);
attempt('write cookie', () => { document.cookie = 'spy=planted; path=/'; return document.cookie; });
attempt('localStorage', () => JSON.stringify(Object.fromEntries(Object.entries(localStorage))).replace('{}', ''));
attempt('sessionStorage', () => JSON.stringify(Object.fromEntries(Object.entries(sessionStorage))).replace('{}', ''));
attempt('opener', () => window.opener && window.opener.document.body.innerHTML);
attempt('top.location', () => window.top === window ? null : top.location.href);
attempt('navigate top', () => { if (window.top !== window) top.location.href = 'about:blank#spied'; return null; });
(async () => {
  await attemptAsync('indexedDB', () => new Promise((ok, no) => {
    const req = indexedDB.open('gallery-secret-db');
    req.onerror = () => no(req.error || new Error('error'));
    req.onsuccess = () => {
      const db = req.result;
      if (!db.objectStoreNames.contains('kv')) { ok(null); return; }
      const get = db.transaction('kv').objectStore('kv').get('secret');
      get.onsuccess = () => ok(get.result); get.onerror = () => no(get.error);
    };
  }));
  await attemptAsync('indexedDB.databases', () => indexedDB.databases());
  await attemptAsync('caches', async () => {
    const names = await caches.keys();
    const found = [];
    for (const n of names) for (const r of await (await caches.open(n)).keys()) found.push(r.url);
    return found;
  });
  note('done', 'yes');
})();
</script></body></html>
"""

#: On the gallery origin, before the spy runs: a secret in every place it will look.
PLANT = """async () => {
  document.cookie = 'gallery_secret=c00kie-s3cret; path=/';
  localStorage.setItem('gallery-secret', 'l0cal-s3cret');
  sessionStorage.setItem('gallery-secret', 'sess10n-s3cret');
  await new Promise((ok, no) => {
    const req = indexedDB.open('gallery-secret-db', 1);
    req.onupgradeneeded = () => req.result.createObjectStore('kv');
    req.onerror = () => no(req.error);
    req.onsuccess = () => {
      const tx = req.result.transaction('kv', 'readwrite');
      tx.objectStore('kv').put('1db-s3cret', 'secret');
      tx.oncomplete = () => ok(); tx.onerror = () => no(tx.error);
    };
  });
  const cache = await caches.open('gallery-secret-cache');
  await cache.put('/cache-s3cret', new Response('cache-s3cret'));
  return document.cookie;
}"""

STATE = """async () => ({
  cookie: document.cookie,
  local: localStorage.getItem('gallery-secret'),
  idb: (await indexedDB.databases()).map(d => d.name),
})"""


@pytest.fixture(scope="module")
def site_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    base = tmp_path_factory.mktemp("isolation")
    (base / "spy.html").write_text(SPY)
    prompt = parse_prompt({"id": "spy", "title": "Spy", "prompt": "x"}, base / "spy.toml")
    run = Store(base / "outputs").new_run("isolation")
    import_pages(run, [base / "spy.html"], prompt, "chat")
    build_site(run, {"spy": prompt}, None, base / "site")
    server = make_server(base / "site", 0)
    threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
    ).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def spy_report(frame) -> dict[str, str]:
    probe = frame.locator("#probe")
    expect(probe).to_contain_text("done: yes", timeout=20_000)
    return dict(line.split(": ", 1) for line in probe.inner_text().splitlines())


def check_refused(report: dict[str, str]) -> None:
    text = "\n".join(f"{k}: {v}" for k, v in report.items())
    for secret in SECRETS:
        assert secret not in text, text
    assert "LEAK" not in text, text
    assert set(PROBES) <= set(report), text  # every probe ran and said something


def test_preview_iframe_gets_nothing_from_the_gallery(page: Page, site_url: str) -> None:
    page.goto(site_url + "index.html")
    assert "c00kie-s3cret" in page.evaluate(PLANT)
    sample = site_url + "s/spy/chat/1/index.html"
    page.goto(sample)
    frame = page.frame_locator(".stage iframe")
    check_refused(spy_report(frame))
    # the gallery page is where it was, and its state is as it was
    page.wait_for_timeout(300)
    assert page.url == sample
    expect(page.locator("h1").first).to_be_visible()
    state = page.evaluate(STATE)
    assert state["cookie"] == "gallery_secret=c00kie-s3cret"  # no "spy=planted"
    assert state["local"] == "l0cal-s3cret"
    assert "gallery-secret-db" in state["idb"]


def test_spy_opened_on_its_own_still_gets_nothing(page: Page, site_url: str) -> None:
    """ "Open frame in new tab": ``gallery serve`` sends the artifact with a sandbox CSP."""
    page.goto(site_url + "index.html")
    page.evaluate(PLANT)
    response = page.goto(site_url + "s/spy/chat/1/artifact/index.html")
    assert "sandbox" in (response.headers.get("content-security-policy") or "")
    check_refused(spy_report(page))
    page.goto(site_url + "index.html")
    assert page.evaluate(STATE)["cookie"] == "gallery_secret=c00kie-s3cret"
