"""What a cell needs around the cascade driver: the loaded model, the cloud client,
the prompt facts, the rules, and the ledger record.

The cascade itself (before → stream → after → decide) is `cascade.run_cascade`;
%%hybrid (handoff.py), %%compare (compare.py) and %%local call it through this
object, which the magics own. Nothing here renders: the display layer only observes.
"""
from __future__ import annotations

import hashlib
from dataclasses import replace
from typing import Protocol

from . import backends
from .backends.base import fit_params
from .cascade import (NEVER, SILENT, Budget, LiveSource, LocalRun, Prepared, PromptFacts, Rules, Verdict, prepare,
                      run_cascade, stream_local)
from .cloud import CloudClient
from .config import HybridSettings
from .errors import CloudError, ContextOverflowError
from .ledger import Ledger, utc_now
from .model_handoff import NO_OFFER, offer_for
from .reasoning import split_reasoning
from .router import signals as sig
from .router.answer_terms import answer_hook
from .router.policy import PolicyParams, reads_confidence_knob, with_knob
from .router.privacy import redact_messages
from .types import CloudStats, Decision, GenerationParams, LocalStats, Message, Request, RunRecord, TokenEvent


class RunObserver(Protocol):
    """What the display layer hears while a cell runs (all optional to act on)."""

    def phase(self, name: str, detail: str = "") -> None: ...  # loading, local, handoff, cloud, done
    def local_token(self, event: TokenEvent) -> None: ...
    def cloud_token(self, event: TokenEvent) -> None: ...


