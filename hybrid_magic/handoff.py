"""The %%hybrid cascade for one cell: before → local (may stop early) → after → cloud.

Every decision is made by the policy from Signals (pure data); this module only
gathers the signals, obeys the decision, and keeps the local answer whenever a
handoff is blocked or fails.
"""
from __future__ import annotations

from dataclasses import replace

from .cloud import CloudClient
from .errors import CloudError, ContextOverflowError
from .ledger import utc_now
from .model_handoff import offer_for, strip_request
from .reasoning import split_reasoning
from .router import policy as policies
from .router import signals as sig
from .router.privacy import redact
from .types import CloudStats, Decision, Message, RunRecord, Signal

DRAFT_NOTE = ("A smaller local model drafted the answer below. Use it if it helps; "
              "answer the user's request yourself.\n\nDraft:\n")


def stream_cloud(cloud: CloudClient, messages: list[Message], params, observer):
    """Stream a cloud answer into the observer -> (text, stats, error, interrupted); never raises CloudError."""
    text, error, stats, interrupted = "", None, None, False
    try:
        for event in cloud.stream(messages, params):
            text += event.text
            observer.cloud_token(event)
        stats = cloud.last_stats()
    except CloudError as failure:
        error = str(failure)
    except KeyboardInterrupt:  # keep what the cloud sent so far; the display re-raises
        stats, interrupted = cloud.last_stats(), True
    return text, stats, error, interrupted


def no_cloud_signal(problem: str) -> Signal:
    return Signal("cloud_unavailable", "before", None, None, True, problem, blocks_handoff=True)


