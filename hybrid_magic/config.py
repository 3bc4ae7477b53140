"""The one place where defaults and environment variables live.

`HybridSettings` is a traitlets Configurable; `HybridMagics` inherits from it, so
`%config HybridMagics.local_model = "..."` works in a notebook and
`c.HybridMagics.threshold = 0.4` works in an IPython profile. Environment
variables give the defaults and are read here only.
"""
from __future__ import annotations

import math
import os
from pathlib import Path

from traitlets import Bool, Dict, Float, Int, List, TraitError, Unicode, default, validate
from traitlets.config import Configurable

from .types import DEFAULT_POLICY

# USD per 1M tokens: (input, output). Users extend or override it with
# %config HybridMagics.prices = {"my-model": [0.1, 0.4]}.
DEFAULT_PRICES: dict[str, list[float]] = {
    "gpt-4o-mini": [0.15, 0.60],
    "gpt-4o": [2.50, 10.00],
    "gpt-4.1": [2.00, 8.00],
    "gpt-4.1-mini": [0.40, 1.60],
    "gpt-4.1-nano": [0.10, 0.40],
    "gpt-5": [1.25, 10.00],
    "gpt-5-mini": [0.25, 2.00],
    "gpt-5-nano": [0.05, 0.40],
    "o4-mini": [1.10, 4.40],
}


def _env(name: str, fallback: str = "") -> str:
    return os.environ.get(name, fallback)


def home_dir() -> Path:
    """Where the ledger and converted models live (HYBRID_MAGIC_HOME)."""
    return Path(_env("HYBRID_MAGIC_HOME", str(Path.home() / ".cache" / "hybrid_magic")))


def _finite(low: float, high: float = math.inf, *, low_open: bool = False):
    def check(value) -> bool:
        return math.isfinite(value) and (value > low if low_open else value >= low) and value <= high
    return check


# Setting -> (check, what it must be). Checked when the value is set (%config, a profile, code),
# so a bad value is refused there, naming the setting, rather than failing a later cell.
SETTING_RULES: dict[str, tuple] = {
    "max_tokens": (_finite(1), "at least 1"),
    "temperature": (_finite(0), "a finite number >= 0"),
    "top_p": (_finite(0, 1, low_open=True), "in (0, 1]"),
    "stream_interval_s": (_finite(0), "a finite number of seconds >= 0"),
    "cloud_timeout_s": (_finite(0, low_open=True), "a finite number of seconds > 0"),
    "cloud_deadline_s": (_finite(0), "a finite number of seconds >= 0 (0 = no limit)"),
    "cloud_max_retries": (_finite(0), ">= 0"),
    "threshold": (_finite(0, 1), "between 0 and 1 (a mean token probability)"),
    "early_margin": (lambda value: value is None or _finite(0)(value), "None or a finite number >= 0 (log-odds)"),
    "entropy_threshold": (_finite(0), "a finite number >= 0"),
    "min_tokens": (_finite(0), ">= 0"),
    "window": (_finite(1), "at least 1"),
    "context_budget": (_finite(0), ">= 0 (0 = the model's own)"),
    "budget_usd": (_finite(0), "a finite number of USD >= 0 (0 = unlimited)"),
}


