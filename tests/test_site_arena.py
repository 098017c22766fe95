"""The arena: votes by clicking in a real Chromium, the vote API over real HTTP,
hostile votes refused, ratings that recover known strengths.

The served site is ``test_site.make_run``'s run (two model lanes and the references,
two prompts), built and served by ``site.serve.make_server`` with an ``Arena``.
"""

from __future__ import annotations

import json
import re
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from playwright.sync_api import Page, expect
from test_site import make_run

from gallery.arena.ratings import ANCHOR, ELO_SCALE, ratings
from gallery.arena.service import Arena
from gallery.cli import cli
from gallery.records.store import Store
from gallery.records.votes import Side, Vote, VoteLog
from gallery.site.build import build_site
from gallery.site.serve import make_server


class Served:
    def __init__(self, base: Path, *, arena: bool = True):
        self.base = base
        self.out = base / "outputs"
        store = Store(self.out)
        self.run = store.open_run("latest")
        self.server = make_server(base / "site", 0, arena=Arena(store, self.run) if arena else None)
        threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        ).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def post(self, body: bytes | str, headers: dict | None = None) -> tuple[int, dict]:
        data = body.encode() if isinstance(body, str) else body
        req = urllib.request.Request(
            self.url + "api/votes",
            data=data,
            headers={"Content-Type": "application/json", **(headers or {})},
        )
        try:
            with urllib.request.urlopen(req, timeout=20) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read() or b"{}")

    def get(self, path: str) -> tuple[int, dict]:
        try:
            with urllib.request.urlopen(self.url + path, timeout=20) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read() or b"{}")


@pytest.fixture
def site(tmp_path: Path) -> Path:
    run, catalogue, config = make_run(tmp_path)
    build_site(run, catalogue, config, tmp_path / "site")
    return tmp_path


@pytest.fixture
def served(site: Path) -> Iterator[Served]:
    s = Served(site)
    try:
        yield s
    finally:
        s.stop()


def vote(a: str = "model-a", b: str = "model-b", winner: str = "a", **extra) -> dict:
    return {"prompt": "bounce", "a": {"model": a, "sample": 1}, "b": {"model": b, "sample": 1},
            "winner": winner, **extra}  # fmt: skip


