"""What an Experiment records for an item: what the local model is sent (LocalRequest), the stored form
of a local run (`recording`, with the prompt's hidden state on its first token where the backend reads
it) and of a cloud answer, the hidden-state rows fit_policy learns from, and the ledger its
cloud requests are audited in. runner.py decides what to record and when; this says in what form.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from ..prompt import Prepared
from ..types import CloudStats, GenerationParams, Message
from .replay import Recorded, event_to_dict

RECORDING_VERSION = 3  # 2: recorded through the cascade driver; 3: the first token carries the prompt state


@dataclass(frozen=True)
class LocalRequest:
    """What the local model is sent for one item."""

    messages: list[Message]
    params: GenerationParams
    prepared: Prepared


def recording(local, prepared: Prepared, max_tokens: int, backend) -> dict:
    """The stored form of a local run: every token with its seconds, and what replay needs."""
    tokens = [event_to_dict(event, t) for event, t in zip(local.tokens, local.elapsed)]
    last = local.last
    if last is not None and last.token_id is None and not last.text:  # the closing event carries no token
        tokens.append(event_to_dict(last, local.elapsed[-1] if local.elapsed else None))
    timings = asdict(last.timings) if last is not None and last.timings else {
        "seconds": next((t for t in reversed(local.elapsed) if t is not None), 0.0),
        "completion_tokens": len(local.tokens)}
    return {"text": local.text, "tokens": tokens, "finish_reason": local.finish_reason, "timings": timings,
            "prompt_tokens": prepared.facts.prompt_tokens, "question_tokens": prepared.facts.question_tokens,
            "context_length": backend.context_length,
            "max_tokens": max_tokens, "offer": prepared.offer.form, "backend": backend.name, "p_yes": None}


def cloud_recording(text: str, stats: CloudStats) -> dict:
    """The stored form of a cloud answer."""
    return {"text": text, "prompt_tokens": stats.prompt_tokens, "completion_tokens": stats.completion_tokens,
            "seconds": stats.seconds, "ttft_s": stats.ttft_s, "cost_usd": stats.cost_usd,
            "finish_reason": stats.finish_reason}


def state_rows(recs: list[Recorded]):
    """One row per record: the prompt state recorded with its first token; None when no record has one
    (a backend that reads none). A record without one (an answer with no token) gets the others' mean,
    which a fitted policy reads as no push either way."""
    import numpy as np

    rows = [rec.state for rec in recs]
    known = [row for row in rows if row is not None]
    if not known:
        return None
    mean = np.mean(np.asarray(known, dtype=float), axis=0)
    return np.array([mean if row is None else np.asarray(row, dtype=float) for row in rows])


def as_ledger(ledger: Any):
    """A Ledger as given, else the one at this path (None: the user's own)."""
    from ..ledger import Ledger

    if isinstance(ledger, Ledger):
        return ledger
    from ..config import HybridSettings

    return Ledger(ledger or HybridSettings().ledger_path)
