"""Bad input, table-driven, through the real command line.

Every row is something a person gets wrong: a broken or mistyped config or
prompt file, an option that names nothing, a number out of range, a file that
cannot be imported, a place that cannot be written. Each must end with exit
code 2 and exactly one line of output that names the file or option at fault
and says what is wrong; never a traceback, never click's usage block.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from gallery.cli import cli

CONFIG = """
[defaults]
models = ["local"]

[models.local]
base_url = "http://127.0.0.1:9/v1"
model = "m"

[models.reference]
provider = "reference"
"""
PROMPT = 'id = "circle"\ntitle = "Circle"\nprompt = "Draw a circle."\n'
PAGE = "<!DOCTYPE html><html><body><h1>hello</h1></body></html>\n"


def write(path: Path, text: str | bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)


def config_with(text: str) -> Callable[[Path], None]:
    return lambda root: write(root / "gallery.toml", text)


def prompt_with(text: str) -> Callable[[Path], None]:
    return lambda root: write(root / "prompts" / "circle.toml", text)


def imported(root: Path) -> None:
    """A run to exist (for commands that need one)."""
    result = CliRunner().invoke(
        cli, ["import", "page.html", "--prompt", "circle", "--model", "chat"]
    )
    assert result.exit_code == 0, result.output


GEN = ["generate"]
IMPORT = ["import", "--prompt", "circle", "--model", "chat"]

# id: (command line, setup, fragments the one line must contain)
CASES: dict[str, tuple[list[str], Callable[[Path], None] | None, list[str]]] = {
    "broken TOML in the config": (
        GEN, config_with("[defaults\nmodels = ['local']\n"), ["gallery.toml", "invalid TOML", "line 1"]),
    "unknown key in the config": (
        GEN, config_with(CONFIG.replace("[defaults]", "[defaults]\nsamplez = 3")),
        ["gallery.toml", "defaults.samplez", "unknown key"]),
    "wrong type in the config": (
        GEN, config_with(CONFIG.replace("[defaults]", '[defaults]\nsamples = "three"')),
        ["gallery.toml", "defaults.samples", "integer"]),
    "model without base_url": (
        GEN, config_with('[models.local]\nmodel = "m"\n'), ["gallery.toml", "models.local.base_url", "required"]),
    "default model that is not configured": (
        GEN, config_with(CONFIG.replace('models = ["local"]', 'models = ["ghost"]')),
        ["gallery.toml", "defaults.models", "ghost"]),
    "config file missing": (
        ["generate", "--config", "nope.toml"], None, ["nope.toml", "not found"]),
    "prompts directory missing": (
        ["generate", "--prompts", "nope"], None, ["nope", "not found"]),
    "broken TOML in a prompt": (
        GEN, prompt_with('id = "circle"\ntitle = "a\n'), ["circle.toml", "invalid TOML"]),
    "unknown check kind": (
        GEN, prompt_with(PROMPT + '[[checks]]\nkind = "sparkles"\n'),
        ["circle.toml", "checks[0].kind", "sparkles"]),
    "prompt id that is not its file name": (
        GEN, prompt_with(PROMPT.replace('"circle"', '"square"', 1)), ["circle.toml", "id", "file name"]),
    "unknown key modifier": (
        GEN, prompt_with(PROMPT + '[[interact]]\nat = 1\nkey = "Ctrl+ArrowUp"\n'),
        ["circle.toml", "interact[0].key", "Ctrl"]),
    "budget out of range": (
        GEN, prompt_with(PROMPT + "[render]\nbudget = -5\n"), ["circle.toml", "render.budget"]),
    "unknown model": (
        [*GEN, "--model", "nope"], None, ["--model", "unknown model 'nope'"]),
    "unknown prompt": (
        [*GEN, "--prompt", "nope"], None, ["--prompt", "unknown prompt 'nope'"]),
    "reference asked for, no reference file": (
        [*GEN, "--model", "reference", "--prompt", "circle"], None,
        ["circle.reference.html", "no reference page", "--model reference"]),
    "zero samples": (
        [*GEN, "--samples", "0"], None, ["--samples", "at least 1"]),
    "negative samples": (
        [*GEN, "-n", "-3"], None, ["--samples", "at least 1"]),
    "samples not a number": (
        [*GEN, "--samples", "three"], None, ["--samples", "not a valid integer"]),
    "zero concurrency": (
        [*GEN, "--concurrency", "0"], None, ["--concurrency", "at least 1"]),
    "bad shard": (
        [*GEN, "--shard", "3/2"], None, ["--shard"]),
    "import: file that does not exist": (
        [*IMPORT, "nothere.html"], None, ["nothere.html", "cannot read", "No such file"]),
    "import: a directory": (
        [*IMPORT, "prompts"], None, ["prompts", "cannot read"]),
    "import: not HTML (binary)": (
        [*IMPORT, "pic.png"], None, ["pic.png", "does not look like an HTML page"]),
    "import: not HTML (text)": (
        [*IMPORT, "notes.txt"], None, ["notes.txt", "does not look like an HTML page"]),
    "import: lane that cannot be a folder": (
        ["import", "page.html", "--prompt", "circle", "--model", "../up"], None,
        ["--model", "cannot be a folder name"]),
    "import: no prompt given": (
        ["import", "page.html", "--model", "chat"], None, ["--prompt", "Missing option"]),
    "render: run that does not exist": (
        ["render", "--run", "nope"], None, ["--run", "no run 'nope'"]),
    "results: run that does not exist": (
        ["results", "--run", "nope"], imported, ["--run", "no run 'nope'"]),
    "render: no run at all": (
        ["render"], None, ["no runs yet"]),
    "output dir under a regular file": (
        ["generate", "--out", "afile/sub"], None, ["--out", "afile/sub", "Not a directory"]),
    "output dir is a regular file": (
        ["generate", "--out", "afile"], None, ["--out", "afile", "is a file"]),
    "site dir under a regular file": (
        ["build", "--site", "afile/sub"], imported, ["--site", "afile/sub", "Not a directory"]),
    "chromium that does not exist": (
        ["render", "--chromium", "/nonexistent/chrome"], imported, ["--chromium", "/nonexistent/chrome"]),
    "serve on a port that cannot exist": (
        ["serve", "--port", "99999"], None, ["--port", "99999"]),
    "unknown command": (
        ["frobnicate"], None, ["frobnicate"]),
}  # fmt: skip


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    write(tmp_path / "gallery.toml", CONFIG)
    write(tmp_path / "prompts" / "circle.toml", PROMPT)
    write(tmp_path / "page.html", PAGE)
    write(tmp_path / "afile", "a regular file\n")
    write(tmp_path / "pic.png", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR binary")
    write(tmp_path / "notes.txt", "just some notes, no markup at all\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("GALLERY_DEBUG", raising=False)
    return tmp_path


def test_there_are_enough_cases() -> None:
    assert len(CASES) >= 15


def test_a_chromium_that_cannot_start_is_one_line_and_exit_2(project: Path) -> None:
    """Found but failing at launch (a broken install): named, no traceback (one used to show)."""
    imported(project)
    broken = project / "broken-chrome"
    write(broken, "#!/bin/sh\necho 'Chromium 1.2.3'\nexit 1\n")
    broken.chmod(0o755)
    result = CliRunner().invoke(cli, ["render", "--chromium", str(broken)])
    assert result.exit_code == 2, f"exit {result.exit_code}: {result.output}{result.exception!r}"
    assert "Traceback" not in result.output
    last = result.output.strip().splitlines()[-1]
    assert last.startswith(f"error: {broken}: Chromium could not be launched"), result.output


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_is_one_line_and_exit_2(project: Path, case: str) -> None:
    argv, setup, fragments = CASES[case]
    if "--shard" in argv and "--shard" not in CliRunner().invoke(cli, ["generate", "-h"]).output:
        pytest.skip("--shard does not exist yet (it comes with `gallery merge`, issue #8)")
    if setup is not None:
        setup(project)
    result = CliRunner().invoke(cli, argv)
    output = result.output
    assert result.exit_code == 2, f"exit {result.exit_code}: {output}{result.exception!r}"
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in output
    lines = [line for line in output.splitlines() if line.strip()]
    assert len(lines) == 1, output
    assert lines[0].startswith("error: "), lines[0]
    missing = [f for f in fragments if f not in lines[0]]
    assert missing == [], lines[0]
