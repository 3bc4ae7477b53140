"""run_local / run_hybrid: the cascade, in one place.

before-signals may hand off at once; during-signals may stop local generation
early (early handoff); after-signals judge the finished local answer. A blocked
or failed handoff keeps the local answer and says why. Nothing calls upward:
the display layer only observes.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import Protocol

from . import backends
from .config import HybridSettings
from .errors import ContextOverflowError
from .ledger import Ledger, utc_now
from .reasoning import split_reasoning
from .router import signals as sig
from .router.privacy import redact
from .types import Decision, GenerationParams, LocalStats, Message, Request, RunRecord, Signal, TokenEvent


class RunObserver(Protocol):
    """What the display layer hears while a cell runs (all optional to act on)."""

    def phase(self, name: str, detail: str = "") -> None: ...  # loading, local, handoff, cloud, done
    def local_token(self, event: TokenEvent) -> None: ...
    def cloud_token(self, event: TokenEvent) -> None: ...


class SilentObserver:
    def phase(self, name: str, detail: str = "") -> None:
        pass

    def local_token(self, event: TokenEvent) -> None:
        pass

    def cloud_token(self, event: TokenEvent) -> None:
        pass


@dataclass
class LocalOutcome:
    text: str = ""
    tokens: list[TokenEvent] = field(default_factory=list)
    stats: LocalStats | None = None
    trigger: Signal | None = None  # the during-signal that stopped generation early
    during: list[Signal] = field(default_factory=list)
    fired: dict[str, Signal] = field(default_factory=dict)  # first firing of each during-signal
    interrupted: bool = False


class Engine:
    def __init__(self, settings: HybridSettings, ledger: Ledger):
        self.settings = settings
        self.ledger = ledger

    # ---- local side -------------------------------------------------------------
    def load(self, request: Request, observer: RunObserver):
        observer.phase("loading", request.model)
        if request.backend == "server":  # a served model: nothing to resolve on disk
            from .backends.server import server_model

            return backends.get_backend("server", server_model(request, self.settings))
        return backends.load_backend(request.backend, request.model, self.settings.cache_dir,
                                     progress=lambda m: observer.phase("loading", m))

    def fit_params(self, backend, messages: list[Message], params: GenerationParams) -> tuple[GenerationParams, int]:
        prompt_tokens = backend.count_prompt_tokens(messages)
        room = backend.context_length - prompt_tokens
        if room <= 0:
            raise ContextOverflowError(
                f"The prompt has {prompt_tokens} tokens but {backend.model.name} holds {backend.context_length}: "
                "shorten it, or use %%hybrid to hand long prompts to the cloud."
            )
        return (replace(params, max_tokens=room) if params.max_tokens > room else params), prompt_tokens

    def generate_local(self, backend, messages, params, observer, monitor=None, on_trigger=None) -> LocalOutcome:
        """Stream the local answer; stop at once when `on_trigger(signal)` says so."""
        outcome = LocalOutcome()
        observer.phase("local", backend.model.name)
        started = time.perf_counter()
        first_token_at = None
        stream = backend.stream(messages, params)
        try:
            for event in stream:
                if event.token_id is not None or event.text:
                    outcome.tokens.append(event)
                    first_token_at = first_token_at or time.perf_counter()
                outcome.text += event.text
                observer.local_token(event)
                if event.is_last:
                    outcome.stats = _local_stats(backend, event)
                    outcome.interrupted = event.finish_reason == "interrupted"
                    break
                if monitor is not None and outcome.trigger is None:
                    fired = monitor.observe(event, time.perf_counter() - started)
                    if fired is not None:
                        outcome.fired.setdefault(fired.name, fired)
                        if on_trigger is not None and on_trigger(fired):
                            outcome.trigger = fired
                            break
        except KeyboardInterrupt:  # landed here rather than inside the backend's loop
            outcome.interrupted = True
        finally:
            stream.close()  # stops generation now: this is the early handoff
        if outcome.stats is None:  # stopped early or interrupted: no final event came
            outcome.stats = _partial_stats(backend, outcome, started, first_token_at)
            outcome.stats.prompt_tokens = backend.count_prompt_tokens(messages)
        if monitor is not None:  # a signal that fired once stays fired, even if the window recovered
            outcome.during = [outcome.fired.get(s.name, s) for s in monitor.signals()]
        return outcome

    def run_local(self, request: Request, observer: RunObserver | None = None) -> RunRecord:
        observer = observer or SilentObserver()
        started_at = utc_now()
        backend, load_s = self.load(request, observer)
        messages = request.messages()
        params, _ = self.fit_params(backend, messages, request.params)
        outcome = self.generate_local(backend, messages, params, observer)
        outcome.stats.load_s = load_s
        decision = Decision("local", False, False, None, (), "local-only")
        reasoning, answer = split_reasoning(outcome.text)  # a reasoning model's thinking stays out of the answer
        record = RunRecord("local", decision, outcome.stats, None, started_at, answer=answer,
                           local_text=outcome.text, tokens=outcome.tokens, interrupted=outcome.interrupted,
                           reasoning=reasoning)
        return self._finish(record, messages, observer)

    # ---- the cascade -------------------------------------------------------------
    def thresholds(self, request: Request) -> sig.Thresholds:
        s = self.settings
        return sig.Thresholds(
            low_confidence=request.threshold if request.threshold is not None and request.policy == "cascade"
            else s.threshold,
            entropy=s.entropy_threshold, window=s.window, min_tokens=s.min_tokens,
            deadline_s=request.deadline_s, context_budget=s.context_budget,
        )

    def run_hybrid(self, request: Request, observer: RunObserver | None = None) -> RunRecord:
        from .handoff import Cascade  # the long path lives in its own module

        return Cascade(self, request, observer or SilentObserver()).run()

    def _finish(self, record: RunRecord, messages: list[Message], observer: RunObserver,
                all_cloud_cost: float | None = None) -> RunRecord:
        prompt = "\n\n".join(m["content"] for m in messages)
        record.run_id = self.ledger.record_run(
            record, prompt_redacted=redact(prompt, detect_pii=self.settings.detect_pii),
            all_cloud_cost_usd=all_cloud_cost)
        observer.phase("done", record.decision.route)
        return record


def _local_stats(backend, last: TokenEvent) -> LocalStats:
    t = last.timings
    return LocalStats(
        backend=backend.name, model=backend.model.name,
        prompt_tokens=t.prompt_tokens if t else 0, completion_tokens=t.completion_tokens if t else 0,
        ttft_s=t.ttft_s if t else 0.0, tokens_per_s=t.tokens_per_s if t else 0.0,
        seconds=t.seconds if t else 0.0, finish_reason=last.finish_reason,
        peak_memory_gb=t.peak_memory_gb if t else None,
    )


def _partial_stats(backend, outcome: LocalOutcome, started: float, first_token_at: float | None) -> LocalStats:
    now = time.perf_counter()
    n = len(outcome.tokens)
    ttft = (first_token_at - started) if first_token_at else 0.0
    decode_s = (now - first_token_at) if first_token_at else 0.0
    return LocalStats(backend=backend.name, model=backend.model.name, completion_tokens=n,
                      ttft_s=ttft, tokens_per_s=((n - 1) / decode_s) if n > 1 and decode_s > 0 else 0.0,
                      seconds=now - started, stopped_early=outcome.trigger is not None,
                      finish_reason="interrupted" if outcome.interrupted else "early_handoff")


__all__ = ["Engine", "RunObserver", "SilentObserver", "LocalOutcome"]