class Engine:
    def __init__(self, settings: HybridSettings, ledger: Ledger):
        self.settings = settings
        self.ledger = ledger
        self._clouds: dict[tuple, CloudClient] = {}  # one client per cloud, reused across cells

    # ---- the local model ---------------------------------------------------------------
    def load(self, request: Request, observer: RunObserver = SILENT):
        observer.phase("loading", request.model)
        if request.backend == "server":  # a served model: nothing to resolve on disk
            from .backends.server import server_model

            return backends.get_backend("server", server_model(request, self.settings))
        return backends.load_backend(request.backend, request.model, self.settings.cache_dir,
                                     progress=lambda m: observer.phase("loading", m))

    def live_source(self, backend, prepared: Prepared, params: GenerationParams, decision: Decision) -> LiveSource:
        """The backend's stream of what `prepared` sends (its tokens counted once, by `prepare`); a prompt
        that does not fit says why no handoff."""
        try:
            fitted = fit_params(backend, prepared.facts.prompt_tokens, params)
        except ContextOverflowError as error:
            why = f"blocked by {decision.blocked_by}" if decision.blocked_by else f"not made ({decision.policy} policy)"
            raise ContextOverflowError(f"{error} The handoff was {why}.") from None
        return LiveSource(backend, prepared.messages, fitted, prepared.tools)

    # ---- the cloud ---------------------------------------------------------------------
    def cloud_client(self, request: Request) -> CloudClient | CloudError | None:
        """None when --private (nothing may leave, so no client is built); the error when none can be."""
        if request.private:
            return None
        s = self.settings
        key = s.api_key()
        model = request.cloud_model or s.cloud_model
        identity = (s.cloud_base_url, model, s.cloud_timeout_s, s.cloud_max_retries, s.cloud_deadline_s,
                    repr(sorted(s.prices.items())),
                    hashlib.sha256((key or "").encode()).hexdigest())
        if identity not in self._clouds:
            try:
                self._clouds[identity] = CloudClient(s.cloud_base_url, key, model, timeout_s=s.cloud_timeout_s,
                                                     max_retries=s.cloud_max_retries, prices=s.prices,
                                                     deadline_s=s.cloud_deadline_s)
            except CloudError as error:
                return error
        return self._clouds[identity]

    # ---- what the cascade reads ----------------------------------------------------------
    def thresholds(self, request: Request) -> sig.Thresholds:
        s = self.settings
        # a cell's --threshold is the confidence knob for the cascade and a learned policy (the signals' cuts show
        # it; the router weighs their values); any other policy's own knob otherwise
        knob = request.threshold is not None and reads_confidence_knob(request.policy)
        return sig.Thresholds(
            low_confidence=request.threshold if knob else s.threshold,
            entropy=s.entropy_threshold, window=s.window, min_tokens=s.min_tokens,
            deadline_s=request.deadline_s, context_budget=s.context_budget, early_margin=s.early_margin,
        )

    def rules(self, request: Request) -> Rules:
        # --threshold is the policy's own knob (the cascade reads it in its thresholds above); a learned policy
        # (the default router) given none cuts at the confidence knob, HybridMagics.threshold
        own = request.threshold if request.policy != "cascade" else None
        thresholds = self.thresholds(request)
        params = with_knob(request.policy, PolicyParams(threshold=own, seed_key=request.prompt), thresholds)
        return Rules(request.policy, params, thresholds,
                     early_handoff=self.settings.early_handoff, fmt=request.format)

    def prepare(self, request: Request, backend, cloud) -> Prepared:
        s = self.settings
        messages = request.messages()
        wanted = s.model_handoff if request.model_handoff is None else request.model_handoff
        offer = offer_for(wanted, request.policy, backend, s.model_handoff_instruction)

        def facts(prompt_tokens: int) -> PromptFacts:
            budget = None
            if isinstance(cloud, CloudClient):
                estimate = cloud.estimate_cost(prompt_tokens, request.params.max_tokens)
                budget = Budget(self.ledger.session_spend(), estimate, s.budget_usd)
            return PromptFacts(
                "\n".join(m["content"] for m in messages), prompt_tokens, request.params.max_tokens,
                s.context_budget or backend.context_length, private=request.private,
                force_cloud=request.force_cloud, allow_sensitive=request.allow_sensitive, detect_pii=s.detect_pii,
                budget=budget, cloud_problem=str(cloud) if isinstance(cloud, CloudError) else None)

        return prepare(messages, offer, backend.count_prompt_tokens, facts)

    def self_check(self, backend, messages: list[Message]):
        """The after-stage's P(correct), when %config HybridMagics.self_check is on."""
        if not self.settings.self_check:
            return None
        from .selfcheck import probability_correct

        return lambda answer: probability_correct(backend, messages, answer)

    @staticmethod
    def hidden_states(backend, request: Request):
        """The stream's hidden-states reading (the prompt state the first token carries), only when the
        cell's policy has hidden-state terms."""
        from .router.states import state_hook

        return state_hook(request.policy, f"the {backend.name} backend exposes no hidden states")

    def run_live_cascade(self, request: Request, backend, prepared: Prepared, stop: str,
                         observer: RunObserver = SILENT) -> Verdict:
        """The cascade driver on the loaded model, as %%hybrid (STOP) and %%compare (NOTE) run it."""
        def open_local(first: Decision) -> LiveSource:
            source = self.live_source(backend, prepared, request.params, first)
            observer.phase("local", backend.model.name)
            return source

        return run_cascade(prepared, self.rules(request), open_local, stop, observer,
                           p_yes=self.self_check(backend, request.messages()),
                           states=self.hidden_states(backend, request), answer=answer_hook(request.policy))

    # ---- %%local ---------------------------------------------------------------------------
    def run_local(self, request: Request, observer: RunObserver = SILENT) -> RunRecord:
        started_at = utc_now()
        backend, load_s = self.load(request, observer)
        messages = request.messages()
        prompt_tokens = backend.count_prompt_tokens(messages)  # once: the fit and the stats read it
        local = self.stream_plain(backend, messages, request.params, observer, prompt_tokens)
        decision = Decision("local", False, False, None, (), "local-only")
        reasoning, answer = split_reasoning(local.text)  # a reasoning model's thinking stays out of the answer
        stats = local_stats(backend, local, prompt_tokens, load_s)
        record = RunRecord("local", decision, stats, None, started_at, answer=answer, local_text=local.text,
                           tokens=local.tokens, interrupted=local.interrupted, reasoning=reasoning)
        return self.record(record, messages, observer)

    def stream_plain(self, backend, messages: list[Message], params: GenerationParams, observer,
                     prompt_tokens: int | None = None) -> LocalRun:
        """A local answer with nothing offered and no early stop (%%local, or after a failed handoff), max_tokens
        fitted to the context; `prompt_tokens`: the messages' count when the caller has it (else counted here)."""
        if prompt_tokens is None:
            prompt_tokens = backend.count_prompt_tokens(messages)
        fitted = fit_params(backend, prompt_tokens, params)
        observer.phase("local", backend.model.name)
        return stream_local(LiveSource(backend, messages, fitted), [], Rules(), NEVER, NO_OFFER, observer)

    def run_hybrid(self, request: Request, observer: RunObserver = SILENT) -> RunRecord:
        from .handoff import run_hybrid  # the long path lives in its own module

        return run_hybrid(self, request, observer)

    # ---- the ledger ------------------------------------------------------------------------
    def record(self, record: RunRecord, messages: list[Message], observer: RunObserver = SILENT,
               all_cloud_cost: float | None = None, cloud_request_ids: list[int] = ()) -> RunRecord:
        stored = redact_messages(messages, detect_pii=self.settings.detect_pii)  # scanned once: the joined text too
        record.run_id = self.ledger.record_run(
            record, prompt_redacted="\n\n".join(m["content"] for m in stored), all_cloud_cost_usd=all_cloud_cost,
            messages_redacted=stored)
        if cloud_request_ids:
            self.ledger.link_cloud_requests(record.run_id, list(cloud_request_ids))
        observer.phase("done", record.decision.route)
        return record

    def log_cloud_request(self, cloud: CloudClient, outgoing: list[Message], stats: CloudStats | None,
                          error: str | None) -> int:
        """The audit row of one request sent (or attempted), secrets redacted."""
        stored = redact_messages(outgoing, detect_pii=self.settings.detect_pii)
        if error is None and stats is not None and stats.finish_reason == "interrupted":
            error = "interrupted before the answer finished"  # the request's real outcome: not ok
        return self.ledger.record_cloud_request(
            run_id=None, host=cloud.host, model=cloud.model, messages=stored,
            prompt_tokens=stats and stats.prompt_tokens, completion_tokens=stats and stats.completion_tokens,
            cost_usd=stats and stats.cost_usd, ok=error is None, error=error)


