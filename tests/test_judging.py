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
    index = (project["root"] / "site" / "index.html").read_text()
    board = index[index.index('id="board"') :]
    row = board[board.index('data-model="local"') :]
    row = row[: row.index("</tr>")]
    mean = (good["score"] + blank["score"]) / 2
    assert f'data-v="{mean!r}"' in row or f"{mean:.0%}" in row, row
    assert "judged by vision (vision-judge)" in index and "not a person" in index
    prompt_page = (project["root"] / "site" / "p" / "good.html").read_text()
    assert f"judge {good['score']:.0%}" in prompt_page

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


def test_judge_faults_are_recorded_and_the_others_are_judged(project: dict) -> None:
    """A malformed reply (asked again twice), a server error, rate limiting, a timeout and a
    refusal each leave that sample a recorded error and no score; every other sample is
    judged, and nothing crashes."""
    prompts, server = project["prompts"], project["server"]
    faults = {
        "malformed": {"text": "What a lovely ball! 10/10.", "judge": False},
        "server-error": {"status": 500},
        "rate-limited": {"status": 429, "retry_after": "0"},
        "slow": {"delay": 4.0, "judge": True},
        "refused": {"judge": True, "refusal": "I can't help with that."},
    }
    server.rules.clear()
    for name, behaviour in faults.items():
        server.on(f"[judge-{name}]", **behaviour)
    server.on("## Checklist", judge=True)
    server.on("[page-good]", text=GOOD)
    for name in ["fine", *faults]:
        rubric = RUBRIC.replace("{marker}", f"[judge-{name}]")
        (prompts / f"{name}.toml").write_text(prompt_file(name, "Draw [page-good].", rubric))
    result = gallery(project, "run", "--site", str(project["root"] / "site"))
    assert result.exit_code == 0, result.output
    got = judgements(project)
    assert set(got) == {"fine", *faults}
    assert got["fine"]["error"] is None and got["fine"]["score"] > 0.9
    for name in faults:
        assert got[name]["score"] is None and got[name]["items"] == [], name
    assert got["malformed"]["error"].startswith("malformed reply (not JSON")
    assert got["malformed"]["attempts"] == 3  # the first ask and two more
    assert "500" in got["server-error"]["error"]
    assert "429" in got["rate-limited"]["error"] or "RateLimit" in got["rate-limited"]["error"]
    assert "Timeout" in got["slow"]["error"]
    assert got["refused"]["error"] == "the judge refused: I can't help with that."
    assert "1 judged" not in result.output and "5 without a score" in result.output
    # the sample page says why there is no score; results show none
    page = (project["root"] / "site" / "s" / "malformed" / "local" / "1" / "index.html").read_text()
    assert "No score: malformed reply" in page
    rows = [json.loads(line) for line in gallery(project, "results", "--json").output.splitlines()]
    assert {r["prompt"]: r["judge_score"] is None for r in rows} == {
        "fine": False,
        **dict.fromkeys(faults, True),
    }
    # a sample without screenshots on disk (a committed run keeps none) is not judged
    shots = next((project["root"] / "out" / "runs").glob("*/fine/local/1/shots"))
    for p in shots.iterdir():
        p.unlink()
    # errors are not cached: the next judge asks again for those five only
    server.reset_counts()
    again = gallery(project, "judge")
    assert "0 unchanged, 1 not rendered" in again.output
    assert server.requests == 3 + 1 + 1 + 1 + 1  # the malformed one is asked three times


def test_a_rubric_is_checked_like_any_prompt_field(tmp_path: Path) -> None:
    from gallery.catalogue.prompts import GENERIC_RUBRIC, load_prompt
    from gallery.errors import PromptError

    path = tmp_path / "p.toml"
    path.write_text(prompt_file("p", "x", '[[rubric]]\nitem = "A ball."\npoints = 11\n'))
    with pytest.raises(PromptError, match=r"rubric\[0\]\.points: must be at most 10"):
        load_prompt(path)
    path.write_text(prompt_file("p", "x", '[[rubric]]\nitem = "  "\n'))
    with pytest.raises(PromptError, match=r"rubric\[0\]\.item: must not be empty"):
        load_prompt(path)
    path.write_text(prompt_file("p", "x", "[[rubric]]\npoints = 2\n"))
    with pytest.raises(PromptError, match=r"rubric\[0\]\.item: is required"):
        load_prompt(path)
    path.write_text(prompt_file("p", "x"))
    assert load_prompt(path).judge_rubric == GENERIC_RUBRIC


def test_run_skips_the_judge_without_its_key(project: dict, monkeypatch) -> None:
    monkeypatch.delenv("JUDGE_TEST_KEY")
    (project["prompts"] / "good.toml").write_text(prompt_file("good", "Draw [page-good]."))
    result = gallery(project, "run", "--site", str(project["root"] / "site"))
    assert result.exit_code == 0, result.output
    assert "judge: skipped (the judge lane 'vision' needs its key in $JUDGE_TEST_KEY)" in (
        result.output
    )
    assert judgements(project) == {}
    bare = gallery(project, "judge")
    assert bare.exit_code == 2, bare.output
    assert bare.output.startswith("error: --judge: the judge lane"), bare.output
