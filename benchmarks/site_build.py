"""Site build: 1,000 synthetic samples from scratch, again unchanged, and after one change.

    .venv/bin/python benchmarks/site_build.py [--samples 1000] [--page-size reference|fixture]
        [--json benchmarks/results/site_build.json]

The synthetic run has 20 prompts x 10 models x 5 samples, written with the
store's own layout: a reply (the page in a fenced block, usage, timing, cost),
the artifact, three PNG shots, an animated WebP preview, an observation and a
verdict, like a rendered sample. Every artifact is distinct: a labelled
fixture page (``--page-size fixture``, 1-3 KB) or one of the hand-written
reference pages (``reference``, 14-28 KB, the size of real model-written pages)
with the sample's key written into it.

Timed, each in a fresh process state as far as the builder is concerned (the
only state kept between builds is what ``build_site`` keeps in the site folder
and the store's highlight cache):

0. for reference, a full build with nothing highlighted yet (pygments runs on
   every page during the build, as for samples rendered by an older gallery),
   then the highlighting that ``gallery render`` does as it renders each page
   (``highlight.warm``), timed on its own;
1. full build into an empty folder;
2. rebuild with nothing changed;
3. rebuild after one sample changed (its verdict flipped and its page edited;
   not rendered again, so the build highlights that page itself).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gallery.catalogue.config import load_config  # noqa: E402
from gallery.catalogue.prompts import load_catalogue  # noqa: E402
from gallery.records.store import SampleKey, Store  # noqa: E402
from gallery.render.highlight import cache_for_run, warm  # noqa: E402
from gallery.site.build import build_site  # noqa: E402

PROMPTS, MODELS = 20, 10


def _png(color: tuple[int, int, int], t: float) -> bytes:
    img = Image.new("RGB", (320, 180), color)
    x = int(20 + 250 * (t % 1))
    ImageDraw.Draw(img).ellipse((x, 60, x + 40, 100), fill=(255, 210, 100))
    out = io.BytesIO()
    img.save(out, "PNG")
    return out.getvalue()


def _webp(color: tuple[int, int, int]) -> bytes:
    frames = [Image.open(io.BytesIO(_png(color, t / 6))) for t in range(6)]
    out = io.BytesIO()
    frames[0].save(out, "WEBP", save_all=True, append_images=frames[1:], duration=200, loop=0)
    return out.getvalue()


def make_gallery(base: Path, n: int, page_size: str) -> tuple:
    prompts_dir = base / "prompts"
    prompts_dir.mkdir(parents=True)
    for p in range(PROMPTS):
        (prompts_dir / f"demo-{p:02d}.toml").write_text(
            f'id = "demo-{p:02d}"\ntitle = "Demo {p}"\nprompt = "Write demo number {p}."\n'
            '[[checks]]\nkind = "runs"\n[[checks]]\nkind = "animates"\n'
            '[[checks]]\nkind = "accessible"\nrequired = false\n'
        )
    config_text = "[defaults]\nmodels = [" + ", ".join(f'"m{m}"' for m in range(MODELS)) + "]\n"
    for m in range(MODELS):
        config_text += (
            f'[models.m{m}]\nbase_url = "https://api.example.test/v1"\nmodel = "vendor/m{m}"\n'
        )
    (base / "gallery.toml").write_text(config_text)
    if page_size == "reference":
        pages = [p.read_text() for p in sorted((ROOT / "prompts").glob("*.reference.html"))]
    else:
        pages = [p.read_text() for p in sorted((ROOT / "tests/fixtures/pages").glob("*.html"))]
    run = Store(base / "outputs").new_run("20250101-000000")
    samples_per = max(1, n // (PROMPTS * MODELS))
    run.save_manifest(
        {
            "id": run.id,
            "started_at": "2025-01-01T00:00:00+00:00",
            "status": "generated",
            "models": [{"name": f"m{m}", "model_id": f"vendor/m{m}"} for m in range(MODELS)],
            "prompts": [f"demo-{p:02d}" for p in range(PROMPTS)],
            "samples": samples_per,
        }
    )
    colors = [(29, 53, 87), (42, 157, 143), (231, 111, 81), (109, 89, 122), (38, 70, 83)]
    shots = {c: [_png(c, t) for t in (0.5, 2.0, 5.0)] for c in colors}
    previews = {c: _webp(c) for c in colors}
    count = 0
    for p in range(PROMPTS):
        for m in range(MODELS):
            for i in range(1, samples_per + 1):
                if count >= n:
                    break
                count += 1
                key = SampleKey(f"demo-{p:02d}", f"m{m}", i)
                _write_sample(run, key, pages[count % len(pages)], shots, previews, colors, count)
    catalogue = load_catalogue(prompts_dir)
    config = load_config(base / "gallery.toml")
    return run, catalogue, config, count


def _write_sample(run, key, page, shots, previews, colors, count) -> None:
    page = page.replace("<head>", f"<head><!-- {key.label} -->", 1)
    color = colors[count % len(colors)]
    passed = count % 3 != 0
    reply = {
        "status": "ok",
        "prompt": key.prompt,
        "model": key.model,
        "sample": key.index,
        "text": f"Here is the page for {key.label}.\n\n```html\n{page}\n```\n",
        "usage": {"prompt_tokens": 120, "completion_tokens": 3000 + count, "total_tokens": 3120},
        "timing": {"ttft_s": 0.8, "latency_s": 30.0 + count % 17, "tokens_per_s": 90.0},
        "finish_reason": "stop",
        "cost": {"usd": 0.001 * (count % 7), "complete": True},
        "extract": {"status": "ok", "reason": None, "notes": [], "files": ["index.html"]},
    }
    checks = [
        {"name": "runs", "kind": "runs", "passed": True, "required": True, "detail": "loaded"},
        {
            "name": "animates",
            "kind": "animates",
            "passed": passed,
            "required": True,
            "detail": "motion" if passed else "no motion",
        },
        {
            "name": "accessible",
            "kind": "accessible",
            "passed": False,
            "required": False,
            "detail": "1 serious",
        },
    ]
    verdict = {"passed": passed, "score": round((1 + passed) / 3, 4), "checks": checks}
    obs = {
        "status": "ok",
        "mode": "full",
        "console": [{"type": "log", "text": f"hello {count}", "t": 0.1}],
        "errors": [],
        "requests": {"artifact": ["index.html"], "cdn": [], "missing": [], "blocked": []},
        "frames": [{"t": 0.5 + k * 0.4, "diff": 0.01 * k} for k in range(11)],
        "motion": 0.1,
        "content": [0.3, 0.3, 0.3],
        "colors": 12,
    }
    sample = run.write_sample(
        key, {"reply.json": json.dumps(reply, indent=2), "artifact/index.html": page}
    )
    tmp = sample.path / ".shots-bench"
    tmp.mkdir()
    for t, body in zip((0.5, 2.0, 5.0), shots[color], strict=True):
        (tmp / f"{t:06.2f}s.png").write_bytes(body)
    sample.write_render(
        {
            "observation.json": json.dumps(obs).encode(),
            "preview.webp": previews[color],
            "verdict.json": json.dumps(verdict).encode(),
        },
        shots_dir=tmp,
    )


def timed(label: str, fn) -> tuple[float, object]:
    t0 = time.perf_counter()
    report = fn()
    wall = time.perf_counter() - t0
    print(f"{label:28} {wall:7.2f}s  {report.summary()}")
    return wall, report


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=1000)
    ap.add_argument("--page-size", choices=("reference", "fixture"), default="reference")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="gallery-site-bench-") as tmp:
        base = Path(tmp)
        t0 = time.perf_counter()
        run, catalogue, config, n = make_gallery(base, args.samples, args.page_size)
        print(f"{n} synthetic samples written in {time.perf_counter() - t0:.1f}s")
        # With nothing highlighted yet (samples rendered by an older gallery, or
        # imported as rendered): the build runs pygments on every page itself.
        cold, _ = timed(
            "full build, cold highlighting",
            lambda: build_site(
                run, catalogue, config, base / "site-cold", highlight_cache=base / "cold-cache"
            ),
        )
        # What the render stage does as each page is rendered (beside Chromium's work).
        t0 = time.perf_counter()
        for s in run.samples():
            warm(s.path, s.reply, cache_for_run(run))
        warming = time.perf_counter() - t0
        print(
            f"{'highlighting at render time':28} {warming:7.2f}s  ({warming / n * 1000:.1f} ms a sample)"
        )
        site = base / "site"
        full, rep_full = timed("full build", lambda: build_site(run, catalogue, config, site))
        noop, rep_noop = timed(
            "rebuild, nothing changed", lambda: build_site(run, catalogue, config, site)
        )
        # one sample changes: its page is edited and its verdict flips
        sample = next(s for s in run.samples() if s.key.index == 1)
        page = sample.artifact / "index.html"
        page.write_text(page.read_text().replace("<head>", "<head><!-- edited -->", 1))
        verdict = json.loads((sample.path / "verdict.json").read_text())
        verdict["passed"] = not verdict["passed"]
        (sample.path / "verdict.json").write_text(json.dumps(verdict))
        one, rep_one = timed(
            "rebuild, one sample changed", lambda: build_site(run, catalogue, config, site)
        )
        files = sum(len(fs) for _, _, fs in os.walk(site))
    result = {
        "samples": n,
        "page_size": args.page_size,
        "site_files": files,
        "full_build_s": round(full, 3),
        "full_build_cold_highlighting_s": round(cold, 3),
        "highlighting_at_render_s": round(warming, 3),
        "highlighting_per_sample_ms": round(warming / n * 1000, 1),
        "noop_rebuild_s": round(noop, 3),
        "one_changed_rebuild_s": round(one, 3),
        "one_changed_written": rep_one.written,
    }
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
