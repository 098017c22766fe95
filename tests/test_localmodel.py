"""The local model lane helper: GGUF discovery and the server command, without the model."""

from __future__ import annotations

import sys
import types
from pathlib import Path

import pytest

from gallery.catalogue.config import load_config
from gallery.errors import UsageError
from gallery.generate import localmodel


def test_gguf_path_comes_from_the_package(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    gguf = tmp_path / "gemma-3-270m-q4_k_m.gguf"
    fake = types.ModuleType(localmodel.PACKAGE)
    fake.assemble = lambda: str(gguf)  # the package joins its chunks and returns the path
    monkeypatch.setitem(sys.modules, localmodel.PACKAGE, fake)
    assert localmodel.gguf_path() == gguf


def test_gguf_path_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, localmodel.PACKAGE, None)  # import fails
    with pytest.raises(UsageError, match=r"\.\[local\]"):
        localmodel.gguf_path()


def test_server_serves_where_the_lane_points(root: Path) -> None:
    """gallery.toml's lane, the server command and the cache key agree on URL and name."""
    argv = localmodel.server_argv(Path("/m/x.gguf"), ["--n_threads", "2"])
    assert argv[1:4] == ["-m", "llama_cpp.server", "--model"]
    opts = dict(zip(argv[3::2], argv[4::2], strict=False))
    assert opts["--model"] == "/m/x.gguf"
    assert opts["--host"] == "127.0.0.1"
    assert opts["--n_threads"] == "2"
    lane = load_config(root / "gallery.toml").models["gemma3-270m"]
    assert lane.base_url == f"http://{opts['--host']}:{opts['--port']}/v1"
    assert lane.model == opts["--model_alias"]
    assert lane.api == "completions" and lane.api_key_env is None
    assert lane.params["max_tokens"] < localmodel.N_CTX - 512  # room for the prompt


@pytest.mark.parametrize(
    ("template", "fence"),
    [
        ("Request: {prompt}\n\n```html\n", "```html"),
        ("{prompt}\n~~~~js\n", "~~~~js"),
        ("{prompt}\n```html\n<p>x</p>\n```\nAnswer:\n", ""),  # closed again
        ("```html\n{prompt}\n```\n", ""),  # the fence is around the prompt
        ("<|user|>{prompt}<|assistant|>", ""),
        ("{prompt}\n```html", ""),  # no newline: the model would write the language
    ],
)
def test_open_fence_of_a_completion_template(template: str, fence: str) -> None:
    from gallery.catalogue.config import ModelSpec

    spec = ModelSpec("m", "http://x/v1", "m", api="completions", prompt_template=template)
    assert spec.open_fence == fence
    assert ModelSpec("m", "http://x/v1", "m", prompt_template=template).open_fence == ""


def test_the_gemma_lane_continues_an_html_block(root: Path) -> None:
    lane = load_config(root / "gallery.toml").models["gemma3-270m"]
    assert lane.open_fence == "```html"
    assert "```" in lane.params["stop"]
