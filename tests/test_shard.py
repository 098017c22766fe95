"""Scale out: ``--shard I/N`` on generate and render, and ``gallery merge``.

A run split in three shards (each generated against the local model server and
rendered in Chromium on its own) and merged must equal the same run made in
one go: the same sample keys, the same reply texts, the same verdicts.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from gallery.cli import cli
from gallery.errors import UsageError
from gallery.records.shard import Shard, parse_shard, shard_of
from gallery.records.store import SampleKey, Store

MOVING = """Here it is.

```html
<!DOCTYPE html><html lang="en"><head><title>moving</title></head>
<body style="margin:0;background:#123"><canvas id="c" width="320" height="180"></canvas><script>
const c = document.getElementById('c').getContext('2d');
function f(t) { c.fillStyle = '#123'; c.fillRect(0, 0, 320, 180); c.fillStyle = 'orange';
  c.fillRect((t / 10) % 300, 80, 20, 20); requestAnimationFrame(f); }
requestAnimationFrame(f);
</script></body></html>
```
"""

STILL = """```html
<!DOCTYPE html><html lang="en"><head><title>still</title></head>
<body style="margin:0;background:#fff"><h1>A still heading</h1></body></html>
```
"""

CONFIG = """
[defaults]
models = ["local"]
samples = 3
max_retries = 0
timeout = 10

[models.local]
base_url = "{url}"
model = "test-model"
"""

PROMPT = """id = "{id}"
title = "{id}"
prompt = "Draw the {marker} page."
[render]
screenshots = [0.5, 1.0]
preview_frames = 3
budget = 20
[[checks]]
kind = "runs"
[[checks]]
kind = "animates"
[[checks]]
kind = "clean-console"
"""


@pytest.fixture
def project(tmp_path: Path, llm_server):
    llm_server.on("MOVING", text=MOVING)
    llm_server.on("STILL", text=STILL)
    (tmp_path / "gallery.toml").write_text(CONFIG.format(url=llm_server.base_url))
    prompts = tmp_path / "prompts"
    prompts.mkdir()
    for pid, marker in (("moving", "MOVING"), ("still", "STILL")):
        (prompts / f"{pid}.toml").write_text(PROMPT.format(id=pid, marker=marker))
    return tmp_path


def invoke(project: Path, out: str, *args: str):
    common = ["--config", str(project / "gallery.toml"), "--prompts", str(project / "prompts")]
    result = CliRunner().invoke(cli, [*args, *common, "--out", str(project / out)])
    assert result.exit_code == 0, result.output
    return result


def snapshot(run) -> dict[SampleKey, tuple[str, bool, list]]:
    """What must match: per sample key, the reply text and the verdict."""
    out = {}
    for sample in run.samples():
        verdict = sample.verdict
        assert verdict is not None, f"{sample.key.label} was not rendered"
        checks = [(c["name"], c["passed"]) for c in verdict["checks"]]
        out[sample.key] = (sample.reply["text"], verdict["passed"], checks)
    return out


def test_three_shards_merged_equal_the_unsplit_run(project: Path, llm_server) -> None:
    invoke(project, "whole", "generate")
    invoke(project, "whole", "render")
    whole = Store(project / "whole").open_run("latest")
    expected = snapshot(whole)
    assert len(expected) == 6
    assert llm_server.requests == 6

    llm_server.reset_counts()
    store = Store(project / "split")
    shard_runs = []
    for i in (1, 2, 3):
        invoke(project, "split", "generate", "--shard", f"{i}/3")
        run = store.latest()
        assert run.manifest()["shard"] == f"{i}/3" and run.id.endswith(f"-shard{i}of3")
        assert all(shard_of(s.key, 3) == i for s in run.samples())
        invoke(project, "split", "render", "--run", run.id, "--shard", f"{i}/3")
        shard_runs.append(run.id)
    assert llm_server.requests == 6  # each sample asked for once, by its own shard
    result = invoke(project, "split", "merge", *shard_runs, "--into", "merged")
    assert "6 sample(s) in the run" in result.output
    merged = store.open_run("merged")
    assert snapshot(merged) == expected
    manifest = merged.manifest()
    assert manifest["status"] == "merged" and "shard" not in manifest
    assert sorted(m["shard"] for m in manifest["merged_from"]) == ["1/3", "2/3", "3/3"]
    assert manifest["totals"]["samples"] == 6 and manifest["totals"]["ok"] == 6
    assert [m["name"] for m in manifest["models"]] == ["local"]
    assert sorted(p["id"] for p in manifest["prompts"]) == ["moving", "still"]

    # merging again is harmless; a sample that differs is an error naming it
    again = invoke(project, "split", "merge", *shard_runs, "--into", "merged")
    assert "0 sample(s) merged" in again.output and "6 already there" in again.output
    sample = next(merged.samples())
    reply = json.loads((sample.path / "reply.json").read_text())
    reply["text"] = "changed"
    (sample.path / "reply.json").write_text(json.dumps(reply))
    args = ["--config", str(project / "gallery.toml"), "--prompts", str(project / "prompts")]
    bad = CliRunner().invoke(
        cli, ["merge", *shard_runs, "--into", "merged", *args, "--out", str(project / "split")]
    )
    assert bad.exit_code == 2 and bad.output.startswith("error: --into: sample ")
    assert bad.output.count("\n") == 1


def test_the_partition_covers_every_key_once() -> None:
    keys = [SampleKey(f"p{p}", f"m{m}", i) for p in range(30) for m in range(7) for i in (1, 2, 3)]
    for n in (1, 2, 3, 8):
        shards = [Shard(i, n) for i in range(1, n + 1)]
        owners = [[s for s in shards if s.owns(k)] for k in keys]
        assert all(len(o) == 1 for o in owners)
        sizes = [sum(s.owns(k) for k in keys) for s in shards]
        assert min(sizes) > len(keys) / n * 0.7  # roughly even
    assert parse_shard(" 2 / 3 ") == Shard(2, 3) and str(Shard(2, 3)) == "2/3"


@pytest.mark.parametrize("value", ["0/3", "4/3", "x", "1/0", "-1/3", "1/3/5", ""])
def test_bad_shard_is_one_line_exit_2(tmp_path: Path, value: str) -> None:
    with pytest.raises(UsageError) as err:
        parse_shard(value)
    assert err.value.field == "--shard"
    root = Path(__file__).resolve().parent.parent
    common = ["--config", str(root / "gallery.toml"), "--prompts", str(root / "prompts")]
    for command in (["generate"], ["render"]):
        result = CliRunner().invoke(
            cli, [*command, "--shard", value, *common, "--out", str(tmp_path / "out")]
        )
        assert result.exit_code == 2, result.output
        assert result.output.startswith("error: --shard: ") and result.output.count("\n") == 1
    assert not (tmp_path / "out" / "runs").exists()
