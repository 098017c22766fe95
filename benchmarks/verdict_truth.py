"""How far gallery's verdicts agree with a person's eye, on real model-written pages.

    .venv/bin/python benchmarks/verdict_truth.py [--split tune|held-out|fresh|all] [--repeat N]
        [--concurrency 2] [--keep DIR] [--json FILE] [--rescore RUN...]

Renders every page of the labelled real-page corpus (``real_corpus.py``; fetch
the pages first) with the render stage (``render_run``, as ``gallery render``
does), each page under a prompt with the checks a demo prompt would ask for:
``runs``, ``animates`` (required when the page is meant to move on its own),
``interactive`` for the input its task implies, ``clean-console``. Then it
prints agreement with the labels per check and for ``runs ∧ animates`` (a page
*works*: it runs, and moves when it is meant to), the confusion matrix, every
disagreement with gallery's reason and the person's note, and the time taken —
for the tune split and the held-out split apart: the engine is tuned on the
first; the second is the figure that says how it does on pages nobody tuned it
on. Agreement on ``works`` is also given for the pages whose label the person
was sure of (``certain``): a miss there is the engine's, where an unsure label
may be either's. ``--repeat N`` renders the corpus N times and checks that every page gets
the same verdicts and the same pixels each time (where not, how many pixels differ and by
how many levels); ``--rescore RUN...`` does the same on runs kept with ``--keep``.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import real_corpus  # noqa: E402
from real_corpus import RealPage  # noqa: E402

from gallery.catalogue.prompts import Prompt, parse_prompt  # noqa: E402
from gallery.records.store import SampleKey, Store  # noqa: E402
from gallery.render.browser import chromium_version, find_chromium  # noqa: E402
from gallery.render.stage import render_run  # noqa: E402

LANE = "real"


def prompt_for(page: RealPage) -> Prompt:
    checks: list[dict[str, Any]] = [
        {"kind": "runs"},
        {"kind": "animates", "required": page.label.meant_to_animate},
        {"kind": "clean-console", "required": False},
    ]
    interact = page.interact()
    if interact:
        checks.append({"kind": "interactive", "required": False})
    data = {"id": page.id, "title": page.id, "prompt": page.prompt or page.id, "checks": checks}
    if interact:
        data["interact"] = interact
    return parse_prompt(data, Path(f"{page.id}.toml"))


def read_run(run: Any) -> dict[str, Any]:
    """Verdicts, observations and shots of a rendered run, by page id."""
    results = {}
    for sample in run.samples():
        shots = sample.path / "shots"
        results[sample.key.prompt] = {
            "verdict": sample.verdict,
            "obs": sample.observation or {},
            "shots": {p.name: p.read_bytes() for p in sorted(shots.glob("*.png"))}
            if shots.is_dir()
            else {},
        }
    return results


def render(pages: list[RealPage], out: Path, concurrency: int) -> tuple[dict[str, Any], float]:
    """Render every page once into a fresh run under ``out``; verdicts and shots by id."""
    store = Store(out)
    run = store.new_run()
    catalogue = {}
    for page in pages:
        catalogue[page.id] = prompt_for(page)
        reply = {"status": "ok", "text": "", "source": page.path, "imported": True}
        run.write_sample(
            SampleKey(page.id, LANE, 1),
            {"reply.json": json.dumps(reply), "artifact/index.html": page.file.read_bytes()},
        )
    run.save_manifest(
        {"id": run.id, "models": [{"name": LANE, "imported": True}], "prompts": list(catalogue)}
    )
    t0 = time.monotonic()
    render_run(run, catalogue, concurrency=concurrency, force=True)
    return read_run(run), time.monotonic() - t0


def checks_of(verdict: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in verdict.get("checks", [])}


def gallery_view(page: RealPage, result: dict[str, Any]) -> dict[str, bool | None]:
    verdict = result["verdict"] or {}
    if verdict.get("judged") is False:
        return {"runs": None, "animates": None, "works": None, "responds": None}
    c = checks_of(verdict)
    runs, animates = c["runs"]["passed"], c["animates"]["passed"]
    return {
        "runs": runs,
        "animates": animates,
        "works": runs and (animates or not page.label.meant_to_animate),
        "responds": c["interactive"]["passed"] if "interactive" in c else None,
    }


def person_view(page: RealPage) -> dict[str, bool | None]:
    lab = page.label
    return {
        "runs": lab.runs,
        "animates": lab.animates,
        "works": lab.works,
        "responds": lab.responds,
    }


MEASURES = ("works", "runs", "animates", "responds")


def agreement(pages: list[RealPage], results: dict[str, Any]) -> dict[str, Any]:
    """Per measure: pages compared, agreeing, the share, and the confusion matrix."""
    out: dict[str, Any] = {}
    for m in MEASURES:
        confusion: Counter[str] = Counter()
        for page in pages:
            want, got = person_view(page)[m], gallery_view(page, results[page.id])[m]
            if want is None:
                continue
            key = "not judged" if got is None else f"{'pass' if got else 'fail'}"
            confusion[f"person {'yes' if want else 'no'} / gallery {key}"] += 1
        n = sum(confusion.values())
        agree = confusion["person yes / gallery pass"] + confusion["person no / gallery fail"]
        out[m] = {
            "pages": n,
            "agree": agree,
            "share": round(agree / n, 4) if n else None,
            "confusion": dict(sorted(confusion.items())),
        }
    return out


def disagreements(pages: list[RealPage], results: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for page in pages:
        want, got = person_view(page), gallery_view(page, results[page.id])
        verdict = results[page.id]["verdict"] or {}
        c = checks_of(verdict)
        for m in ("runs", "animates", "responds"):
            if want[m] is not None and got[m] is not None and want[m] != got[m]:
                name = "interactive" if m == "responds" else m
                rows.append(
                    {
                        "page": page.id,
                        "split": page.split,
                        "check": m,
                        "person": want[m],
                        "gallery": got[m],
                        "meant_to_animate": page.label.meant_to_animate,
                        "certain": page.label.certain,
                        "gallery_says": c[name]["detail"],
                        "person_says": page.label.note,
                        "mode": results[page.id]["obs"].get("mode"),
                    }
                )
        if got["works"] is None:
            rows.append(
                {"page": page.id, "split": page.split, "check": "(not judged)",
                 "gallery_says": verdict.get("reason"), "person_says": page.label.note}
            )  # fmt: skip
    return rows


def repeat_check(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Pages whose verdicts or pixels differ between renders of the same corpus."""
    first = runs[0]
    verdicts, outcomes, pixels = [], [], []
    # how far each differing shot differs, the largest over the renders: pixels and levels
    sizes: dict[str, dict[str, dict[str, int]]] = {}

    def outcome(verdict: dict[str, Any] | None) -> dict[str, Any]:
        v = verdict or {}
        return {"passed": v.get("passed"), **{n: c["passed"] for n, c in checks_of(v).items()}}

    for pid, res in first.items():
        for other in runs[1:]:
            o = other[pid]
            if checks_of(res["verdict"] or {}) != checks_of(o["verdict"] or {}):
                verdicts.append(pid)
            if outcome(res["verdict"]) != outcome(o["verdict"]):
                outcomes.append(pid)
            if sorted(res["shots"]) != sorted(o["shots"]):
                pixels.append(pid)
                continue
            for k in res["shots"]:
                size = pixel_difference(res["shots"][k], o["shots"][k])
                if size["pixels"]:
                    pixels.append(pid)
                    seen = sizes.setdefault(pid, {}).setdefault(k, size)
                    sizes[pid][k] = {n: max(v, size[n]) for n, v in seen.items()}
    return {
        "renders": len(runs),
        "pages": len(first),
        # any difference in a verdict, its details' figures included
        "verdicts_differ": sorted(set(verdicts)),
        # a different pass/fail of the sample or of one of its checks
        "outcomes_differ": sorted(set(outcomes)),
        "pixels_differ": sorted(set(pixels)),
        "pixel_differences": {pid: sizes[pid] for pid in sorted(sizes)},
    }


