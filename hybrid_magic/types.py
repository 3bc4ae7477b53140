"""Plain data passed between layers: requests, token events, signals, decisions, runs.

Every layer speaks these types and nothing else, so a decision can be rendered,
stored and replayed without the code that made it.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Route = Literal["local", "cloud"]
Stage = Literal["before", "during", "after"]
Message = dict[str, str]  # {"role": "system" | "user" | "assistant", "content": "..."}

FORMATS = ("text", "markdown", "code", "json")
DEFAULT_POLICY = "router"  # the shipped learned router (router/default_router.py registers it)


@dataclass(frozen=True)
class GenerationParams:
    """Sampling options shared by local backends and the cloud client."""

    max_tokens: int = 128
    temperature: float = 0.0
    top_p: float = 1.0
    seed: int | None = None
    stop: tuple[str, ...] = ()
    top_alternatives: int = 5  # how many top logprobs each TokenEvent carries


@dataclass
class Request:
    """One cell, parsed: what to run and how. Built by magics.py, read by engine.py."""

    magic: str  # "local" | "hybrid" | "compare"
    prompt: str
    model: str
    backend: str = "auto"
    params: GenerationParams = field(default_factory=GenerationParams)
    system: str | None = None
    history: list[Message] = field(default_factory=list)  # earlier turns with --chat
    format: str = "text"
    # hybrid / compare only
    cloud_model: str | None = None
    policy: str = DEFAULT_POLICY
    threshold: float | None = None
    deadline_s: float | None = None
    private: bool = False
    allow_sensitive: bool = False
    with_draft: bool = False
    force_cloud: bool = False
    explain: bool = False
    model_handoff: bool | None = None  # None: HybridMagics.model_handoff
    local_url: str = ""  # --backend server: the loopback server's base URL ("" = config)

    def messages(self) -> list[Message]:
        return chat_messages(self.prompt, self.system, self.history)


def chat_messages(prompt: str, system: str | None = None, history: list[Message] = ()) -> list[Message]:
    """The one chat layout every caller sends: system prompt, earlier turns, the prompt."""
    head = [{"role": "system", "content": system}] if system else []
    return head + list(history) + [{"role": "user", "content": prompt}]


@dataclass(frozen=True)
class Timings:
    """Carried by the last TokenEvent of a stream."""

    prompt_tokens: int
    completion_tokens: int
    ttft_s: float  # time to first token, from the call to stream()
    tokens_per_s: float  # decode rate, first token excluded
    seconds: float  # whole stream, load excluded
    peak_memory_gb: float | None = None


@dataclass(frozen=True)
class PromptState:
    """The local model's hidden state at the prompt's last token (middle layer, then last layer), read during
    the prefill the answer needed anyway; `model` fingerprints the weights it came from. A policy fitted
    with hidden states (experiments.learned) reads it."""

    model: str
    vector: tuple[float, ...]


@dataclass(frozen=True)
class TokenEvent:
    """One generated token. The last event of a stream has finish_reason and timings.

    finish_reason: "stop" (EOS or a stop string), "length" (max_tokens),
    "interrupted" (KeyboardInterrupt) or "early_handoff" (the engine stopped it).
    The last event may carry text "" when the stream ends without a new token.
    The first token carries the prompt's hidden state on a backend that reads it (transformers).
    """

    text: str
    token_id: int | None = None
    logprob: float | None = None
    entropy: float | None = None
    top_logprobs: tuple[tuple[str, float], ...] = ()
    finish_reason: str | None = None
    timings: Timings | None = None
    prompt_state: PromptState | None = None

    @property
    def is_last(self) -> bool:
        return self.finish_reason is not None

    @property
    def is_generated(self) -> bool:
        """A generated token, not a bare closing event (one with only a finish_reason)."""
        return self.token_id is not None or bool(self.text)


@dataclass(frozen=True)
class Signal:
    """One routing signal: a measured value against a threshold, and why it matters."""

    name: str
    stage: Stage
    value: float | None
    threshold: float | None
    triggered: bool
    message: str
    blocks_handoff: bool = False  # privacy, budget, --private: a triggered one forbids sending
    available: bool = True  # False when the data needed (e.g. logprobs) was missing


@dataclass(frozen=True)
class Decision:
    route: Route
    handoff_requested: bool
    handoff_performed: bool
    blocked_by: str | None  # name of the blocking signal, or "cloud_error" when the call failed
    signals: tuple[Signal, ...]
    policy: str
    score: float | None = None
    stage: Stage | None = None  # stage at which the handoff was requested
    reason: str | None = None  # the deciding signal's name (or the policy's) when a handoff was requested
    # a learned policy's explanation: (feature, push on the log-odds of a right local answer), largest first
    contributions: tuple[tuple[str, float], ...] = ()
    # a learned policy's estimate of a right local answer each time the driver asked it, as (local token index,
    # probability), this decision's own last (cascade.run_cascade fills it), and the cut it hands off below
    estimates: tuple[tuple[int, float], ...] = ()
    cut: float | None = None
    # mid-answer the bar is lower (a learned policy's early margin): what an estimate before the answer is
    # complete must fall below to stop the local answer early; None when it is the cut itself
    early_cut: float | None = None

    def reason_signal(self) -> Signal | None:
        """The signal this decision names as its reason; None when no handoff was requested
        or the reason is a policy's own (e.g. random)."""
        return next((s for s in self.signals if s.name == self.reason), None)


@dataclass
class LocalStats:
    backend: str
    model: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    ttft_s: float = 0.0
    tokens_per_s: float = 0.0
    seconds: float = 0.0
    stopped_early: bool = False
    finish_reason: str | None = None
    peak_memory_gb: float | None = None
    load_s: float = 0.0


@dataclass
class CloudStats:
    model: str
    host: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    ttft_s: float = 0.0
    seconds: float = 0.0
    cost_usd: float | None = None  # None: price unknown (never reported as 0)
    finish_reason: str | None = None


@dataclass
class RunRecord:
    """Everything known about one cell run. The answer text stays out of the MIME bundle."""

    magic: str
    decision: Decision
    local: LocalStats | None
    cloud: CloudStats | None
    started_at: str  # ISO 8601 UTC
    answer: str = ""
    local_text: str = ""  # the local answer, or the local draft when handed off
    tokens: list[TokenEvent] = field(default_factory=list)  # local tokens, for the confidence view
    error: str | None = None  # one line, e.g. why a handoff failed
    interrupted: bool = False
    run_id: int | None = None  # ledger row id once stored
    reasoning: str = ""  # a reasoning model's thinking, kept out of the answer (shown collapsed)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