class Cascade:
    def __init__(self, engine, request, observer):
        self.engine, self.request, self.observer = engine, request, observer
        self.settings = engine.settings
        self.th = engine.thresholds(request)
        # --threshold is the low_confidence threshold for the cascade, the policy's own knob otherwise
        own = request.threshold if request.policy != "cascade" else None
        self.params = policies.PolicyParams(threshold=own, seed_key=request.prompt)
        self.cloud_request_ids: list[int] = []
        self.prompt_tokens = 0  # of the user's messages, counted once per run

    def decide(self, signals: list[Signal]) -> Decision:
        return policies.decide(self.request.policy, signals, self.params)

    def hands_off_on(self, before: list[Signal], fired: Signal) -> bool:
        """The early-handoff rule: this during-signal stops local generation and goes to the cloud."""
        return self.settings.early_handoff and self.decide(before + [fired]).route == "cloud"

    def run(self) -> RunRecord:
        r = self.request
        started_at = utc_now()
        backend, load_s = self.engine.load(r, self.observer)
        messages = r.messages()
        self.prompt_tokens = backend.count_prompt_tokens(messages)
        cloud = self._cloud_client()
        before = self._before_signals(backend, messages, self.prompt_tokens, cloud)
        decision = self.decide(before)
        if decision.route == "cloud":  # handed off before generating anything
            return self._handoff(started_at, backend, messages, cloud, decision, local=None, load_s=load_s)
        local = self._generate(backend, messages, before, decision)
        local.stats.load_s = load_s
        if local.interrupted:  # the display shows the partial answer, then re-raises
            return self._finish(started_at, decision, local, None, local.text, messages, backend, cloud,
                                interrupted=True)
        after = [] if local.trigger else self._after_signals(backend, messages, local)
        decision = self.decide(before + local.during + after)
        if decision.route == "cloud":
            return self._handoff(started_at, backend, messages, cloud, decision, local=local, load_s=load_s)
        return self._finish(started_at, decision, local, None, local.text, messages, backend, cloud)

    # ---- signals ------------------------------------------------------------------
    def _cloud_client(self) -> CloudClient | CloudError | None:
        """None when --private: nothing may leave the machine, so no client is even built."""
        if self.request.private:
            return None
        s = self.settings
        try:
            return CloudClient(s.cloud_base_url, s.api_key(), self.request.cloud_model or s.cloud_model,
                               timeout_s=s.cloud_timeout_s, max_retries=s.cloud_max_retries, prices=s.prices,
                               deadline_s=s.cloud_deadline_s)
        except CloudError as error:
            return error

    def _before_signals(self, backend, messages: list[Message], prompt_tokens: int, cloud) -> list[Signal]:
        r, s = self.request, self.settings
        text = "\n".join(m["content"] for m in messages)
        budget = s.context_budget or backend.context_length
        found = [
            sig.private_mode(r.private),
            sig.forced_cloud(r.force_cloud),
            sig.context_overflow(prompt_tokens, r.params.max_tokens, budget),
            sig.prompt_length(prompt_tokens),
            sig.privacy(text, detect_pii=s.detect_pii, allow_sensitive=r.allow_sensitive),
        ]
        if isinstance(cloud, CloudClient):
            limit = self.settings.budget_usd
            estimate = cloud.estimate_cost(prompt_tokens, r.params.max_tokens)
            found.append(sig.budget(self.engine.ledger.session_spend(), estimate, limit))
        elif isinstance(cloud, CloudError):
            found.append(no_cloud_signal(str(cloud)))
        return found

    def _after_signals(self, backend, messages, local) -> list[Signal]:
        answer = split_reasoning(local.text)[1]  # a reasoning model's thinking is not checked as the answer
        p_yes = None
        if self.settings.self_check and answer.strip():
            from .selfcheck import probability_correct

            p_yes = probability_correct(backend, messages, answer)
        return sig.after_signals(answer, local.stats.finish_reason, self.request.format, self.th, p_yes,
                                 local.tokens)

    # ---- local --------------------------------------------------------------------
    def _generate(self, backend, messages, before: list[Signal], decision: Decision):
        try:
            params, _ = self.engine.fit_params(backend, messages, self.request.params)
        except ContextOverflowError as error:
            why = f"blocked by {decision.blocked_by}" if decision.blocked_by else f"not made ({decision.policy} policy)"
            raise ContextOverflowError(f"{error} The handoff was {why}.") from None
        offer = offer_for(self.request, backend, before, self.settings)  # the model may ask for the handoff
        monitor = offer.monitor(sig.DuringMonitor(self.th, params.max_tokens))

        with offer.offered(backend):
            local = self.engine.generate_local(backend, offer.messages(messages), params, self.observer,
                                               monitor, lambda fired: self.hands_off_on(before, fired))
        return offer.settle(local)

    # ---- cloud --------------------------------------------------------------------
    def _handoff(self, started_at, backend, messages, cloud: CloudClient, decision: Decision, *, local, load_s):
        r = self.request
        deciding = policies.deciding_signal(decision.signals)
        self.observer.phase("handoff", deciding.message if deciding else "")
        outgoing = self._outgoing_messages(messages, local)
        answer, stats, error, interrupted = self._call_cloud(cloud, outgoing)
        if error is None:
            return self._finish(started_at, decision, local, stats, answer, messages, backend, cloud,
                                interrupted=interrupted)
        failed = replace(decision, route="local", handoff_performed=False, blocked_by="cloud_error")
        if local is None or local.trigger is not None:  # no complete local answer yet: make one
            self.observer.phase("local", "the cloud failed; answering locally")
            local = self.engine.generate_local(backend, messages, self.engine.fit_params(
                backend, messages, r.params)[0], self.observer)
            local.stats.load_s = load_s
        return self._finish(started_at, failed, local, None, local.text, messages, backend, cloud, error=error)

    def _outgoing_messages(self, messages: list[Message], local) -> list[Message]:
        draft_text = strip_request(split_reasoning(local.text)[1]) if local is not None else ""
        if not (self.request.with_draft and draft_text):  # no reasoning, no handoff request in a draft
            return list(messages)
        draft = {"role": "user", "content": DRAFT_NOTE + draft_text}
        return list(messages[:-1]) + [draft, messages[-1]]

    def _call_cloud(self, cloud: CloudClient, outgoing: list[Message]):
        self.observer.phase("cloud", cloud.model)
        text, stats, error, interrupted = stream_cloud(cloud, outgoing, self.request.params, self.observer)
        self._log_request(cloud, outgoing, stats, error)
        return text, stats, error, interrupted

    def _log_request(self, cloud: CloudClient, outgoing, stats: CloudStats | None, error: str | None) -> None:
        detect = self.settings.detect_pii
        stored = [{"role": m["role"], "content": redact(m["content"], detect_pii=detect)} for m in outgoing]
        if error is None and stats is not None and stats.finish_reason == "interrupted":
            error = "interrupted before the answer finished"  # the request's real outcome: not ok
        self.cloud_request_ids.append(self.engine.ledger.record_cloud_request(
            run_id=None, host=cloud.host, model=cloud.model, messages=stored,
            prompt_tokens=stats and stats.prompt_tokens, completion_tokens=stats and stats.completion_tokens,
            cost_usd=stats and stats.cost_usd, ok=error is None, error=error))

    # ---- record -------------------------------------------------------------------
    def _finish(self, started_at, decision, local, cloud_stats, answer, messages, backend, cloud,
                error=None, interrupted=False) -> RunRecord:
        reasoning, answer = split_reasoning(answer)
        record = RunRecord(
            "hybrid", decision, local.stats if local else None, cloud_stats, started_at,
            answer=answer, local_text=local.text if local else "", tokens=local.tokens if local else [],
            error=error, interrupted=interrupted, reasoning=reasoning,
        )
        all_cloud = None
        if isinstance(cloud, CloudClient):
            completion = cloud_stats.completion_tokens if cloud_stats else (local.stats.completion_tokens if local else 0)
            all_cloud = cloud.cost(self.prompt_tokens, completion)
        record = self.engine._finish(record, messages, self.observer, all_cloud)
        if self.cloud_request_ids:
            self.engine.ledger.link_cloud_requests(record.run_id, self.cloud_request_ids)
        return record
