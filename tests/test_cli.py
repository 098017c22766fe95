"""The CLI skeleton: help everywhere, listings, one-line errors with exit 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from gallery.cli import cli

COMMANDS = [
    ["run"],
    ["generate"],
    ["render"],
    ["build"],
    ["import"],
    ["results"],
    ["compare"],
    ["baseline", "set"],
    ["libs", "prefetch"],
    ["merge"],
    ["serve"],
    ["models"],
    ["prompts"],
    ["doctor"],
]


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_every_command_has_help_and_common_options(runner: CliRunner, command: list[str]) -> None:
    result = runner.invoke(cli, [*command, "--help"])
    assert result.exit_code == 0, result.output
    for option in ("--config", "--prompts", "--out"):
        assert option in result.output
    # the first help line explains the command (not just its name)
    assert len(result.output.split("\n\n")[1].strip()) > 20


def test_prompts_lists_catalogue(
    runner: CliRunner, root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(root)
    result = runner.invoke(cli, ["prompts"], terminal_width=200)
    assert result.exit_code == 0, result.output
    for pid in ("voxel-pagoda", "spinning-hexagon", "angry-birds", "hypercube-4d"):
        assert pid in result.output


def test_models_shows_key_status_not_key(
    runner: CliRunner, root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(root)
    monkeypatch.setenv("DASHSCOPE_API_KEY", "sk-very-secret-test-value")
    monkeypatch.delenv("OPENROUTER_API_KEY", raising=False)
    result = runner.invoke(cli, ["models"], terminal_width=250)
    assert result.exit_code == 0, result.output
    assert "sk-very-secret" not in result.output
    # The table fits 100 columns and never cuts a name people type into --model.
    assert max(len(line) for line in result.output.splitlines()) <= 100
    names = {line.split("│")[1].strip() for line in result.output.splitlines() if "│" in line}
    assert {"qwen3-max-preview", "qwen3-max-openrouter", "reference"} <= names
    listed = runner.invoke(cli, ["models", "--json"])
    assert listed.exit_code == 0, listed.output
    assert "sk-very-secret" not in listed.output
    rows = {row["name"]: row for row in map(json.loads, listed.output.splitlines())}
    assert rows["qwen3-max-preview"]["key"] == "set"
    assert rows["qwen3-max-preview"]["key_env"] == "DASHSCOPE_API_KEY"
    assert rows["qwen3-max-openrouter"]["key"] == "missing"
    assert rows["reference"]["key"] == "not needed"


def test_prompts_lists_as_json(
    runner: CliRunner, root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(root)
    listed = runner.invoke(cli, ["prompts", "--json"])
    assert listed.exit_code == 0, listed.output
    rows = {row["id"]: row for row in map(json.loads, listed.output.splitlines())}
    assert rows["spinning-hexagon"]["interact"] >= 1 and rows["spinning-hexagon"]["reference"]
    assert {"name": "runs", "required": True} in rows["spinning-hexagon"]["checks"]
    table = runner.invoke(cli, ["prompts"], terminal_width=250)
    assert max(len(line) for line in table.output.splitlines()) <= 100
    assert "spinning-hexagon-10-balls" in table.output


def test_own_config_and_prompts_dirs(runner: CliRunner, tmp_path: Path) -> None:
    (tmp_path / "p").mkdir()
    (tmp_path / "p" / "circle.toml").write_text(
        'id = "circle"\ntitle = "Circle"\nprompt = "Draw."\n'
    )
    (tmp_path / "my.toml").write_text(
        '[models.mine]\nbase_url = "http://127.0.0.1:9/v1"\nmodel = "x"\n'
    )
    r1 = runner.invoke(cli, ["prompts", "--prompts", str(tmp_path / "p")], terminal_width=200)
    assert "circle" in r1.output and r1.exit_code == 0
    r2 = runner.invoke(cli, ["models", "--config", str(tmp_path / "my.toml")], terminal_width=200)
    assert "mine" in r2.output and r2.exit_code == 0


def test_bad_config_is_one_line_exit_2(runner: CliRunner, tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[models.m]\nbase_url = "http://x/v1"\nmodel = "m"\ntemprature = 1\n')
    result = runner.invoke(cli, ["models", "--config", str(bad)])
    assert result.exit_code == 2
    assert result.output.strip() == f"error: {bad}: models.m.temprature: unknown key " + (
        "(allowed: api, api_key_env, base_url, concurrency, label, model, params, pricing, "
        "prompt_template, provider, structured_output, timeout)"
    )
    assert "Traceback" not in result.output


def test_missing_prompts_dir_exit_2(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(cli, ["prompts", "--prompts", str(tmp_path / "none")])
    assert result.exit_code == 2
    assert "prompt directory not found" in result.output


def test_debug_env_shows_traceback(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GALLERY_DEBUG", "1")
    result = runner.invoke(cli, ["models", "--config", str(tmp_path / "none.toml")])
    assert result.exit_code != 0
    assert result.exception is not None and "file not found" in str(result.exception)


def test_doctor_green_after_setup(
    runner: CliRunner, root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(root)
    result = runner.invoke(cli, ["doctor"])
    assert result.exit_code == 0, result.output
    assert "ok    chromium launch" in result.output


def test_doctor_names_the_judge_lane_and_its_key(
    runner: CliRunner, root: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(root)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    config = tmp_path / "g.toml"
    config.write_text(
        (root / "gallery.toml")
        .read_text()
        .replace("[defaults]\n", '[defaults]\njudge = "gpt-4-1-judge"\n', 1)
    )
    result = runner.invoke(cli, ["doctor", "--config", str(config)], terminal_width=100)
    assert "judge gpt-4-1-judge" in result.output
    assert "OPENAI_API_KEY missing: `gallery run` skips the judge step" in result.output


def test_doctor_fails_without_browser(
    runner: CliRunner, root: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(root)
    result = runner.invoke(cli, ["doctor", "--chromium", str(tmp_path / "no-chromium")])
    assert result.exit_code == 1
    assert "FAIL  chromium" in result.output


def test_results_fit_100_columns_and_name_the_failing_checks(
    runner: CliRunner, root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The committed baseline run: 23 different checks, each row still fits."""
    import json

    monkeypatch.chdir(root)
    run_id = json.loads((root / "outputs" / "baseline.json").read_text())["run"]
    result = runner.invoke(cli, ["results", "--run", run_id])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert max(len(line) for line in lines) <= 100
    assert "failing checks" in lines[1]
    gemma = next(line for line in lines if "angry-birds" in line and "gemma3-270m" in line)
    assert "no" in gemma and "runs" in result.output
    json_rows = runner.invoke(cli, ["results", "--run", run_id, "--json"]).output.splitlines()
    first = json.loads(json_rows[0])
    assert set(first) == {
        "prompt",
        "model",
        "sample",
        "source",
        "status",
        "passed",
        "score",
        "checks",
        "judge_score",
    }
    assert first["judge_score"] is None  # the committed gallery has no judge lane
