"""%%hybrid for one cell: the cascade driver with the STOP rule, then the cloud when it decides so.

Every decision is made by the policy inside the driver (cascade.py); this module
only obeys it, calls the cloud, and keeps the local answer whenever a handoff is
blocked or fails.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

from .cascade import STOP, LocalRun, Verdict
from .cloud import CloudClient
from .engine import local_stats
from .errors import CloudError
from .ledger import utc_now
from .model_handoff import strip_request
from .reasoning import split_reasoning
from .types import CloudStats, Decision, Message, Request, RunRecord

DRAFT_NOTE = ("A smaller local model drafted the answer below. Use it if it helps; "
              "answer the user's request yourself.\n\nDraft:\n")


@dataclass
class CloudReply:
    """What one cloud call gave: the text so far, its stats, why it failed, whether it was interrupted."""

    text: str = ""
    stats: CloudStats | None = None
    error: str | None = None
    interrupted: bool = False


def stream_cloud(cloud: CloudClient, messages: list[Message], params, observer, reply: CloudReply) -> CloudReply:
    """Stream a cloud answer into `reply` and the observer; never raises CloudError.

    The reply is filled as tokens come, so a caller that is interrupted meanwhile still has them."""
    try:
        for event in cloud.stream(messages, params):
            reply.text += event.text
            observer.cloud_token(event)
        reply.stats = cloud.last_stats()
    except CloudError as failure:
        reply.error = str(failure)
    except KeyboardInterrupt:  # keep what the cloud sent so far; the display re-raises
        reply.stats, reply.interrupted = cloud.last_stats(), True
    return reply


def outgoing_messages(request: Request, local: LocalRun | None) -> list[Message]:
    """What the cloud is sent: the user's messages, with the local draft when --with-draft asks for it."""
    messages = request.messages()
    draft_text = strip_request(split_reasoning(local.text)[1]) if local is not None else ""
    if not (request.with_draft and draft_text):  # no reasoning, no handoff request in a draft
        return messages
    draft = {"role": "user", "content": DRAFT_NOTE + draft_text}
    return messages[:-1] + [draft, messages[-1]]


@dataclass
class HybridCell:
    engine: object
    request: Request
    observer: object
    started_at: str = field(default_factory=utc_now)
    cloud_request_ids: list[int] = field(default_factory=list)

    def run(self) -> RunRecord:
        engine, r = self.engine, self.request
        self.backend, self.load_s = engine.load(r, self.observer)
        self.cloud = engine.cloud_client(r)
        self.prepared = engine.prepare(r, self.backend, self.cloud)
        verdict = engine.run_live_cascade(r, self.backend, self.prepared, STOP, self.observer)
        if verdict.decision.route == "cloud" and not (verdict.local and verdict.local.interrupted):
            return self.hand_off(verdict)
        return self.finish(verdict, None, verdict.local.text, interrupted=verdict.local.interrupted)

    def hand_off(self, verdict: Verdict) -> RunRecord:
        self.observer.phase("handoff", _handoff_message(verdict.decision))
        outgoing = outgoing_messages(self.request, verdict.local)
        self.observer.phase("cloud", self.cloud.model)
        reply = stream_cloud(self.cloud, outgoing, self.request.params, self.observer, CloudReply())
        self.cloud_request_ids.append(self.engine.log_cloud_request(self.cloud, outgoing, reply.stats, reply.error))
        if reply.error is None:
            return self.finish(verdict, reply.stats, reply.text, interrupted=reply.interrupted)
        failed = replace(verdict.decision, route="local", handoff_performed=False, blocked_by="cloud_error")
        local = verdict.local
        if local is None or local.stopped:  # no complete local answer yet: make one
            self.observer.phase("local", "the cloud failed; answering locally")
            local = self.engine.stream_plain(self.backend, self.request.messages(), self.request.params,
                                             self.observer)
        return self.finish(Verdict(verdict.before, failed, local), None, local.text, error=reply.error)

    def finish(self, verdict: Verdict, cloud_stats, answer: str, error=None, interrupted=False) -> RunRecord:
        local = verdict.local
        stats = local_stats(self.backend, local, self.prepared.facts.prompt_tokens, self.load_s) if local else None
        reasoning, answer = split_reasoning(answer)
        record = RunRecord("hybrid", verdict.decision, stats, cloud_stats, self.started_at, answer=answer,
                           local_text=local.text if local else "", tokens=local.tokens if local else [],
                           error=error, interrupted=interrupted, reasoning=reasoning)
        all_cloud = None
        if isinstance(self.cloud, CloudClient):
            completion = cloud_stats.completion_tokens if cloud_stats else (stats.completion_tokens if stats else 0)
            all_cloud = self.cloud.cost(self.prepared.facts.prompt_tokens, completion)
        return self.engine.record(record, self.request.messages(), self.observer, all_cloud, self.cloud_request_ids)


def _handoff_message(decision: Decision) -> str:
    """What the handoff phase says: the reason signal's message, else the reason (a policy's own)."""
    signal = decision.reason_signal()
    return signal.message if signal is not None else decision.reason or ""


def run_hybrid(engine, request: Request, observer) -> RunRecord:
    return HybridCell(engine, request, observer).run()
