"""The vision judge, end to end: real pages rendered in Chromium, a local vision server
over real HTTP through the ``openai`` client, ``judgement.json`` on disk.

The server (``llm_server.judge_text``) decodes every image it is sent and reads the
rubric from the text; it scores each item by the share of frames that are not one
flat colour, so a page that draws scores above a blank one only if the request
really carried the page's frames.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from gallery.cli import cli

GOOD = """```html
<!DOCTYPE html><html lang="en"><head><title>ball</title></head>
<body style="margin:0;background:#102030"><canvas id=c width=1280 height=720></canvas><script>
const g = document.getElementById('c').getContext('2d'); let x = 100;
function f() { x = (x + 4) % 1200; g.fillStyle = '#102030'; g.fillRect(0, 0, 1280, 720);
  g.fillStyle = 'orange'; g.beginPath(); g.arc(x, 360, 60, 0, 7); g.fill(); requestAnimationFrame(f); }
f();
</script></body></html>
```"""
BLANK = (
    '```html\n<!DOCTYPE html><html lang="en"><head><title>b</title></head><body></body></html>\n```'
)

RUBRIC = """
[[rubric]]
item = "An orange ball is visible."
points = 2
[[rubric]]
item = "The ball moves across the frames."
points = 3
[[rubric]]
item = "The background is dark blue {marker}."
"""


def prompt_file(pid: str, text: str, rubric: str = "") -> str:
    return (
        f'id = "{pid}"\ntitle = "{pid}"\nprompt = "{text}"\n'
        "[render]\nscreenshots = [0.5, 2.0]\npreview_frames = 4\n"
        '[[interact]]\nat = 1.0\nkey = "ArrowUp"\n' + rubric
    )


@pytest.fixture
def project(tmp_path: Path, llm_server, monkeypatch: pytest.MonkeyPatch) -> dict:
    monkeypatch.setenv("JUDGE_TEST_KEY", "sk-judge-canary-0123456789")
    (tmp_path / "gallery.toml").write_text(
        f"""
[defaults]
models = ["local"]
judge = "vision"
max_retries = 0
timeout = 20

[models.local]
base_url = "{llm_server.base_url}"
model = "writer"

[models.vision]
base_url = "{llm_server.base_url}"
model = "vision-judge"
api_key_env = "JUDGE_TEST_KEY"
structured_output = "json_schema"
timeout = 2
pricing = {{ input_per_mtok = 2.0, output_per_mtok = 8.0 }}
"""
    )
    prompts = tmp_path / "prompts"
    prompts.mkdir()
    # judge requests carry the rubric (and the prompt): they are told apart first
    llm_server.on("## Checklist", judge=True)
    llm_server.on("[page-good]", text=GOOD)
    llm_server.on("[page-blank]", text=BLANK)
    common = ["--config", str(tmp_path / "gallery.toml"), "--prompts", str(prompts),
              "--out", str(tmp_path / "out")]  # fmt: skip
    return {"root": tmp_path, "prompts": prompts, "common": common, "server": llm_server}


def gallery(project: dict, *args: str):
    return CliRunner().invoke(cli, [*args, *project["common"]], terminal_width=100)


def judgements(project: dict) -> dict[str, dict]:
    out = {}
    for p in (project["root"] / "out" / "runs").glob("*/*/*/*/judgement.json"):
        out[p.parent.parent.parent.name] = json.loads(p.read_text())
    return out


def test_run_judges_every_rendered_page_and_a_rerun_asks_nothing(project: dict) -> None:
    prompts, server = project["prompts"], project["server"]
    (prompts / "good.toml").write_text(prompt_file("good", "Draw a ball [page-good].", RUBRIC))
    (prompts / "blank.toml").write_text(prompt_file("blank", "Draw a ball [page-blank]."))
    result = gallery(project, "run", "--site", str(project["root"] / "site"))
    assert result.exit_code == 0, result.output
    assert "judge vision: 2 judged (0 replayed)" in result.output, result.output

    got = judgements(project)
    assert set(got) == {"good", "blank"}
    good, blank = got["good"], got["blank"]
    assert good["error"] is None and blank["error"] is None
    assert good["rubric"] == "prompt" and blank["rubric"] == "generic"
    assert [i["points"] for i in good["items"]] == [2, 3, 1]
    assert good["score"] > blank["score"] == 0.0
    assert good["judge"] == "vision" and good["model"] == "vision-judge"
    assert good["usage"]["prompt_tokens"] > 0 and good["cost"]["usd"] > 0
    # every request carried decodable images (2 shots + the frames around the input)
    # and the whole rubric: 3 items of the prompt's own, 3 of the generic one
    assert sorted(server.judged) == [(4, 3), (4, 3)]
    sent = [r.body for r in server.received if r.body.get("model") == "vision-judge"]
    assert all(b["response_format"]["type"] == "json_schema" for b in sent)

    rows = [json.loads(line) for line in gallery(project, "results", "--json").output.splitlines()]
    assert {r["prompt"]: r["judge_score"] for r in rows} == {
        "good": good["score"],
        "blank": 0.0,
    }
    table = gallery(project, "results").output
    assert "judge" in table and max(len(line) for line in table.splitlines()) <= 100

    # the site shows the items, the judge, and that it is a model's judgement
    sample_page = next((project["root"] / "site").glob("s/good/local/1/index.html")).read_text()
    assert "The ball moves across the frames." in sample_page
    assert "vision-judge" in sample_page and "not a person" in sample_page

    server.reset_counts()
    again = gallery(project, "judge")
    assert again.exit_code == 0, again.output
    assert server.requests == 0
    assert "0 judged (0 replayed), 2 unchanged" in again.output
    # with the judgements gone, the cache answers: still no request, billed nothing
    for p in (project["root"] / "out" / "runs").glob("*/*/*/*/judgement.json"):
        p.unlink()
    replayed = gallery(project, "judge")
    assert "2 judged (2 replayed)" in replayed.output and server.requests == 0
    assert judgements(project)["good"]["score"] == good["score"]
    assert judgements(project)["good"]["cost"]["usd"] == 0.0
    fresh = gallery(project, "judge", "--fresh", "-p", "good")
    assert "1 judged (0 replayed)" in fresh.output and server.requests == 1

    # the key went to the server and nowhere else
    assert all(a == "Bearer sk-judge-canary-0123456789" for a in server.authorizations)
    for path in (project["root"] / "out").rglob("*"):
        if path.is_file():
            assert b"sk-judge-canary" not in path.read_bytes(), path
