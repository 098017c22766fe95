"""Look at pages the way a person does: on the real clock, then label them by eye.

For each page: load it in Chromium on the *real* clock (no virtual time, no
seeded random: what a person opening the file sees), with CDN libraries
answered from npm (as a person online would get them) and every other request
refused; take screenshots at 0.5, 1.5, 1.58, 3, 3.9 and 5 real seconds, then
send the input the page's task implies and take two more. The off-grid times
matter: a shaft spinning at 2000 rpm turns a whole number of times in 1.5 s and
looks still in frames taken at round times; 80 ms apart it does not. On a page too
heavy for this machine's software WebGL that is not enough (see ``NEXT_FRAME_AT``), so
two of the shots are followed by one at the next drawn frame. The frames are written side
by side as one contact sheet per page (``<out>/<id>.png``), with the console
errors and a few facts in ``<out>/<id>.json``. The sheets are what the labels
of the real-page corpus (``benchmarks/corpus/real/``) were decided from.

It is also the *naive detector* that ``verdict_truth.py`` compares gallery
with: a page "runs and animates" when its 1.5 s and 3 s real-time frames are
not one colour and differ (``naive``, in the JSON).

    python benchmarks/look.py PAGE.html [...] --out DIR [--input click|key:ArrowUp|drag|none]
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gallery.render import images  # noqa: E402
from gallery.render.browser import find_chromium, launch_args  # noqa: E402
from gallery.render.libs import LibCache, LibError, is_cdn_url  # noqa: E402

ORIGIN = "https://look.gallery.test"
TIMES = (0.5, 1.5, 1.58, 3.0, 3.9, 5.0)
#: After these shots, one more at the page's next drawn frame. A heavy page draws a few
#: frames a second here, and one that caps its time step (``Math.min(dt, 0.05)``) turns
#: a spinning shaft by a fixed angle a frame: shots a whole number of its periods apart
#: show the same picture however far apart in seconds (a gearbox at 2000 rpm, 5 frames
#: a second: 1.67 turns a frame, the same picture every third frame). Two frames in a
#: row are never a period apart.
NEXT_FRAME_AT = (1.5, 3.0)
NEXT_FRAME = "new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))"
VIEWPORT = (1280, 720)
THUMB = 420


async def _route(route: Any, page_file: Path, libs: LibCache, log: dict[str, Any]) -> None:
    url = route.request.url
    if url.startswith(ORIGIN + "/"):
        rel = unquote(urlsplit(url).path).lstrip("/")
        if rel in ("", "index.html"):
            await route.fulfill(body=page_file.read_bytes(), content_type="text/html")
            return
        target = (page_file.parent / rel).resolve()
        if target.is_relative_to(page_file.parent.resolve()) and target.is_file():
            await route.fulfill(path=str(target))
            return
        log["missing"].append(rel[:200])
        await route.fulfill(status=404, body="not found")
        return
    if is_cdn_url(url):
        try:
            lib = await asyncio.to_thread(libs.fetch_url, url)
        except LibError as exc:
            log["blocked"].append(f"{url[:200]} ({exc})")
        else:
            await route.fulfill(
                body=lib.body,
                content_type=lib.content_type,
                headers={"access-control-allow-origin": "*"},
            )
            return
    else:
        log["blocked"].append(url[:200])
    await route.abort()


async def _send(page: Any, how: str) -> None:
    w, h = VIEWPORT
    if how.startswith("key:"):
        key = how[4:]
        await page.keyboard.down(key)
        await asyncio.sleep(0.6)
        await page.keyboard.up(key)
    elif how == "click":
        for x, y in ((w // 2, h // 2), (w // 3, h // 2), (2 * w // 3, h // 3)):
            await page.mouse.click(x, y)
            await asyncio.sleep(0.15)
    elif how == "drag":
        await page.mouse.move(w // 5, h * 2 // 3)
        await page.mouse.down()
        await page.mouse.move(w // 10, h * 3 // 4, steps=10)
        await page.mouse.up()


async def look(browser: Any, page_file: Path, how: str, libs: LibCache) -> dict[str, Any]:
    """Frames of one page on the real clock; returns the record (frames as PNG bytes)."""
    log: dict[str, Any] = {"console": [], "errors": [], "missing": [], "blocked": []}
    ctx = await browser.new_context(
        viewport={"width": VIEWPORT[0], "height": VIEWPORT[1]}, service_workers="block"
    )
    await ctx.route("**/*", lambda r: _route(r, page_file, libs, log))
    page = await ctx.new_page()
    page.on(
        "console",
        lambda m: log["console"].append(m.text[:300]) if m.type == "error" else None,
    )
    page.on("pageerror", lambda e: log["errors"].append(str(e)[:300]))
    page.on("dialog", lambda d: asyncio.ensure_future(d.dismiss()))
    frames: list[tuple[str, bytes]] = []
    try:
        start = time.monotonic()
        await page.goto(ORIGIN + "/index.html", wait_until="load", timeout=20000)
        for t in TIMES:
            await asyncio.sleep(max(0.0, start + t - time.monotonic()))
            frames.append((f"{t:.2f}s", await page.screenshot(timeout=10000)))
            if t in NEXT_FRAME_AT:
                try:  # a page that never draws again (or stubs rAF) just has no such shot
                    await asyncio.wait_for(page.evaluate(NEXT_FRAME), timeout=5)
                except TimeoutError:
                    continue
                frames.append((f"{t:.2f}s + 1 frame", await page.screenshot(timeout=10000)))
        if how != "none":
            await _send(page, how)
            frames.append((f"after {how}", await page.screenshot(timeout=10000)))
            await asyncio.sleep(1.0)
            frames.append((f"{how} +1s", await page.screenshot(timeout=10000)))
        log["title"] = (await page.title())[:200]
        log["text"] = (await page.evaluate("document.body ? document.body.innerText : ''"))[:600]
    except Exception as exc:  # noqa: BLE001 - a page that cannot be looked at says why
        log["look_error"] = str(exc).splitlines()[0][:300]
    finally:
        await ctx.close()
    by = dict(frames)
    if "1.50s" in by and "3.00s" in by:
        a, b = images.load(by["1.50s"]), images.load(by["3.00s"])
        content = max(images.content_fraction(a), images.content_fraction(b))
        motion = images.diff_ratio(a, b)
        log["naive"] = {
            "content": round(content, 5),
            "motion": round(motion, 5),
            "runs_and_animates": content >= 0.0001 and motion >= 0.0002,
        }
    # motion between any two frames before the input, at full size (for the labeller)
    still = [images.load(data) for caption, data in frames if caption[0].isdigit()]
    log["max_motion"] = round(
        max((images.diff_ratio(a, b) for a, b in zip(still, still[1:], strict=False)), default=0.0),
        5,
    )
    log["frames"] = frames
    return log


def contact_sheet(frames: list[tuple[str, bytes]], title: str) -> bytes:
    """The frames in a row of two lines, each captioned, under a title."""
    thumbs = []
    for caption, data in frames:
        img = Image.open(io.BytesIO(data)).convert("RGB")
        img = img.resize((THUMB, THUMB * img.height // img.width))
        thumbs.append((caption, img))
    cols = 3
    rows = max(1, (len(thumbs) + cols - 1) // cols)
    th = thumbs[0][1].height if thumbs else 236
    sheet = Image.new("RGB", (cols * (THUMB + 8) + 8, 30 + rows * (th + 26)), (90, 90, 90))
    draw = ImageDraw.Draw(sheet)
    draw.text((8, 8), title[:150], fill=(255, 255, 255))
    for i, (caption, img) in enumerate(thumbs):
        x, y = 8 + (i % cols) * (THUMB + 8), 30 + (i // cols) * (th + 26)
        draw.text((x, y), caption, fill=(255, 255, 0))
        sheet.paste(img, (x, y + 14))
    out = io.BytesIO()
    sheet.save(out, "PNG")
    return out.getvalue()


async def main_async(files: list[Path], out: Path, how: str, inputs: dict[str, str]) -> None:
    from playwright.async_api import async_playwright

    out.mkdir(parents=True, exist_ok=True)
    libs = LibCache()
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(
            executable_path=str(find_chromium().path), args=launch_args()
        )
        for f in files:
            page_how = inputs.get(f.stem, how)
            rec = await look(browser, f, page_how, libs)
            frames = rec.pop("frames")
            if frames:
                (out / f"{f.stem}.png").write_bytes(
                    contact_sheet(frames, f"{f.stem}  (input: {page_how})")
                )
            (out / f"{f.stem}.json").write_text(json.dumps(rec, indent=1))
            print(f"{f.stem}: {len(frames)} frames {rec.get('naive', rec.get('look_error'))}")
        await browser.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("files", nargs="+", type=Path)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--input", default="none", help="click | drag | key:NAME | none")
    ap.add_argument(
        "--inputs", type=Path, help="JSON {page stem: input} overriding --input per page"
    )
    args = ap.parse_args()
    inputs = json.loads(args.inputs.read_text()) if args.inputs else {}
    asyncio.run(main_async(args.files, args.out, args.input, inputs))


if __name__ == "__main__":
    main()
