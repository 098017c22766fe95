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
from typing import Annotated, Any, Literal

import msgspec

from gallery.catalogue.schema import convert, read_toml
from gallery.errors import ConfigError, UsageError

DEFAULT_SYSTEM_PROMPT = (
    "You are an expert front-end developer. Answer with one complete, self-contained HTML file "
    "(inline CSS and JavaScript) in a single ```html code block. You may load libraries from a "
    "public CDN (jsDelivr, unpkg or cdnjs) with <script> or an import map. The page must run by "
    "itself when opened in a browser, with no build step and no server."
)

PROVIDERS = ("openai", "reference")
APIS = ("chat", "completions")

PositiveInt = Annotated[int, msgspec.Meta(ge=1)]
NonNegative = Annotated[float, msgspec.Meta(ge=0)]


class _Params(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    """``[models.NAME.params]``: sent with every request (only the keys given)."""

    temperature: float | None = None
    max_tokens: int | None = None
    top_p: float | None = None
    seed: int | None = None
    stop: str | list[str] | None = None
    presence_penalty: float | None = None
    frequency_penalty: float | None = None
    extra_body: dict[str, Any] | None = None


class _Tier(msgspec.Struct, forbid_unknown_fields=True):
    up_to_input_tokens: PositiveInt | None = None
    input_per_mtok: NonNegative | None = None
    output_per_mtok: NonNegative | None = None


class _Model(msgspec.Struct, forbid_unknown_fields=True):
    """``[models.NAME]``: the schema; ``_model`` adds the rules across keys."""

    base_url: str | None = None
    model: str | None = None
    api_key_env: str | None = None
    api: Literal["chat", "completions"] = "chat"
    prompt_template: str | None = None
    params: _Params | None = None
    pricing: _Tier | list[_Tier] | None = None
    concurrency: PositiveInt | None = None
    provider: Literal["openai", "reference"] = "openai"
    label: str | None = None
    timeout: float | None = None
    structured_output: Literal["json_schema", "json_object", "none"] = "none"


class _Defaults(msgspec.Struct, forbid_unknown_fields=True):
    models: list[str] | None = None
    samples: PositiveInt | None = None
    concurrency: PositiveInt | None = None
    system_prompt: str | None = None
    timeout: float | None = None
    max_retries: int | None = None
    judge: str | None = None


class _File(msgspec.Struct, forbid_unknown_fields=True):
    """``gallery.toml`` at the top (each model table is read on its own, so that
    an error names it: ``models.NAME.key``)."""

    defaults: _Defaults = msgspec.field(default_factory=_Defaults)
    models: dict[str, Any] = {}


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
    #: What the endpoint accepts as ``response_format`` when it judges ("none": parse text).
    structured_output: str = "none"

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
    #: The lane that judges pages in ``gallery run`` (None: no judge step).
    judge: str | None = None


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


def _pricing(tiers: list[_Tier], source: Path, where: str) -> tuple[PricingTier, ...]:
    out = tuple(
        PricingTier(t.up_to_input_tokens, t.input_per_mtok, t.output_per_mtok) for t in tiers
    )
    bounds = [t.up_to_input_tokens for t in out]
    finite = [b for b in bounds if b is not None]
    if finite != sorted(finite) or None in bounds[:-1]:
        raise ConfigError(
            "tiers must be in increasing up_to_input_tokens order (only the last may omit it)",
            source=source,
            field=where,
        )
    return out


def _model(name: str, raw: Any, source: Path) -> ModelSpec:
    where = f"models.{name}"
    m = convert(raw, _Model, source=source, where=where, error=ConfigError)
    if m.provider == "openai":
        for key in ("base_url", "model"):
            if getattr(m, key) is None:
                raise ConfigError("is required", source=source, field=f"{where}.{key}")
        if not m.base_url.startswith(("http://", "https://")):
            raise ConfigError("must be an http(s) URL", source=source, field=f"{where}.base_url")
        if m.api == "completions" and m.prompt_template is None:
            raise ConfigError(
                'is required when api = "completions" (use {prompt} where the prompt goes)',
                source=source,
                field=f"{where}.prompt_template",
            )
    if m.prompt_template is not None and "{prompt}" not in m.prompt_template:
        raise ConfigError("must contain {prompt}", source=source, field=f"{where}.prompt_template")
    tiers = [m.pricing] if isinstance(m.pricing, _Tier) else (m.pricing or [])
    return ModelSpec(
        name=name,
        base_url=m.base_url or "",
        model=m.model or "",
        api_key_env=m.api_key_env,
        api=m.api,
        prompt_template=m.prompt_template,
        params=msgspec.to_builtins(m.params) if m.params is not None else {},
        pricing=_pricing(tiers, source, f"{where}.pricing") if m.pricing is not None else (),
        concurrency=m.concurrency,
        provider=m.provider,
        label=m.label or "",
        timeout=m.timeout,
        structured_output=m.structured_output,
    )


def parse_config(data: dict[str, Any], source: Path) -> Config:
    """Validate a parsed gallery.toml; errors name ``source`` and the dotted field."""
    top = convert(data, _File, source=source, where="", error=ConfigError)
    models = {name: _model(name, raw, source) for name, raw in top.models.items()}
    d = top.defaults
    kw: dict[str, Any] = {}
    if d.models is not None:
        for n in d.models:
            if n not in models:
                raise ConfigError(
                    f"names unknown model {n!r}", source=source, field="defaults.models"
                )
        kw["models"] = tuple(d.models)
    elif models:
        kw["models"] = tuple(n for n in models if n == "reference") or (next(iter(models)),)
    if d.judge is not None:
        if d.judge not in models:
            raise ConfigError(
                f"names unknown model {d.judge!r}", source=source, field="defaults.judge"
            )
        if models[d.judge].is_reference:
            raise ConfigError(
                "must be a model endpoint, not the references",
                source=source,
                field="defaults.judge",
            )
        kw["judge"] = d.judge
    for k in ("samples", "concurrency", "max_retries", "system_prompt", "timeout"):
        if getattr(d, k) is not None:
            kw[k] = getattr(d, k)
    if "models" not in kw and not models:
        raise ConfigError(
            "no models configured (add a [models.NAME] table)", source=source, field="models"
        )
    return Config(path=source, defaults=Defaults(**kw), models=models)


def load_config(path: Path | str) -> Config:
    """Read and validate ``gallery.toml`` (or the user's own file)."""
    path = Path(path)
    return parse_config(read_toml(path, ConfigError), path)
