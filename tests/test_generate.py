"""The generate stage against a local OpenAI-compatible server, with the real openai client.

Every behaviour is scripted per request by a marker in the prompt text (see
``tests/llm_server.py``); the server counts requests, so "zero requests" and
"only what is missing" are measured, not assumed.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from gallery.catalogue.config import load_config
from gallery.catalogue.prompts import load_catalogue
from gallery.cli import cli
from gallery.errors import UsageError
from gallery.generate.client import build_request, request_hash, split_think
from gallery.generate.stage import GenerateResult, generate_run
from gallery.records.store import Store

CANARY = "sk-gallery-canary-1234567890abcdef"
KEY_ENV = "GALLERY_TEST_KEY"

HEXAGON = """Here is the Java version:

```java
import javax.swing.*;

public class BouncingBall extends JPanel {
    public static void main(String[] args) { new JFrame().add(new BouncingBall()); }
}
```

And the HTML version:

```html
<!DOCTYPE html>
<html><head><title>Hexagon</title></head>
<body><canvas id="c" width="400" height="400"></canvas>
<script>
const ctx = document.getElementById('c').getContext('2d');
function frame(t) { ctx.clearRect(0, 0, 400, 400); ctx.rotate(0.01); requestAnimationFrame(frame); }
requestAnimationFrame(frame);
</script></body></html>
```
"""


def write_config(tmp_path: Path, url: str, *, max_retries: int = 1, extra: str = "") -> Path:
    path = tmp_path / "my.toml"
    path.write_text(
        f"""
[defaults]
models = ["local"]
max_retries = {max_retries}
timeout = 5
concurrency = 8

[models.reference]
provider = "reference"

[models.local]
base_url = "{url}"
model = "test-model"
api_key_env = "{KEY_ENV}"
params = {{ temperature = 0.5, max_tokens = 2000, extra_body = {{ enable_thinking = false }} }}

[[models.local.pricing]]
up_to_input_tokens = 1000
input_per_mtok = 1.0
output_per_mtok = 2.0

[[models.local.pricing]]
input_per_mtok = 4.0
output_per_mtok = 8.0

[models.unpriced]
base_url = "{url}"
model = "unpriced-model"

[models.partial]
base_url = "{url}"
model = "partial-model"
pricing = {{ input_per_mtok = 1.0 }}

[models.comp]
base_url = "{url}"
model = "base-model"
api = "completions"
prompt_template = "<|user|>{{prompt}}<|end|>{{not a field}}<|assistant|>"

[models.fenced]
base_url = "{url}"
model = "base-model"
api = "completions"
prompt_template = "Request: {{prompt}}\\nAnswer:\\n```html\\n"
params = {{ stop = ["```"] }}

[models.limited]
base_url = "{url}"
model = "limited-model"
concurrency = 2

[models.quick]
base_url = "{url}"
model = "quick-model"
timeout = 0.3

