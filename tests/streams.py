"""Helpers the backend tests share: run a stream to its end and read it back."""
from __future__ import annotations

from hybrid_magic.types import GenerationParams


def run(backend, messages, **params):
    return list(backend.stream(messages, GenerationParams(**params)))


def text(events) -> str:
    return "".join(event.text for event in events)


def token_events(events):
    return [event for event in events if event.token_id is not None]