def local_stats(backend, local: LocalRun, prompt_tokens: int, load_s: float = 0.0) -> LocalStats:
    """From the last event's timings, or (stopped early, interrupted) from the tokens' own seconds."""
    stats = LocalStats(backend=backend.name, model=backend.model.name, prompt_tokens=prompt_tokens, load_s=load_s,
                       finish_reason=local.finish_reason, stopped_early=local.stopped)
    timings = local.last.timings if local.last is not None else None
    if timings is not None:
        return replace(stats, prompt_tokens=timings.prompt_tokens, completion_tokens=timings.completion_tokens,
                       ttft_s=timings.ttft_s, tokens_per_s=timings.tokens_per_s, seconds=timings.seconds,
                       peak_memory_gb=timings.peak_memory_gb)
    seconds = [t for t in local.elapsed if t is not None]
    n = len(local.tokens)
    decode_s = seconds[-1] - seconds[0] if len(seconds) > 1 else 0.0
    return replace(stats, completion_tokens=n, ttft_s=seconds[0] if seconds else 0.0,
                   seconds=seconds[-1] if seconds else 0.0,
                   tokens_per_s=(n - 1) / decode_s if n > 1 and decode_s > 0 else 0.0)


__all__ = ["Engine", "RunObserver", "local_stats"]