[models.keyed]
base_url = "{url}"
model = "keyed-model"
api_key_env = "GALLERY_MISSING_KEY"
{extra}
"""
    )
    return path


def write_prompts(
    tmp_path: Path, prompts: dict[str, str], references: dict[str, str] | None = None
) -> Path:
    d = tmp_path / "prompts"
    d.mkdir(exist_ok=True)
    for pid, text in prompts.items():
        (d / f"{pid}.toml").write_text(f'id = "{pid}"\ntitle = "{pid}"\nprompt = "{text}"\n')
    for pid, html in (references or {}).items():
        (d / f"{pid}.reference.html").write_text(html)
    return d


@pytest.fixture(autouse=True)
def _key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEY_ENV, CANARY)
    monkeypatch.delenv("GALLERY_MISSING_KEY", raising=False)


@pytest.fixture
def gen(tmp_path: Path, llm_server):
    """Run the generate stage: ``gen({"id": "prompt text"}, models=[...], ...)``."""

    def run(prompts: dict[str, str], *, references=None, max_retries=1, **opts):
        config = load_config(write_config(tmp_path, llm_server.base_url, max_retries=max_retries))
        catalogue = load_catalogue(write_prompts(tmp_path, prompts, references))
        return generate_run(config, catalogue, Store(tmp_path / "out"), **opts)

    return run


def reply(result: GenerateResult, prompt: str, model: str = "local", index: int = 1) -> dict:
    return json.loads((result.run.path / prompt / model / str(index) / "reply.json").read_text())


def result_spec(result: GenerateResult):
    config = load_config(result.run.path.parent.parent.parent / "my.toml")
    return config.models["local"]


# --- calls and measurements -------------------------------------------------------------


def test_streamed_reply_with_usage(gen, llm_server) -> None:
    llm_server.on("circle", chunk_delay=0.03, prompt_tokens=100, completion_tokens=1000)
    result = gen({"circle": "Draw a circle."})
    r = reply(result, "circle")
    assert r["status"] == "ok" and r["error"] is None
    assert r["usage"] == {
        "prompt_tokens": 100,
        "completion_tokens": 1000,
        "reasoning_tokens": 0,
        "total_tokens": 1100,
        "estimated": False,
    }
    t = r["timing"]
    assert 0.03 <= t["ttft_s"] < t["latency_s"] and t["tokens_per_s"] > 0
    assert r["finish_reason"] == "stop" and r["truncated"] is False
    assert r["cost"] == {"usd": pytest.approx(100 * 1e-6 + 1000 * 2e-6), "complete": True}
    assert r["model_id"] == "test-model" and r["base_url"] == llm_server.base_url
    assert r["params"]["extra_body"] == {"enable_thinking": False}
    assert r["extract"]["status"] == "ok" and r["extract"]["files"] == ["index.html"]
    assert (result.run.path / "circle/local/1/artifact/index.html").is_file()
    body = llm_server.received[0].body
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}
    assert body["temperature"] == 0.5 and body["max_tokens"] == 2000
    assert body["enable_thinking"] is False  # extra_body passed through
    assert body["messages"][0]["role"] == "system"
    assert body["messages"][1] == {"role": "user", "content": "Draw a circle."}
    assert r["request_hash"] == request_hash(
        build_request(result_spec(result), "Draw a circle.", 1, body["messages"][0]["content"])
    )


def test_missing_usage_chunk_is_estimated(gen, llm_server) -> None:
    llm_server.on("plain", usage=False)
    r = reply(gen({"plain": "Draw plain."}), "plain")
    assert r["status"] == "ok" and r["usage"]["estimated"] is True
    assert r["usage"]["completion_tokens"] == pytest.approx(len(r["text"]) / 4, abs=2)
    assert r["cost"]["usd"] > 0


def test_reasoning_content_kept_apart(gen, llm_server) -> None:
    llm_server.on("reason", reasoning="Let me think about circles first.", chunk_delay=0.01)
    r = reply(gen({"reason": "Draw a reason."}), "reason")
    assert r["reasoning"] == "Let me think about circles first."
    assert "think about" not in r["text"] and r["text"].startswith("Here is the page.")
    assert r["usage"]["reasoning_tokens"] > 0
    assert r["timing"]["ttft_s"] is not None and r["status"] == "ok"


def test_think_block_moved_to_reasoning(gen, llm_server) -> None:
    llm_server.on("think", text="<think>\nplan: a red circle\n</think>\n\n" + HEXAGON)
    r = reply(gen({"think": "Draw with think."}), "think")
    assert r["reasoning"] == "plan: a red circle"
    assert r["text"].startswith("Here is the Java version")
    assert r["status"] == "ok"


@pytest.mark.parametrize(
    ("content", "text", "reasoning"),
    [
        ("<think>a</think>answer", "answer", "a"),
        ("<think>still thinking", "", "still thinking"),
        (
            "the template opened it</think>\n```html\nx\n```",
            "```html\nx\n```",
            "the template opened it",
        ),
        ("<!DOCTYPE html><p>no thoughts</p>", "<!DOCTYPE html><p>no thoughts</p>", ""),
    ],
)
def test_split_think(content: str, text: str, reasoning: str) -> None:
    assert split_think(content) == (text, reasoning)


def test_completions_api_with_template(gen, llm_server) -> None:
    result = gen({"base": "Draw a base."}, models=["comp"])
    got = llm_server.received[0]
    assert got.path == "/v1/completions"
    assert got.body["prompt"] == "<|user|>Draw a base.<|end|>{not a field}<|assistant|>"
    r = reply(result, "base", "comp")
    assert r["api"] == "completions" and r["status"] == "ok"
    assert (result.run.path / "base/comp/1/artifact/index.html").is_file()


def test_completion_continuing_an_open_fence_is_read_as_that_block(gen, llm_server) -> None:
    """A base model's template opens the answer's ```html block; the model writes
    its contents (no fence of its own) and stops at the closing one."""
    page = (
        "<!DOCTYPE html><html><body><canvas id=c></canvas><script>c.width=9</script></body></html>"
    )
    llm_server.on("fence", text=page)
    llm_server.on("prose", text="A hexagon is a shape with six sides.")
    result = gen({"fence": "Draw a fence.", "prose": "Draw prose."}, models=["fenced"])
    assert llm_server.received[0].body["prompt"].endswith("Answer:\n```html\n")
    r = reply(result, "fence", "fenced")
    assert r["text"] == page  # stored as the model wrote it
    assert r["status"] == "ok" and r["extract"]["files"] == ["index.html"]
    assert (result.run.path / "fence/fenced/1/artifact/index.html").read_text().strip() == page
    # whatever it wrote inside the html block is the page, however poor
    assert reply(result, "prose", "fenced")["status"] == "ok"
    # the same reply from a chat model (no open fence) is prose, not a page
    llm_server.on("prose", text="A hexagon is a shape with six sides.")
    assert reply(gen({"prose": "Draw prose."}), "prose")["status"] == "no-artifact"


