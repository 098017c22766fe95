"""The built site in a real Chromium (pytest-playwright), served on localhost.

Click through, crawl every local link and image, check that the live preview
is sandboxed (a page inside it cannot read ``parent.document``), and run
axe-core on the site's own pages in light and dark.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect
from test_site import make_run

from gallery.site.build import build_site
from gallery.site.serve import make_server

REFS_JS = """({html, base}) => {
  const doc = new DOMParser().parseFromString(html, "text/html");
  const sel = "a[href], img[src], link[href], script[src], iframe[src]";
  return [...doc.querySelectorAll(sel)].map(e =>
    [e.tagName, new URL(e.getAttribute("href") ?? e.getAttribute("src"), base).href]);
}"""
AXE_PAGES = ("index.html", "p/bounce.html", "s/bounce/model-a/1/index.html", "arena.html")


@pytest.fixture(scope="module")
def site_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    base = tmp_path_factory.mktemp("browser-site")
    run, catalogue, config = make_run(base)
    site = base / "site"
    build_site(run, catalogue, config, site)
    server = make_server(site, 0)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
    )
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def errors(page: Page) -> list[str]:
    """Console errors and uncaught exceptions of every page and frame the test opens."""
    seen: list[str] = []
    page.on("console", lambda m: seen.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: seen.append(str(e)))
    return seen


def test_click_index_prompt_sample_and_back(page: Page, site_url: str, errors: list[str]) -> None:
    page.goto(site_url + "index.html")
    expect(page.locator("h1")).to_have_text("One-shot demos, side by side")
    page.get_by_role("link", name="Ball in a spinning hexagon").first.click()
    expect(page).to_have_url(re.compile(r"/p/bounce\.html$"))
    expect(page.locator("h1")).to_have_text("Ball in a spinning hexagon")
    page.locator(".lane", has_text="model-a").get_by_role(
        "link", name="Sample 3", exact=True
    ).click()
    expect(page).to_have_url(re.compile(r"/s/bounce/model-a/3/index\.html$"))
    page.get_by_role("link", name="Next →").click()
    expect(page).to_have_url(re.compile(r"/s/bounce/model-b/1/index\.html$"))
    page.get_by_role("link", name="Back to prompt").click()
    expect(page).to_have_url(re.compile(r"/p/bounce\.html$"))
    page.get_by_role("link", name="Gallery").first.click()
    expect(page).to_have_url(re.compile(r"/index\.html$"))
    page.go_back()
    expect(page).to_have_url(re.compile(r"/p/bounce\.html$"))
    assert errors == []


def test_filters_and_sorting(page: Page, site_url: str, errors: list[str]) -> None:
    page.goto(site_url + "index.html")
    cells = page.locator(".mrow[data-prompt] .cell")
    expect(cells.filter(visible=True)).to_have_count(6)
    page.locator("select[data-filter=model]").select_option("model-a")
    expect(cells.filter(visible=True)).to_have_count(2)
    expect(page.locator("#shown")).to_have_text("2 of 2 shown")
    page.locator("select[data-filter=check]").select_option("fail:animates")
    expect(page.locator("#shown")).to_have_text("1 of 2 shown")
    page.reload()  # filters live in the address
    expect(page.locator("select[data-filter=model]")).to_have_value("model-a")
    expect(page.locator("#shown")).to_have_text("1 of 2 shown")
    page.locator("select[data-filter=model]").select_option("")
    page.locator("select[data-filter=prompt]").select_option("clock")
    page.locator("select[data-filter=check]").select_option("")
    expect(cells.filter(visible=True)).to_have_count(3)

    rows = page.locator("#board tbody.ranked tr")
    expect(rows.first).to_have_attribute("data-model", "model-a")
    page.get_by_role("button", name="pass@1").click()  # first click: lowest last
    expect(rows.first).to_have_attribute("data-model", "model-a")
    page.get_by_role("button", name="pass@1").click()
    expect(rows.first).to_have_attribute("data-model", "model-b")
    expect(page.locator("#board tbody.refs tr[data-model]")).to_have_count(1)
    assert errors == []


def test_crawl_finds_no_broken_links(page: Page, site_url: str) -> None:
    """Every href/src on every page of the site, resolved by the browser, answers 200.

    Pages are parsed with the browser's DOMParser rather than rendered, so the crawl
    does not start every sample's live preview.
    """
    page.goto(site_url + "index.html", wait_until="domcontentloaded")
    todo, pages, checked, broken = [site_url + "index.html"], set(), set(), []
    while todo:
        url = todo.pop()
        if url in pages:
            continue
        pages.add(url)
        refs = page.evaluate(REFS_JS, {"html": page.request.get(url).text(), "base": url})
        for tag, ref in refs:
            ref = ref.split("#")[0]
            assert ref.startswith(site_url), f"{url}: {tag} leaves the site: {ref}"
            if ref in checked:
                continue
            checked.add(ref)
            response = page.request.get(ref)
            if not response.ok:
                broken.append((url, ref, response.status))
            elif tag == "IMG":
                assert response.headers["content-type"].startswith("image/"), ref
            elif tag == "A" and ref.endswith(".html") and "/artifact/" not in ref:
                todo.append(ref)
    assert broken == []
    assert len(pages) == 1 + 1 + 1 + 2 + 12  # index, run, arena, prompts, samples
    assert len(checked) > 60


def test_preview_is_sandboxed(page: Page, site_url: str, errors: list[str]) -> None:
    page.goto(site_url + "s/bounce/model-a/1/index.html")
    frame = page.locator(".stage iframe")
    expect(frame).to_have_attribute("sandbox", "allow-scripts")
    assert "allow-same-origin" not in (frame.get_attribute("sandbox") or "")
    probe = page.frame_locator(".stage iframe").locator("#probe")
    expect(probe).to_have_text(re.compile(r"^blocked: "))
    assert "LEAK" not in probe.inner_text()
    assert errors == []


@pytest.fixture(scope="module")
def axe_source() -> str:
    from gallery.render.libs import LibCache, LibRef

    try:
        return LibCache().resolve(LibRef("axe-core", "4", "axe.min.js")).body.decode()
    except Exception as exc:  # noqa: BLE001 - any failure means axe is unavailable here
        pytest.skip(f"axe-core unavailable (npm registry unreachable and not cached): {exc}")


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_axe_finds_no_serious_violations(
    page: Page, site_url: str, axe_source: str, scheme: str
) -> None:
    page.emulate_media(color_scheme=scheme)
    found = {}
    for rel in AXE_PAGES:
        page.goto(site_url + rel)
        page.add_script_tag(content=axe_source)
        result = page.evaluate(
            "() => axe.run(document, {iframes: false, resultTypes: ['violations']})"
        )
        bad = [
            f"{v['id']} ({v['impact']}): {v['nodes'][0]['target']}"
            for v in result["violations"]
            if v["impact"] in ("serious", "critical")
        ]
        if bad:
            found[rel] = bad
    assert found == {}