class HybridSettings(Configurable):
    # local side
    local_model = Unicode(help="Local model: alias, HF folder, GGUF file or hub id.").tag(config=True)
    backend = Unicode(help="auto, transformers, mlx, llamacpp or server (auto: see backends/__init__.py).").tag(config=True)
    max_tokens = Int(128, help="Default max new tokens.").tag(config=True)
    temperature = Float(0.0, help="Default sampling temperature (0 = greedy).").tag(config=True)
    top_p = Float(1.0).tag(config=True)
    cache_dir = Unicode(help="Folder for converted models.").tag(config=True)
    stream_interval_s = Float(0.1, help="Minimum seconds between display updates.").tag(config=True)

    # cloud side
    cloud_model = Unicode(help="Cloud model name.").tag(config=True)
    cloud_base_url = Unicode(help="OpenAI-compatible base URL.").tag(config=True)
    cloud_timeout_s = Float(60.0, help="Seconds the cloud may stay silent (connect, or between two bytes).").tag(
        config=True)
    cloud_deadline_s = Float(300.0, help="Seconds one whole cloud request may take, keep-alives and all "
                             "(0 = no limit).").tag(config=True)
    cloud_max_retries = Int(2).tag(config=True)
    prices = Dict(help="USD per 1M tokens, model -> [input, output].").tag(config=True)

    # routing
    policy = Unicode(DEFAULT_POLICY, help="The routing policy: the shipped learned router by default; 'cascade' for the signal cascade.").tag(config=True)
    threshold = Float(0.5, help="The confidence knob: the default router's cut on its estimated probability of a right local answer (any learned policy's); with the cascade, the cut for answer_estimate, and half of it is low_confidence's cut while the answer streams (which also decides when the router is asked early); %hybrid calibrate sets it.").tag(config=True)
    early_margin = Float(None, allow_none=True, help="Log-odds below the knob a learned policy's estimate must fall "
                         "to stop the local answer early, before its token features count (None: the policy's own, "
                         "the default router's 1.0; 0: at the knob itself).").tag(config=True)
    entropy_threshold = Float(3.0).tag(config=True)
    min_tokens = Int(4, help="Tokens seen before during-signals may trigger.").tag(config=True)
    window = Int(8, help="Rolling window (tokens) for low_confidence.").tag(config=True)
    context_budget = Int(0, help="Local context budget in tokens; 0 = the model's own.").tag(config=True)
    budget_usd = Float(0.0, help="Session cloud budget in USD; 0 = unlimited.").tag(config=True)
    detect_pii = Bool(False, help="Also treat emails and phone numbers as sensitive.").tag(config=True)
    self_check = Bool(False, help="Ask the local model whether its answer is correct.").tag(config=True)
    early_handoff = Bool(True, help="Stop local generation as soon as a during-signal asks for a handoff "
                         "(False: finish the local answer first, then judge it).").tag(config=True)
    local_hosts = List(Unicode(), help="Extra hosts that count as local for --backend server.").tag(config=True)
    local_url = Unicode(help="--backend server: base URL of the model server on this machine.").tag(config=True)
    model_handoff = Bool(False, help="Offer the local model a way to ask for the cloud itself (a handoff tool, "
                         "or the instruction for models without tools); --model-handoff / --no-model-handoff "
                         "per cell. Off by default: SmolLM2-135M never used it, and the instruction made its "
                         "token probabilities rank its mistakes worse (docs/routing_study.md).").tag(config=True)
    model_handoff_instruction = Unicode(help="System instruction that lets a local model without tools ask "
                                        "for a handoff ('' = the built-in one).").tag(config=True)

    # storage
    ledger_path = Unicode(help="SQLite run ledger.").tag(config=True)

    @validate(*SETTING_RULES)
    def _check_setting(self, proposal):
        name, value = proposal["trait"].name, proposal["value"]
        valid, expected = SETTING_RULES[name]
        if not valid(value):
            raise TraitError(f"hybrid_magic: HybridMagics.{name} must be {expected}, not {value!r}.")
        return value

    @default("local_model")
    def _default_local_model(self) -> str:
        return _env("HYBRID_MAGIC_MODEL", "smollm2-135m")

    @default("backend")
    def _default_backend(self) -> str:
        return _env("HYBRID_MAGIC_BACKEND", "auto")

    @default("local_url")
    def _default_local_url(self) -> str:
        return _env("HYBRID_MAGIC_LOCAL_URL", "http://127.0.0.1:8080/v1")

    @default("cache_dir")
    def _default_cache_dir(self) -> str:
        return _env("HYBRID_MAGIC_CACHE_DIR", str(home_dir() / "models"))

    @default("cloud_model")
    def _default_cloud_model(self) -> str:
        return _env("HYBRID_MAGIC_CLOUD_MODEL", "gpt-4o-mini")

    @default("cloud_base_url")
    def _default_cloud_base_url(self) -> str:
        return _env("OPENAI_BASE_URL", "https://api.openai.com/v1")

    @default("prices")
    def _default_prices(self) -> dict:
        return {name: list(pair) for name, pair in DEFAULT_PRICES.items()}

    @default("ledger_path")
    def _default_ledger_path(self) -> str:
        return _env("HYBRID_MAGIC_LEDGER", str(home_dir() / "ledger.sqlite"))

    def api_key(self) -> str | None:
        """Read at call time so a key set after %load_ext still works; never stored."""
        return os.environ.get("OPENAI_API_KEY") or None