def test_finish_reason_length_is_truncated(gen, llm_server) -> None:
    llm_server.on(
        "long", finish_reason="length", text="```html\n<!DOCTYPE html><html><body><canvas>"
    )
    r = reply(gen({"long": "Draw a long."}), "long")
    assert r["finish_reason"] == "length" and r["truncated"] is True


def test_hexagon_java_and_html_reply_is_runnable(gen, llm_server) -> None:
    llm_server.on("hexagon", text=HEXAGON)
    result = gen({"hexagon": "Write a java code that shows a hexagon, in java and html."})
    r = reply(result, "hexagon")
    art = result.run.path / "hexagon/local/1/artifact"
    assert r["status"] == "ok"
    assert "requestAnimationFrame" in (art / "index.html").read_text()
    assert r["extract"]["sources"] == ["BouncingBall.java"]
    assert "class BouncingBall" in (art / "_sources/BouncingBall.java").read_text()


# --- faults -------------------------------------------------------------------------------


def test_429_then_success_is_retried(gen, llm_server) -> None:
    llm_server.on("busy", status=429, fail_first=1, retry_after="0", retry_after_ms="10")
    r = reply(gen({"busy": "Draw busy."}), "busy")
    assert llm_server.requests == 2
    assert r["status"] == "ok"


def test_500_fails_the_sample_and_the_run_goes_on(gen, llm_server) -> None:
    llm_server.on("boom", status=500)
    result = gen({"boom": "Draw boom.", "fine": "Draw fine."})
    bad, good = reply(result, "boom"), reply(result, "fine")
    assert bad["status"] == "failed"
    assert bad["error"].startswith("InternalServerError: Error code: 500")
    assert "\n" not in bad["error"] and bad["usage"] is None and bad["cost"] is None
    assert not (result.run.path / "boom/local/1/artifact").exists()
    assert good["status"] == "ok"
    assert llm_server.requests == 3  # boom tried twice (max_retries = 1), fine once
    assert result.manifest["totals"]["failed"] == 1 and result.manifest["status"] == "generated"
    # errors are never cached: a new run asks again for boom only
    llm_server.reset_counts()
    again = gen({"boom": "Draw boom.", "fine": "Draw fine."})
    assert llm_server.requests == 2
    assert reply(again, "fine")["replayed"] is True