def pixel_difference(a: bytes, b: bytes) -> dict[str, int]:
    """How many pixels of two shots differ at all, and by how many levels at most: a
    row of pixels one level apart is not a page that looks different."""
    from PIL import ImageChops

    from gallery.render import images

    if a == b:
        return {"pixels": 0, "max_level": 0}
    ia, ib = images.load(a), images.load(b)
    if ia.size != ib.size:
        return {"pixels": ia.width * ia.height, "max_level": 255}
    diff = ImageChops.difference(ia, ib)
    return {
        "pixels": round(images.diff_ratio(ia, ib, threshold=0) * ia.width * ia.height),
        "max_level": max(high for _, high in diff.getextrema()),
    }


def print_report(report: dict[str, Any]) -> None:
    print(f"verdict truth: {report['pages']} real pages, {report['chromium']}")
    for split, block in report["splits"].items():
        print(f"\n{split} ({block['pages']} pages):")
        for m, a in block["agreement"].items():
            if a["pages"]:
                print(f"  {m:<9} {a['share']:7.1%}  ({a['agree']}/{a['pages']})")
        if (sure := block.get("certain")) and sure["pages"]:
            print(
                f"  works, labels the person was sure of: {sure['share']:.1%}"
                f"  ({sure['agree']}/{sure['pages']})"
            )
        conf = block["agreement"]["works"]["confusion"]
        print("  runs ∧ animates, confusion: " + "; ".join(f"{k}: {v}" for k, v in conf.items()))
    dis = report["disagreements"]
    print(f"\ndisagreements ({len(dis)}):")
    for d in dis:
        print(
            f"  [{d['split']}] {d['page']} {d['check']}: person {d.get('person')}, gallery {d.get('gallery')}"
        )
        print(f"      gallery: {str(d.get('gallery_says'))[:88]}")
        print(f"      person:  {str(d.get('person_says'))[:88]}")
    if "repeat" in report:
        r = report["repeat"]
        print(
            f"\nrepeat: {r['renders']} renders of {r['pages']} pages; pass/fail differs on "
            f"{len(r['outcomes_differ'])} {r['outcomes_differ']}; verdicts (details included) on "
            f"{len(r['verdicts_differ'])} {r['verdicts_differ']}, pixels on "
            f"{len(r['pixels_differ'])} {r['pixels_differ']}"
        )
        for pid, shots in r["pixel_differences"].items():
            for shot, size in shots.items():
                print(
                    f"  {pid} {shot}: {size['pixels']} pixels differ, "
                    f"by up to {size['max_level']} levels"
                )
    if report["seconds_per_render"] is not None:
        print(
            f"\ntime: {report['seconds_per_render']} s per render of the corpus "
            f"({report['pages_per_minute']} pages/min, concurrency {report['concurrency']})"
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--split", choices=(*real_corpus.SPLITS, "all"), default="all")
    ap.add_argument("--repeat", type=int, default=1, help="render the corpus N times")
    ap.add_argument("--concurrency", type=int, default=2)
    ap.add_argument("--only", nargs="*", help="page ids (default: every page of the split)")
    ap.add_argument("--keep", type=Path, help="keep the runs in this outputs folder")
    ap.add_argument("--json", type=Path, help="also write the report here")
    ap.add_argument(
        "--rescore",
        type=Path,
        nargs="+",
        help="score runs kept with --keep again, no rendering (several: the first is scored, "
        "all are checked for the same verdicts and pixels)",
    )
    args = ap.parse_args()

    pages = real_corpus.load()
    missing = len(pages) - len(real_corpus.available(pages))
    if missing:
        sys.exit(f"{missing} page(s) missing: run `python benchmarks/real_corpus.py fetch` first")
    pages = [
        p for p in pages if args.split in ("all", p.split) and (not args.only or p.id in args.only)
    ]
    out = args.keep or Path(tempfile.mkdtemp(prefix="verdict-truth-"))
    renders, times = [], []
    if args.rescore:
        from gallery.records.store import Run

        renders = [read_run(Run(path)) for path in args.rescore]
        pages = [p for p in pages if p.id in renders[0]]
    for _ in range(0 if args.rescore else max(1, args.repeat)):
        results, took = render(pages, out, args.concurrency)
        renders.append(results)
        times.append(took)
    results = renders[0]
    splits = {
        name: [p for p in pages if name == "all" or p.split == name]
        for name in (*real_corpus.SPLITS, "all")
    }
    report: dict[str, Any] = {
        "pages": len(pages),
        "chromium": chromium_version(find_chromium().path),
        "machine": f"{platform.machine()}, {__import__('os').cpu_count()} cores",
        "concurrency": args.concurrency,
        # none when the runs were rescored: their time was not measured here
        "seconds_per_render": round(sum(times) / len(times), 1) if times else None,
        "pages_per_minute": round(60 * len(pages) / (sum(times) / len(times)), 1)
        if times
        else None,
        "splits": {
            name: {
                "pages": len(ps),
                "agreement": agreement(ps, results),
                # The person was sure of these labels: a miss on one is the engine's.
                "certain": agreement([p for p in ps if p.label.certain], results)["works"],
            }
            for name, ps in splits.items()
            if ps
        },
        "disagreements": disagreements(pages, results),
    }
    if len(renders) > 1:
        report["repeat"] = repeat_check(renders)
    print_report(report)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
