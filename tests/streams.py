"""Helpers the backend tests share: run a stream to its end and read it back; count a runtime's calls."""
from __future__ import annotations

from hybrid_magic.types import GenerationParams


def run(backend, messages, **params):
    return list(backend.stream(messages, GenerationParams(**params)))


def text(events) -> str:
    return "".join(event.text for event in events)


def token_events(events):
    return [event for event in events if event.token_id is not None]


class CountingModel:
    """Stands in for the runtime model and counts forward calls; everything else passes through."""

    def __init__(self, inner, fail_at: int | None = None):
        self.inner, self.calls, self.fail_at = inner, 0, fail_at

    def __call__(self, *args, **kwargs):
        self.calls += 1
        if self.fail_at is not None and self.calls >= self.fail_at:
            raise KeyboardInterrupt
        return self.inner(*args, **kwargs)

    def __getattr__(self, name):
        return getattr(self.inner, name)