def test_timeout_fails_the_sample(gen, llm_server) -> None:
    llm_server.on("slow", delay=1.0)
    r = reply(gen({"slow": "Draw slow."}, models=["quick"], max_retries=0), "slow", "quick")
    assert r["status"] == "failed" and r["error"].startswith("APITimeoutError")


def test_cut_off_stream_is_failed_and_keeps_the_partial_text(gen, llm_server) -> None:
    llm_server.on("cut", cut=True, chunks=6)
    result = gen({"cut": "Draw cut."}, max_retries=0)
    r = reply(result, "cut")
    assert r["status"] == "failed" and r["error"].startswith("APIConnectionError")
    assert r["text"].startswith("Here is the page") and r["truncated"] is True
    assert r["finish_reason"] is None
    assert not list((tmp := result.run.path.parent.parent / "cache").rglob("*.json")), tmp


def test_concurrency_per_model_is_bounded(gen, llm_server) -> None:
    llm_server.default.chunk_delay = 0.03
    result = gen({"one": "Draw one."}, models=["limited"], samples=6)
    assert llm_server.requests == 6 and result.manifest["totals"]["ok"] == 6
    assert llm_server.max_in_flight == 2


def test_global_concurrency_is_bounded(gen, llm_server) -> None:
    llm_server.default.chunk_delay = 0.03
    gen(
        {"one": "Draw one.", "two": "Draw two."},
        models=["local", "unpriced"],
        samples=3,
        concurrency=3,
    )
    assert llm_server.requests == 12
    assert llm_server.max_in_flight == 3


# --- cost ------------------------------------------------------------------------------------


def test_cost_tiers_in_reply(gen, llm_server) -> None:
    llm_server.on("small", prompt_tokens=800, completion_tokens=1000)
    llm_server.on("large", prompt_tokens=5000, completion_tokens=1000)
    result = gen(
        {"small": "Draw small.", "large": "Draw large."}, models=["local", "unpriced", "partial"]
    )
    assert reply(result, "small")["cost"] == {"usd": pytest.approx(0.0028), "complete": True}
    assert reply(result, "large")["cost"] == {"usd": pytest.approx(0.028), "complete": True}
    assert reply(result, "small", "unpriced")["cost"] is None
    assert reply(result, "small", "partial")["cost"] == {
        "usd": pytest.approx(0.0008),
        "complete": False,
    }
    totals = result.manifest["totals"]
    assert totals["cost_complete"] is False
    assert totals["cost_usd"] == pytest.approx(0.0028 + 0.028 + 0.0008 + 0.005)


# --- the cache -----------------------------------------------------------------------------


def test_second_run_replays_from_cache_and_fresh_calls_again(gen, llm_server) -> None:
    first = gen({"circle": "Draw a circle."}, samples=3)
    assert llm_server.requests == 3
    cache = sorted((first.run.path.parent.parent / "cache").rglob("*.json"))
    assert len(cache) == 3
    llm_server.reset_counts()
    second = gen({"circle": "Draw a circle."}, samples=3)
    assert llm_server.requests == 0 and second.run.id != first.run.id
    for i in (1, 2, 3):
        r, orig = reply(second, "circle", index=i), reply(first, "circle", index=i)
        assert r["replayed"] is True and r["cost"] == {"usd": 0.0, "complete": True}
        assert r["original"]["cost"] == orig["cost"] and r["text"] == orig["text"]
        assert r["usage"] == orig["usage"] and r["timing"] == orig["timing"]
    assert second.manifest["totals"]["replayed"] == 3
    assert second.manifest["totals"]["cost_usd"] == 0
    third = gen({"circle": "Draw a circle."}, samples=3, fresh=True)
    assert llm_server.requests == 3
    assert not reply(third, "circle")["replayed"]