def lines(served: Served) -> list[dict]:
    path = served.out / "votes.jsonl"
    return [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []


def test_votes_cast_by_clicking_land_in_the_file(page: Page, served: Served) -> None:
    page.goto(served.url + "arena.html")
    left = page.locator("#arena-left-frame")
    expect(left).to_have_attribute("src", re.compile(r"/artifact/index\.html$"))
    expect(page.locator("#arena-left-name")).to_be_hidden()
    assert left.get_attribute("sandbox") == "allow-scripts"
    shown = [page.locator(f"#arena-{s}-frame").get_attribute("src") for s in ("left", "right")]
    page.get_by_role("button", name="← Left is better").click()
    expect(page.locator("#arena-status")).to_have_text("Vote recorded.")
    expect(page.locator("#arena-left-name")).to_be_visible()
    page.get_by_role("button", name="Next pair").click()
    expect(page.get_by_role("button", name="Tie")).to_be_enabled()
    page.get_by_role("button", name="Tie").click()
    expect(page.locator("#arena-status")).to_have_text("Vote recorded.")
    got = lines(served)
    assert [v["winner"] for v in got] == ["a", "tie"]
    first = got[0]
    assert first["run"] == served.run.id and first["id"] and first["at"].endswith("+00:00")
    assert shown == [
        f"s/{first['prompt']}/{first[side]['model']}/{first[side]['sample']}/artifact/index.html"
        for side in ("a", "b")
    ]
    for v in got:  # two lanes, never the references unless asked for
        assert v["a"]["model"] != v["b"]["model"]
        assert "reference" not in (v["a"]["model"], v["b"]["model"])


def test_concurrent_votes_are_whole_lines(served: Served) -> None:
    with ThreadPoolExecutor(max_workers=25) as pool:
        results = list(pool.map(lambda n: served.post(json.dumps(vote(voter=f"v{n}"))), range(50)))
    assert all(code == 200 for code, _ in results), results[:3]
    got = lines(served)
    assert len(got) == 50 and len({v["id"] for v in got}) == 50
    assert sorted(v["voter"] for v in got) == sorted(f"v{n}" for n in range(50))


@pytest.mark.parametrize(
    ("body", "code", "says"),
    [
        ("not json", 400, "not JSON"),
        ("[]", 400, "Expected `object`"),
        (json.dumps(vote(winner="left")), 400, "winner"),
        (json.dumps({**vote(), "a": {"model": "model-a", "sample": "1"}}), 400, "a.sample"),
        (json.dumps(vote(a="model-a", b="model-a")), 400, "the same lane"),
        (json.dumps(vote(a="nobody")), 400, "a: run 20250101-000000 has no sample"),
        (json.dumps({**vote(), "prompt": "nothing"}), 400, "no prompt 'nothing'"),
        (json.dumps(vote(a="../../etc")), 400, "a.model"),
        (json.dumps({**vote(), "prompt": "../bounce"}), 400, "prompt"),
        (json.dumps(vote(run="../../x")), 400, "run"),
        (json.dumps(vote(run="20990101-000000")), 400, "no run"),
        (json.dumps(vote(extra=1)), 400, "unknown field"),
        (json.dumps(vote(voter="x" * 500)), 400, "voter"),
        (json.dumps(vote(voter="x" * 5000)), 413, "at most 4096 bytes"),
    ],
)
def test_bad_votes_are_refused_and_write_nothing(
    served: Served, body: str, code: int, says: str
) -> None:
    served.post(json.dumps(vote()))
    before = (served.out / "votes.jsonl").read_bytes()
    got, reply = served.post(body)
    assert got == code and says in reply["error"], reply
    assert "\n" not in reply["error"]
    assert (served.out / "votes.jsonl").read_bytes() == before


def test_a_restart_keeps_every_vote_and_ratings_read_them(site: Path) -> None:
    first = Served(site)
    for winner in ("a", "a", "b", "tie", "both-bad"):
        assert first.post(json.dumps(vote(winner=winner)))[0] == 200
    first.stop()
    again = Served(site)
    try:
        assert again.post(json.dumps(vote(winner="a")))[0] == 200
        code, pair = again.get("api/pair")
        assert code == 200 and pair["a"]["model"] != pair["b"]["model"]
    finally:
        again.stop()
    assert len(list(VoteLog(site / "outputs"))) == 6
    out = CliRunner().invoke(
        cli, ["ratings", "--json", "--out", str(site / "outputs"), "--prompts",
              str(site / "prompts"), "--config", str(site / "gallery.toml")]
    )  # fmt: skip
    assert out.exit_code == 0, out.output
    data = json.loads(out.output)
    by = {m["model"]: m for m in data["models"]}
    assert set(by) == {"model-a", "model-b"} and by["model-a"]["votes"] == 6
    assert by["model-a"]["rating"] > 1000 > by["model-b"]["rating"]
    assert by["model-a"]["ci_low"] <= by["model-a"]["rating"] <= by["model-a"]["ci_high"]
    # a won 3, b won 1, two halves each: 4/6 for a
    assert by["model-a"]["win_rate"] == pytest.approx(4 / 6, abs=1e-3)
    assert set(data["agreement"]) == {"checks", "judge"}
    assert data["agreement"]["judge"]["pairs"] == 0  # nothing was judged


def test_a_torn_last_line_is_skipped_and_the_next_vote_starts_afresh(served: Served) -> None:
    served.post(json.dumps(vote()))
    with open(served.out / "votes.jsonl", "ab") as fh:
        fh.write(b'{"prompt": "bounce", "a": {"mod')  # a crash in the middle of a write
    assert served.post(json.dumps(vote(winner="b")))[0] == 200
    assert [v.winner for v in VoteLog(served.out)] == ["a", "b"]


def test_the_static_site_keeps_votes_in_the_browser_and_they_import_once(
    page: Page, site: Path, tmp_path: Path
) -> None:
    plain = Served(site, arena=False)  # a static host: no API
    try:
        page.goto(plain.url + "arena.html")
        expect(page.get_by_role("button", name="Both bad")).to_be_enabled()
        page.get_by_role("button", name="Both bad").click()
        expect(page.locator("#arena-status")).to_have_text(
            "Kept in this browser (no vote server here)."
        )
        link = page.locator("#arena-download")
        expect(link).to_have_text("1 vote(s) kept in this browser: download them")
        with page.expect_download() as dl:
            link.click()
        saved = tmp_path / "votes.jsonl"
        dl.value.save_as(saved)
    finally:
        plain.stop()
    assert not (site / "outputs" / "votes.jsonl").exists()
    args = ["--out", str(site / "outputs"), "--prompts", str(site / "prompts"),
            "--config", str(site / "gallery.toml")]  # fmt: skip
    first = CliRunner().invoke(cli, ["votes", "import", str(saved), *args])
    assert first.exit_code == 0 and "1 added, 0 already there" in first.output, first.output
    second = CliRunner().invoke(cli, ["votes", "import", str(saved), *args])
    assert "0 added, 1 already there" in second.output
    assert [v.winner for v in VoteLog(site / "outputs")] == ["both-bad"]
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps(vote(a="ghost", run="20250101-000000")) + "\n")
    refused = CliRunner().invoke(cli, ["votes", "import", str(bad), *args])
    assert refused.exit_code == 2
    assert refused.output.startswith(f"error: {bad}: vote 1: a: run 20250101-000000 has no")


def test_ratings_recover_known_strengths() -> None:
    """Votes drawn from known Bradley-Terry strengths (10% ties): the order comes back in
    every seed, and the 95% intervals cover the true ratings in most cases."""
    true = {"m0": 1.2, "m1": 0.6, "m2": 0.0, "m3": -0.5, "m4": -1.3}
    names = list(true)
    mean = np.mean(list(true.values()))
    covered = total = 0
    for seed in range(5):
        rng = np.random.default_rng(seed)
        votes = []
        for _ in range(600):
            x, y = rng.choice(5, 2, replace=False)
            p = 1 / (1 + np.exp(-(true[names[x]] - true[names[y]])))
            winner = "tie" if rng.random() < 0.1 else ("a" if rng.random() < p else "b")
            votes.append(Vote(prompt="p", a=Side(names[x], 1), b=Side(names[y], 1), winner=winner))
        rated = ratings(votes, bootstrap=200, seed=seed)
        assert [r.model for r in rated] == names, seed
        for r in rated:
            truth = ANCHOR + ELO_SCALE * (true[r.model] - mean)
            covered += r.ci_low <= truth <= r.ci_high
            total += 1
    assert covered / total >= 0.7, (covered, total)
    # and with few votes the intervals are wide
    few = ratings(votes[:12], bootstrap=200)
    assert max(r.ci_high - r.ci_low for r in few) > 150


def test_pairs_leave_the_references_out_unless_asked(served: Served) -> None:
    plain = [served.get("api/pair")[1] for _ in range(20)]
    asked = [served.get("api/pair?refs=1")[1] for _ in range(30)]
    lanes = lambda pairs: {p[s]["model"] for p in pairs for s in ("a", "b")}  # noqa: E731
    assert lanes(plain) == {"model-a", "model-b"}
    assert "reference" in lanes(asked)
    assert all(p["a"]["model"] != p["b"]["model"] for p in plain + asked)
