"""``gallery.toml``: model endpoints, pricing and run defaults.

Users point ``--config`` at their own file, which may be as short as two lines
per model (``base_url`` and ``model``). Keys are read from the environment at
call time and never stored: the config names the variable, not the secret.
Prices come from configuration only; a tier with no published price makes the
cost *incomplete* rather than invented.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gallery.catalogue.tomlcheck import check_keys, read_toml, typed
from gallery.errors import ConfigError, UsageError

DEFAULT_SYSTEM_PROMPT = (
    "You are an expert front-end developer. Answer with one complete, self-contained HTML file "
    "(inline CSS and JavaScript) in a single ```html code block. You may load libraries from a "
    "public CDN (jsDelivr, unpkg or cdnjs) with <script> or an import map. The page must run by "
    "itself when opened in a browser, with no build step and no server."
)

PROVIDERS = ("openai", "reference")
APIS = ("chat", "completions")

_TOP_KEYS = {"defaults", "models"}
_DEFAULT_KEYS = {"models", "samples", "concurrency", "system_prompt", "timeout", "max_retries"}
_MODEL_KEYS = {
    "base_url",
    "model",
    "api_key_env",
    "api",
    "prompt_template",
    "params",
    "pricing",
    "concurrency",
    "provider",
    "label",
    "timeout",
}
_PARAM_KEYS = {
    "temperature",
    "max_tokens",
    "top_p",
    "seed",
    "stop",
    "presence_penalty",
    "frequency_penalty",
    "extra_body",
}
_TIER_KEYS = {"up_to_input_tokens", "input_per_mtok", "output_per_mtok"}


@dataclass(frozen=True)
class PricingTier:
    """USD per million tokens for requests whose input is at most ``up_to_input_tokens``."""

    up_to_input_tokens: int | None = None
    input_per_mtok: float | None = None
    output_per_mtok: float | None = None


@dataclass(frozen=True)
class Cost:
    """What a request cost; ``complete`` is False when a needed price was never published."""

    usd: float
    complete: bool


@dataclass(frozen=True)
class ModelSpec:
    """One lane of the gallery: an OpenAI-compatible endpoint or the hand-written references."""

    name: str
    base_url: str = ""
    model: str = ""
    api_key_env: str | None = None
    api: str = "chat"
    prompt_template: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    pricing: tuple[PricingTier, ...] = ()
    concurrency: int | None = None
    provider: str = "openai"
    label: str = ""
    timeout: float | None = None

    @property
    def is_reference(self) -> bool:
        return self.provider == "reference"

    @property
    def open_fence(self) -> str:
        """The code fence a completion template leaves open (``"```html"``), else "".

        A base model's template may end by opening the answer's code block, so
        that the model's continuation *is* the block's contents: extraction
        reads the reply as that block (see ``replies.finish_record``).
        """
        if self.api != "completions" or not self.prompt_template:
            return ""
        template = self.prompt_template
        fences = re.findall(r"^[ \t]*(```+|~~~+)[ \t]*([\w+-]*)[ \t]*$", template, re.M)
        if len(fences) % 2 == 0 or not template.endswith("\n"):
            return ""
        mark, lang = fences[-1]
        return f"{mark}{lang}"

    @property
    def display(self) -> str:
        if self.is_reference:
            return self.label or "reference (hand-written)"
        return self.label or self.name

    def api_key(self) -> str | None:
        """The key from the environment, or None. Never stored, never logged."""
        if not self.api_key_env:
            return None
        return os.environ.get(self.api_key_env) or None

    @property
    def key_status(self) -> str:
        """'set', 'missing' or 'not needed' — for listings; never the key itself."""
        if self.is_reference or not self.api_key_env:
            return "not needed"
        return "set" if self.api_key() else "missing"

    def cost(self, prompt_tokens: int, completion_tokens: int) -> Cost | None:
        """Cost from the tier chosen by the request's input length; None with no pricing."""
        if not self.pricing:
            return None
        tier = None
        for t in self.pricing:
            if t.up_to_input_tokens is None or prompt_tokens <= t.up_to_input_tokens:
                tier = t
                break
        if tier is None:
            return Cost(0.0, False)
        usd, complete = 0.0, True
        for tokens, price in (
            (prompt_tokens, tier.input_per_mtok),
            (completion_tokens, tier.output_per_mtok),
        ):
            if price is None:
                complete = complete and tokens == 0
            else:
                usd += tokens * price / 1_000_000
        return Cost(round(usd, 8), complete)