def test_cache_key_covers_sample_params_and_messages(tmp_path: Path, llm_server) -> None:
    config = load_config(write_config(tmp_path, llm_server.base_url))
    local, comp = config.models["local"], config.models["comp"]
    base = request_hash(build_request(local, "x", 1, "sys"))
    assert base == request_hash(build_request(local, "x", 1, "sys"))
    assert len({
        base,
        request_hash(build_request(local, "x", 2, "sys")),
        request_hash(build_request(local, "y", 1, "sys")),
        request_hash(build_request(local, "x", 1, "other")),
        request_hash(build_request(config.models["unpriced"], "x", 1, "sys")),
        request_hash(build_request(comp, "x", 1, "sys")),
    }) == 6  # fmt: skip


# --- keys --------------------------------------------------------------------------------------


def test_key_is_sent_but_never_written(gen, llm_server, tmp_path: Path) -> None:
    llm_server.on("boom", status=500)
    gen({"circle": "Draw a circle.", "boom": "Draw boom."}, max_retries=0)
    assert f"Bearer {CANARY}" in llm_server.authorizations
    files = [p for p in (tmp_path / "out").rglob("*") if p.is_file()]
    assert len(files) > 4
    for path in files:
        assert CANARY.encode() not in path.read_bytes(), path
        assert b"Bearer" not in path.read_bytes(), path


