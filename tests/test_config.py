"""gallery.toml: presets load, pricing tiers cost honestly, malformed files name file and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from gallery.catalogue.config import load_config
from gallery.errors import ConfigError, UsageError


def test_shipped_presets_load(root: Path) -> None:
    config = load_config(root / "gallery.toml")
    assert config.defaults.models[0] == "reference"
    for name in (
        "qwen3-max-preview",
        "qwen3-max",
        "qwen3-max-openrouter",
        "reference",
        "ollama",
        "llamacpp",
    ):
        assert name in config.models
    assert config.models["reference"].is_reference
    assert config.models["qwen3-max-openrouter"].model == "qwen/qwen3-max"
    assert config.models["qwen3-max-preview"].api_key_env == "DASHSCOPE_API_KEY"


def test_two_line_model(tmp_path: Path) -> None:
    f = tmp_path / "g.toml"
    f.write_text('[models.local]\nbase_url = "http://127.0.0.1:1/v1"\nmodel = "m"\n')
    config = load_config(f)
    m = config.models["local"]
    assert (m.api, m.api_key_env, m.pricing, m.key_status) == ("chat", None, (), "not needed")
    assert config.defaults.models == ("local",)
    assert m.cost(10, 10) is None  # no pricing: unknown, never invented


def test_cost_tier_chosen_by_input_length(root: Path) -> None:
    m = load_config(root / "gallery.toml").models["qwen3-max-preview"]
    small = m.cost(10_000, 2_000)
    assert small.usd == pytest.approx(10_000 * 0.861 / 1e6)
    assert small.complete is False  # output price of the lowest tier was never published
    big = m.cost(200_000, 1_000)
    assert big.usd == pytest.approx(200_000 * 2.151 / 1e6 + 1_000 * 8.602 / 1e6)
    assert big.complete is True
    middle = m.cost(100_000, 10)
    assert (middle.usd, middle.complete) == (0.0, False)


def test_key_status_reads_env_without_storing(monkeypatch: pytest.MonkeyPatch, root: Path) -> None:
    m = load_config(root / "gallery.toml").models["qwen3-max"]
    monkeypatch.delenv("DASHSCOPE_API_KEY", raising=False)
    assert m.key_status == "missing"
    monkeypatch.setenv("DASHSCOPE_API_KEY", "sk-test-not-real")
    assert m.key_status == "set"
    assert "sk-test" not in repr(m)


def test_unknown_model_selection(root: Path) -> None:
    config = load_config(root / "gallery.toml")
    with pytest.raises(UsageError, match="unknown model 'nope'"):
        config.select(["nope"])


HEAD = '[models.m]\nbase_url = "http://x/v1"\nmodel = "m"\n'
BAD = [
    ("[models.m]\nmodel = 'm'\n", "models.m.base_url", "is required"),
    ("[models.m]\nbase_url = 'ftp://x'\nmodel = 'm'\n", "models.m.base_url", "http(s) URL"),
    (HEAD + "temprature = 1\n", "models.m.temprature", "unknown key"),
    (HEAD + "api = 'responses'\n", "models.m.api", "must be one of"),
    (HEAD + "api = 'completions'\n", "models.m.prompt_template", "is required"),
    (
        HEAD + "api = 'completions'\nprompt_template = 'no placeholder'\n",
        "models.m.prompt_template",
        "{prompt}",
    ),
    (
        HEAD + "params = { temperature = 'hot' }\n",
        "models.m.params.temperature",
        "must be a number",
    ),
    (HEAD + "params = { max_token = 5 }\n", "models.m.params.max_token", "unknown key"),
    (HEAD + "concurrency = 0\n", "models.m.concurrency", "at least 1"),
    (
        HEAD + "[[models.m.pricing]]\nup_to_input_tokens = 10\ninput_per_mtok = -1\n",
        "models.m.pricing[0].input_per_mtok",
        "negative",
    ),
    (
        HEAD
        + "[[models.m.pricing]]\nup_to_input_tokens = 10\n[[models.m.pricing]]\nup_to_input_tokens = 5\n",
        "models.m.pricing",
        "increasing",
    ),
    (HEAD + "provider = 'magic'\n", "models.m.provider", "must be one of"),
    (HEAD + "[defaults]\nmodels = ['other']\n", "defaults.models", "unknown model"),
    (HEAD + "[defaults]\nsamples = 0\n", "defaults.samples", "at least 1"),
    (HEAD + "[defaults]\nsample = 2\n", "defaults.sample", "unknown key"),
    ("[model.m]\n", "model", "unknown key"),
    ("[models\n", None, "invalid TOML"),
]


@pytest.mark.parametrize(("text", "field", "message"), BAD, ids=[b[1] or "toml" for b in BAD])
def test_malformed_config_names_file_and_field(
    tmp_path: Path, text: str, field: str | None, message: str
) -> None:
    f = tmp_path / "gallery.toml"
    f.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_config(f)
    assert info.value.source == str(f)
    assert info.value.field == field
    assert message in str(info.value)


def test_missing_config_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="file not found"):
        load_config(tmp_path / "nope.toml")