@dataclass(frozen=True)
class Defaults:
    """What ``gallery run`` uses when no option says otherwise."""

    models: tuple[str, ...] = ("reference",)
    samples: int = 1
    concurrency: int = 4
    system_prompt: str = DEFAULT_SYSTEM_PROMPT
    timeout: float = 600.0
    max_retries: int = 3


@dataclass(frozen=True)
class Config:
    path: Path
    defaults: Defaults
    models: dict[str, ModelSpec]

    def select(self, names: tuple[str, ...] | list[str]) -> list[ModelSpec]:
        """The models named (the defaults when empty); UsageError naming an unknown one."""
        names = list(names) or list(self.defaults.models)
        out = []
        for name in names:
            if name not in self.models:
                raise UsageError(
                    f"unknown model {name!r} (configured in {self.path}: {', '.join(self.models)})",
                    field="--model",
                )
            out.append(self.models[name])
        return out


def _positive_int(value: Any, *, source: Path, field: str) -> int:
    v = typed(value, int, source=source, field=field, error=ConfigError)
    if v < 1:
        raise ConfigError(f"must be at least 1, got {v}", source=source, field=field)
    return v


def _pricing(raw: Any, source: Path, where: str) -> tuple[PricingTier, ...]:
    if isinstance(raw, dict):
        raw = [raw]
    tiers = typed(raw, list, source=source, field=where, error=ConfigError)
    out = []
    for i, t in enumerate(tiers):
        w = f"{where}[{i}]"
        t = typed(t, dict, source=source, field=w, error=ConfigError)
        check_keys(t, _TIER_KEYS, source=source, where=w, error=ConfigError)
        kw: dict[str, Any] = {}
        if "up_to_input_tokens" in t:
            kw["up_to_input_tokens"] = _positive_int(
                t["up_to_input_tokens"], source=source, field=f"{w}.up_to_input_tokens"
            )
        for k in ("input_per_mtok", "output_per_mtok"):
            if k in t:
                v = typed(t[k], float, source=source, field=f"{w}.{k}", error=ConfigError)
                if v < 0:
                    raise ConfigError("must not be negative", source=source, field=f"{w}.{k}")
                kw[k] = v
        out.append(PricingTier(**kw))
    bounds = [t.up_to_input_tokens for t in out]
    finite = [b for b in bounds if b is not None]
    if finite != sorted(finite) or None in bounds[:-1]:
        raise ConfigError(
            "tiers must be in increasing up_to_input_tokens order (only the last may omit it)",
            source=source,
            field=where,
        )
    return tuple(out)