def test_no_key_configured_sends_none_not_openai_key(gen, llm_server, monkeypatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-should-never-leave")
    gen({"circle": "Draw."}, models=["unpriced"])
    assert llm_server.authorizations == ["Bearer none"]


def test_missing_key_skips_unless_all_cached(gen, llm_server, monkeypatch) -> None:
    result = gen({"circle": "Draw a circle."}, models=["keyed", "local"], samples=2)
    assert "skipping keyed: GALLERY_MISSING_KEY is not set (0 of 2 replies cached)" in result.notes
    assert llm_server.requests == 2  # local only
    assert not (result.run.path / "circle/keyed").exists()
    monkeypatch.setenv("GALLERY_MISSING_KEY", "sk-other")
    gen({"circle": "Draw a circle."}, models=["keyed"], samples=2)
    monkeypatch.delenv("GALLERY_MISSING_KEY")
    llm_server.reset_counts()
    replayed = gen({"circle": "Draw a circle."}, models=["keyed"], samples=2)
    assert llm_server.requests == 0
    assert "keyed: GALLERY_MISSING_KEY is not set; replaying 2 cached replies" in replayed.notes
    assert reply(replayed, "circle", "keyed", 2)["replayed"] is True
    partly = gen({"circle": "Draw a circle."}, models=["keyed"], samples=3)
    assert "skipping keyed: GALLERY_MISSING_KEY is not set (2 of 3 replies cached)" in partly.notes


# --- the reference lane ---------------------------------------------------------------------------


def test_reference_lane(gen, llm_server) -> None:
    page = "<!DOCTYPE html><html><body><h1>Reference</h1></body></html>\n"
    result = gen(
        {"circle": "Draw a circle.", "square": "Draw a square."},
        references={"circle": page},
        models=["reference"],
        samples=3,
    )
    assert llm_server.requests == 0
    r = reply(result, "circle", "reference")
    assert r["reference"] is True and r["text"] == page and r["status"] == "ok"
    assert r["cost"] == {"usd": 0.0, "complete": True} and r["source"] == "circle.reference.html"
    assert (result.run.path / "circle/reference/1/artifact/index.html").read_text() == page
    assert not (result.run.path / "circle/reference/2").exists()  # one reference, not three
    assert not (result.run.path / "square").exists()
    assert "reference: no reference page for square (skipped)" in result.notes


# --- store and resume -------------------------------------------------------------------------------


def test_resume_finishes_only_what_is_missing(gen, llm_server, tmp_path: Path) -> None:
    first = gen({"one": "Draw one.", "two": "Draw two."}, samples=3)
    assert llm_server.requests == 6
    run = first.run
    # simulate a kill: one sample never written, one half-written, manifest still "running"
    shutil.rmtree(run.path / "one/local/2")
    shutil.rmtree(run.path / "two/local/3")
    leftover = run.path / "two/local/.3.tmp-abc123"
    (leftover / "artifact").mkdir(parents=True)
    (leftover / "reply.json").write_text("{")
    run.update_manifest(status="running", finished_at=None)
    shutil.rmtree(tmp_path / "out/cache")
    before = {p: p.stat().st_mtime_ns for p in run.path.glob("*/local/[0-9]/reply.json")}
    assert len(before) == 4
    llm_server.reset_counts()
    second = gen({"one": "Draw one.", "two": "Draw two."}, samples=3)
    assert second.run.id == run.id and second.continued
    assert llm_server.requests == 2 and second.on_disk == 4
    assert not leftover.exists()
    assert {p: p.stat().st_mtime_ns for p in before} == before  # finished samples untouched
    assert second.manifest["status"] == "generated" and second.manifest["totals"]["samples"] == 6
    assert second.manifest["totals"]["wall_s"] >= first.manifest["totals"]["wall_s"]


def test_resume_uses_the_runs_selection_and_retries_failed(gen, llm_server) -> None:
    llm_server.on("boom", status=500, fail_first=2)
    first = gen({"boom": "Draw boom.", "fine": "Draw fine."}, samples=2, max_retries=0)
    assert reply(first, "boom")["status"] == "failed"
    llm_server.reset_counts()
    again = gen({"boom": "Draw boom.", "fine": "Draw fine."}, run=first.run.id, max_retries=0)
    assert again.run.id == first.run.id
    assert llm_server.requests == 2  # the two failed boom samples, nothing else
    assert reply(again, "boom")["status"] == "ok"


def test_resume_picks_the_unfinished_run(gen, llm_server) -> None:
    interrupted = gen({"one": "Draw one."}, samples=2)
    interrupted.run.update_manifest(status="running")
    shutil.rmtree(interrupted.run.path / "one/local/2")
    # a plain rerun continues an interrupted latest run ...
    assert gen({"one": "Draw one."}, samples=2).run.id == interrupted.run.id
    # ... a finished one gets a new run ...
    newer = gen({"one": "Draw one."}, samples=1)
    assert newer.run.id != interrupted.run.id
    # ... and --resume goes back to the latest unfinished run, even an older one
    interrupted.run.update_manifest(status="running")
    shutil.rmtree(interrupted.run.path / "one/local/2")
    llm_server.reset_counts()
    resumed = gen({"one": "Draw one."}, resume=True)
    assert resumed.run.id == interrupted.run.id
    assert resumed.on_disk == 1 and llm_server.requests == 0  # sample 2 was cached
    assert reply(resumed, "one", index=2)["replayed"] is True
    assert resumed.manifest["status"] == "generated"


def test_bad_samples_and_system_prompt_change(gen, llm_server) -> None:
    with pytest.raises(UsageError, match="at least 1") as err:
        gen({"one": "Draw one."}, samples=0)
    assert err.value.field == "--samples"
    first = gen({"one": "Draw one."}, system_prompt="Be brief.")
    assert first.manifest["system_prompt"] == "Be brief."
    assert llm_server.received[0].body["messages"][0]["content"] == "Be brief."
    with pytest.raises(UsageError, match="another system prompt"):
        gen({"one": "Draw one."}, run=first.run.id, system_prompt="Be long.")


# --- the command line ------------------------------------------------------------------------------


def test_cli_run_end_to_end(tmp_path: Path, llm_server) -> None:
    config = write_config(tmp_path, llm_server.base_url)
    prompts = write_prompts(tmp_path, {"circle": "Draw a circle."})
    out = tmp_path / "out"
    args = ["--config", str(config), "--prompts", str(prompts), "--out", str(out)]
    runner = CliRunner()
    site = tmp_path / "site"
    result = runner.invoke(
        cli, ["run", *args, "--model", "local", "--samples", "3", "--site", str(site)]
    )
    assert result.exit_code == 0, result.output
    assert llm_server.requests == 3
    run = Store(out).open_run("latest")
    for i in (1, 2, 3):
        r = json.loads((run.path / f"circle/local/{i}/reply.json").read_text())
        assert r["status"] == "ok" and r["timing"]["latency_s"] > 0
        assert r["usage"]["completion_tokens"] > 0 and r["cost"]["usd"] > 0
        assert f"ok      circle/local/{i}" in result.output
    # the whole job: every sample rendered and judged, the site built
    assert all((run.path / f"circle/local/{i}/verdict.json").is_file() for i in (1, 2, 3))
    assert f"open {(site / 'index.html').resolve()}" in result.output
    assert CANARY not in result.output
    again = runner.invoke(
        cli, ["run", *args, "--model", "local", "--samples", "3", "--site", str(site)]
    )
    assert again.exit_code == 0, again.output
    assert llm_server.requests == 3
    assert again.output.count("replayed") >= 3
    resumed = runner.invoke(cli, ["generate", *args, "--run", run.id, "-n", "4"])
    assert resumed.exit_code == 0, resumed.output
    assert llm_server.requests == 4 and "3 kept from before" in resumed.output


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--samples", "0"], "error: --samples: must be at least 1, got 0"),
        (["--model", "nope"], "error: --model: unknown model 'nope'"),
        (["--prompt", "nope"], "error: --prompt: unknown prompt 'nope'"),
        (["--resume"], "error: --resume: no run to resume"),
    ],
)
def test_cli_bad_input_is_one_line_exit_2(tmp_path: Path, llm_server, extra, message) -> None:
    config = write_config(tmp_path, llm_server.base_url)
    prompts = write_prompts(tmp_path, {"circle": "Draw a circle."})
    args = ["--config", str(config), "--prompts", str(prompts), "--out", str(tmp_path / "out")]
    result = CliRunner().invoke(cli, ["run", *args, *extra])
    assert result.exit_code == 2, result.output
    assert result.output.startswith(message) and result.output.count("\n") == 1
    assert llm_server.requests == 0
    assert not (tmp_path / "out/runs").exists() or not any((tmp_path / "out/runs").iterdir())


