"""The outputs/ store: atomic writes, partial leftovers, finding runs."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner

from gallery.cli import cli
from gallery.errors import RecordError, RunNotFound, UsageError
from gallery.records.fsutil import read_json, write_json
from gallery.records.store import Run, SampleKey, Store


def test_write_json_is_atomic_and_leaves_no_temp(tmp_path: Path) -> None:
    path = tmp_path / "a" / "run.json"
    write_json(path, {"n": 1})
    write_json(path, {"n": 2})
    assert read_json(path) == {"n": 2}
    assert [p.name for p in path.parent.iterdir()] == ["run.json"]
    assert stat.S_IMODE(path.stat().st_mode) & 0o044 == 0o044  # readable like any file


def test_failed_write_keeps_the_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "run.json"
    write_json(path, {"ok": True})

    def crash(src, dst):
        raise OSError("killed before the rename")

    monkeypatch.setattr("gallery.records.fsutil.os.replace", crash)
    with pytest.raises(OSError, match="killed"):
        write_json(path, {"ok": False})
    monkeypatch.undo()
    assert read_json(path) == {"ok": True}
    assert [p.name for p in tmp_path.iterdir()] == ["run.json"]


def test_write_sample_is_whole_or_nothing(tmp_path: Path) -> None:
    run = Store(tmp_path).new_run("r1")
    key = SampleKey("circle", "local", 1)

    def fill(tmp: Path) -> None:
        (tmp / "artifact").mkdir()
        (tmp / "artifact" / "index.html").write_text("<p>hi</p>")

    sample = run.write_sample(key, {"reply.json": json.dumps({"status": "ok"})}, fill)
    assert sample.reply == {"status": "ok"} and sample.runnable
    assert stat.S_IMODE(sample.path.stat().st_mode) & 0o055 == 0o055

    def broken(tmp: Path) -> None:
        (tmp / "artifact").mkdir()
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        run.write_sample(key, {"reply.json": json.dumps({"status": "new"})}, broken)
    assert sample.reply == {"status": "ok"} and sample.runnable  # old sample intact
    assert sorted(p.name for p in sample.path.parent.iterdir()) == ["1"]  # no temp left

    run.write_sample(key, {"reply.json": json.dumps({"status": "replaced"})})
    assert sample.reply == {"status": "replaced"} and not sample.runnable
    assert sorted(p.name for p in sample.path.parent.iterdir()) == ["1"]


def test_write_sample_refuses_escaping_paths(tmp_path: Path) -> None:
    run = Store(tmp_path).new_run("r1")
    with pytest.raises(UsageError, match="outside the sample"):
        run.write_sample(SampleKey("p", "m", 1), {"../../evil.txt": "x"})
    with pytest.raises(UsageError, match="folder name"):
        run.write_sample(SampleKey("..", "m", 1), {"reply.json": "{}"})
    assert not (tmp_path / "runs" / "evil.txt").exists()


def test_partial_leftovers_are_ignored_then_cleaned(tmp_path: Path) -> None:
    run = Store(tmp_path).new_run("r1")
    run.write_sample(SampleKey("p", "m", 1), {"reply.json": "{}"})
    tmp = run.path / "p" / "m" / ".2.tmp-x1y2"
    tmp.mkdir()
    (tmp / "reply.json").write_text("{}")
    old = run.path / "p" / "m" / ".1.old-123-456"
    old.mkdir()
    shots = run.path / "p" / "m" / "1" / ".shots-new-9"
    shots.mkdir()
    assert [s.key for s in run.samples()] == [SampleKey("p", "m", 1)]
    assert not run.has_sample(SampleKey("p", "m", 2))
    assert run.clean_partial() == 2
    assert not tmp.exists() and not old.exists() and not shots.exists()
    assert run.has_sample(SampleKey("p", "m", 1))
    assert run.clean_partial() == 0


def test_samples_are_sorted_by_prompt_model_index(tmp_path: Path) -> None:
    run = Store(tmp_path).new_run("r1")
    for key in [SampleKey("b", "m", 10), SampleKey("a", "z", 1), SampleKey("b", "m", 2)]:
        run.write_sample(key, {"reply.json": "{}"})
    assert [s.key.label for s in run.samples()] == ["a/z/1", "b/m/2", "b/m/10"]


def test_open_run_by_id_latest_and_path(tmp_path: Path) -> None:
    store = Store(tmp_path / "out")
    with pytest.raises(RunNotFound, match="no runs yet"):
        store.open_run("latest")
    old, new = store.new_run("r-old"), store.new_run("r-new")
    old.save_manifest({"id": old.id, "started_at": "2025-01-01T00:00:00+00:00"})
    new.save_manifest({"id": new.id, "started_at": "2025-02-01T00:00:00+00:00"})
    store.new_run("r-empty")  # no run.json: not a run yet
    assert store.open_run("latest").id == "r-new"
    assert store.open_run(None).id == "r-new"
    assert store.open_run("r-old").path == old.path
    assert store.open_run(str(old.path)).id == "r-old"
    assert [r.id for r in store.runs()] == ["r-old", "r-new"]
    for ref in ("nope", "r-empty", "../r-old", str(tmp_path / "missing")):
        with pytest.raises(RunNotFound) as err:
            store.open_run(ref)
        assert err.value.exit_code == 2


def test_new_run_ids_are_unique_and_valid(tmp_path: Path) -> None:
    store = Store(tmp_path)
    ids = {store.new_run().id for _ in range(3)}
    assert len(ids) == 3
    with pytest.raises(UsageError, match="invalid run id"):
        store.new_run("../x")


def test_manifest_update_merges(tmp_path: Path) -> None:
    run = Run(tmp_path / "r")
    assert run.manifest() == {}
    run.save_manifest({"id": "r", "status": "running"})
    assert run.update_manifest(status="generated") == {"id": "r", "status": "generated"}
    assert read_json(run.manifest_path)["status"] == "generated"
    assert not [p for p in os.listdir(run.path) if p.endswith(".tmp")]


def test_run_json_has_one_shape_whatever_wrote_it(tmp_path: Path) -> None:
    """Older writers listed imported prompts as bare ids: readers see {id} entries."""
    run = Store(tmp_path).new_run("r1")
    run.manifest_path.write_text(
        json.dumps({"id": "r1", "prompts": ["circle", {"id": "hex", "sha256": "ab"}]})
    )
    assert run.manifest()["prompts"] == [{"id": "circle"}, {"id": "hex", "sha256": "ab"}]
    assert run.record().prompt_ids == ["circle", "hex"]
    run.update_manifest(status="finished")
    on_disk = json.loads(run.manifest_path.read_text())
    assert on_disk["prompts"][0] == {"id": "circle"} and on_disk["status"] == "finished"


def test_a_bad_run_json_is_one_line_naming_file_and_field(tmp_path: Path) -> None:
    run = Store(tmp_path / "outputs").new_run("r1")
    run.manifest_path.write_text(json.dumps({"id": "r1", "models": [{"name": 3}]}))
    with pytest.raises(RecordError) as err:
        run.manifest()
    assert err.value.field == "models[0].name" and "Expected `str`" in err.value.message
    result = CliRunner().invoke(cli, ["results", "--out", str(tmp_path / "outputs")])
    assert result.exit_code == 2
    assert result.output.strip() == (
        f"error: {run.manifest_path}: models[0].name: Expected `str`, got `int`"
    )
    with pytest.raises(RecordError, match="unknown|Expected"):
        run.update_manifest(status=7)


def test_sample_records_are_validated_when_read(tmp_path: Path) -> None:
    """A verdict that is not one gallery writes is a RecordError naming file and field;
    `gallery results` says so in one line (exit 2), the site shows the sample unjudged."""
    from gallery.site.build import build_site

    out = tmp_path / "outputs"
    run = Store(out).new_run("r1")
    run.save_manifest({"id": "r1", "status": "finished"})
    key = SampleKey("circle", "local", 1)
    sample = run.write_sample(key, {"reply.json": json.dumps({"status": "ok"})})
    (sample.path / "verdict.json").write_text(json.dumps({"passed": "yes", "score": 1}))
    with pytest.raises(RecordError) as err:
        _ = sample.verdict
    assert err.value.field == "passed" and str(sample.path / "verdict.json") in str(err.value)
    result = CliRunner().invoke(cli, ["results", "--run", "r1", "--out", str(out)])
    assert result.exit_code == 2 and result.output.count("\n") == 1
    assert result.output.startswith(f"error: {sample.path / 'verdict.json'}: passed: Expected")
    report = build_site(run, {}, None, tmp_path / "site")
    assert "circle" in report.index.read_text()