def _model(name: str, raw: Any, source: Path) -> ModelSpec:
    where = f"models.{name}"
    raw = typed(raw, dict, source=source, field=where, error=ConfigError)
    check_keys(raw, _MODEL_KEYS, source=source, where=where, error=ConfigError)
    provider = typed(
        raw.get("provider", "openai"),
        str,
        source=source,
        field=f"{where}.provider",
        error=ConfigError,
    )
    if provider not in PROVIDERS:
        raise ConfigError(
            f"must be one of {', '.join(PROVIDERS)}", source=source, field=f"{where}.provider"
        )
    kw: dict[str, Any] = {"name": name, "provider": provider}
    if provider == "openai":
        check_keys(
            raw,
            _MODEL_KEYS,
            source=source,
            where=where,
            error=ConfigError,
            required=("base_url", "model"),
        )
    for key in ("base_url", "model", "api_key_env", "prompt_template", "label"):
        if key in raw:
            kw[key] = typed(raw[key], str, source=source, field=f"{where}.{key}", error=ConfigError)
    if provider == "openai" and not kw["base_url"].startswith(("http://", "https://")):
        raise ConfigError("must be an http(s) URL", source=source, field=f"{where}.base_url")
    api = typed(raw.get("api", "chat"), str, source=source, field=f"{where}.api", error=ConfigError)
    if api not in APIS:
        raise ConfigError(f"must be one of {', '.join(APIS)}", source=source, field=f"{where}.api")
    kw["api"] = api
    if api == "completions" and provider == "openai" and "prompt_template" not in raw:
        raise ConfigError(
            'is required when api = "completions" (use {prompt} where the prompt goes)',
            source=source,
            field=f"{where}.prompt_template",
        )
    if "prompt_template" in kw and "{prompt}" not in kw["prompt_template"]:
        raise ConfigError("must contain {prompt}", source=source, field=f"{where}.prompt_template")
    if "params" in raw:
        params = typed(
            raw["params"], dict, source=source, field=f"{where}.params", error=ConfigError
        )
        check_keys(params, _PARAM_KEYS, source=source, where=f"{where}.params", error=ConfigError)
        for k, t in (
            ("temperature", float),
            ("top_p", float),
            ("presence_penalty", float),
            ("frequency_penalty", float),
        ):
            if k in params:
                params[k] = typed(
                    params[k], t, source=source, field=f"{where}.params.{k}", error=ConfigError
                )
        for k in ("max_tokens", "seed"):
            if k in params:
                typed(params[k], int, source=source, field=f"{where}.params.{k}", error=ConfigError)
        if "extra_body" in params:
            typed(
                params["extra_body"],
                dict,
                source=source,
                field=f"{where}.params.extra_body",
                error=ConfigError,
            )
        kw["params"] = params
    if "pricing" in raw:
        kw["pricing"] = _pricing(raw["pricing"], source, f"{where}.pricing")
    if "concurrency" in raw:
        kw["concurrency"] = _positive_int(
            raw["concurrency"], source=source, field=f"{where}.concurrency"
        )
    if "timeout" in raw:
        kw["timeout"] = typed(
            raw["timeout"], float, source=source, field=f"{where}.timeout", error=ConfigError
        )
    return ModelSpec(**kw)


def parse_config(data: dict[str, Any], source: Path) -> Config:
    """Validate a parsed gallery.toml; errors name ``source`` and the dotted field."""
    check_keys(data, _TOP_KEYS, source=source, where="", error=ConfigError)
    models_raw = typed(
        data.get("models", {}), dict, source=source, field="models", error=ConfigError
    )
    models = {name: _model(name, raw, source) for name, raw in models_raw.items()}
    d = typed(data.get("defaults", {}), dict, source=source, field="defaults", error=ConfigError)
    check_keys(d, _DEFAULT_KEYS, source=source, where="defaults", error=ConfigError)
    kw: dict[str, Any] = {}
    if "models" in d:
        names = typed(d["models"], list, source=source, field="defaults.models", error=ConfigError)
        for n in names:
            typed(n, str, source=source, field="defaults.models", error=ConfigError)
            if n not in models:
                raise ConfigError(
                    f"names unknown model {n!r}", source=source, field="defaults.models"
                )
        kw["models"] = tuple(names)
    elif models:
        kw["models"] = tuple(n for n in models if n == "reference") or (next(iter(models)),)
    for k in ("samples", "concurrency", "max_retries"):
        if k in d:
            kw[k] = (
                _positive_int(d[k], source=source, field=f"defaults.{k}")
                if k != "max_retries"
                else typed(
                    d[k], int, source=source, field="defaults.max_retries", error=ConfigError
                )
            )
    if "system_prompt" in d:
        kw["system_prompt"] = typed(
            d["system_prompt"],
            str,
            source=source,
            field="defaults.system_prompt",
            error=ConfigError,
        )
    if "timeout" in d:
        kw["timeout"] = typed(
            d["timeout"], float, source=source, field="defaults.timeout", error=ConfigError
        )
    if "models" not in kw and not models:
        raise ConfigError(
            "no models configured (add a [models.NAME] table)", source=source, field="models"
        )
    return Config(path=source, defaults=Defaults(**kw), models=models)


def load_config(path: Path | str) -> Config:
    """Read and validate ``gallery.toml`` (or the user's own file)."""
    path = Path(path)
    return parse_config(read_toml(path, ConfigError), path)