def test_run_job_reads_inputs_once_and_its_site_says_finished(
    tmp_path: Path, llm_server, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One prompt through the whole job (generate, render, build): the config and the
    catalogue are read once each; the site of the finished run says finished; a lane
    left out for a missing key says so on the site instead of an empty column."""
    from gallery.catalogue import workspace
    from gallery.catalogue.workspace import Workspace
    from gallery.job import run_job

    extra = f'[models.keyless]\nbase_url = "{llm_server.base_url}"\nmodel = "m"\n'
    extra += 'api_key_env = "GALLERY_TEST_KEY_NOBODY_SETS"\n'
    config = write_config(tmp_path, llm_server.base_url, extra=extra)
    prompts = write_prompts(tmp_path, {"circle": "Draw a circle."})
    reads: dict[str, int] = {"config": 0, "catalogue": 0}
    real_config, real_catalogue = workspace.load_config, workspace.load_catalogue

    def counted_config(path):
        reads["config"] += 1
        return real_config(path)

    def counted_catalogue(path):
        reads["catalogue"] += 1
        return real_catalogue(path)

    monkeypatch.setattr(workspace, "load_config", counted_config)
    monkeypatch.setattr(workspace, "load_catalogue", counted_catalogue)
    monkeypatch.delenv("GALLERY_TEST_KEY_NOBODY_SETS", raising=False)
    site = tmp_path / "site"
    result = run_job(
        Workspace(config, prompts, tmp_path / "out"),
        site_dir=site,
        models=["local", "keyless"],
        samples=1,
    )
    assert reads == {"config": 1, "catalogue": 1}
    assert result.run.manifest()["status"] == "finished"
    assert [lane.model for lane in result.lanes] == ["local"]
    assert result.lanes[0].total == 1 and result.rendered.rendered == 1
    index = (site / "index.html").read_text()
    run_page = (site / "run.html").read_text()
    assert '<span class="status">finished</span>' in index
    assert "<dd>finished</dd>" in run_page
    assert "skipped: no API key: GALLERY_TEST_KEY_NOBODY_SETS was not set" in index
