"""Generation overhead: 48 requests at concurrency 8 against a server that takes 1 s each.

    .venv/bin/python benchmarks/generation_overhead.py [--requests 48] [--concurrency 8]
        [--latency 1.0] [--json benchmarks/results/generation_overhead.json]

The local OpenAI-compatible test server (``tests/llm_server.py``) answers
every request after exactly ``--latency`` seconds (then streams the reply in
four chunks); gallery's generate stage (``pipeline.generate_run``: streaming
client, concurrency limits, extraction, atomic sample writes, the reply cache,
the run manifest) produces ``--requests`` samples with ``--concurrency``
requests in flight. The ideal is requests / concurrency x latency (6 s); the
overhead is what gallery adds on top, in total and per request.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from llm_server import LLMServer  # noqa: E402

from gallery.catalogue.config import load_config  # noqa: E402
from gallery.catalogue.prompts import load_catalogue  # noqa: E402
from gallery.generate.stage import generate_run  # noqa: E402
from gallery.records.store import Store  # noqa: E402

PROMPTS = 6


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=48)
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--latency", type=float, default=1.0)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    samples = args.requests // PROMPTS
    assert samples * PROMPTS == args.requests, f"--requests must be a multiple of {PROMPTS}"
    ideal = args.requests / args.concurrency * args.latency
    out = {"requests": args.requests, "concurrency": args.concurrency, "latency_s": args.latency,
           "ideal_s": round(ideal, 3)}  # fmt: skip
    with LLMServer() as server, tempfile.TemporaryDirectory(prefix="gallery-gen-") as tmp:
        server.default.delay = args.latency
        base = Path(tmp)
        (base / "gallery.toml").write_text(
            f'[defaults]\nmodels = ["local"]\nconcurrency = {args.concurrency}\n'
            f'max_retries = 0\ntimeout = 30\n\n[models.local]\nbase_url = "{server.base_url}"\n'
            'model = "bench-model"\n'
        )
        prompts = base / "prompts"
        prompts.mkdir()
        for p in range(PROMPTS):
            (prompts / f"p{p}.toml").write_text(
                f'id = "p{p}"\ntitle = "p{p}"\nprompt = "Write page {p}."\n'
            )
        config = load_config(base / "gallery.toml")
        catalogue = load_catalogue(prompts)
        # "cold": the first generate of a process (imports the openai SDK, about 0.5-1 s);
        # "warm": the same again in the same process, into a fresh store (nothing cached).
        for label in ("cold", "warm"):
            server.reset_counts()
            t0 = time.perf_counter()
            result = generate_run(config, catalogue, Store(base / label), samples=samples)
            wall = time.perf_counter() - t0
            latencies = [
                json.loads(s.joinpath("reply.json").read_text())["timing"]["latency_s"]
                for s in result.run.path.glob("*/*/*")
                if s.joinpath("reply.json").is_file()
            ]
            out[label] = {
                "requests_served": server.requests,
                "ok": result.manifest["totals"]["ok"],
                "max_in_flight": server.max_in_flight,
                "wall_s": round(wall, 3),
                "ratio_to_ideal": round(wall / ideal, 3),
                "overhead_total_s": round(wall - ideal, 3),
                # each request shares its wave with concurrency-1 others: what it waited extra
                "overhead_per_request_ms": round(
                    (wall - ideal) / (args.requests / args.concurrency) * 1000, 1
                ),
                "median_client_latency_s": round(statistics.median(latencies), 3),
            }
    out["loadavg"] = os.getloadavg()
    print(json.dumps(out, indent=2))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
