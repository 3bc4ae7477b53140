"""Reading one streamed cloud answer: chunks to TokenEvents, a total deadline, a token cap.

A server may send anything: chunks that are not JSON, or JSON of the wrong shape,
keep-alive comments forever, or tokens past `max_tokens`. `StreamTally` reads
chunks defensively (a malformed one raises MalformedStream), and `Deadline`
closes the response from a timer thread when the whole request has taken too long,
so even a server that only sends keep-alives cannot hold the cell.
"""
from __future__ import annotations

import importlib
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable

from .types import TokenEvent, Timings

def _http_error_classes(attribute: str) -> tuple[type[BaseException], ...]:
    """The SDK's HTTP library (httpx2 in openai>=3, httpx before) leaks its own errors mid-stream."""
    found = []
    for name in ("httpx2", "httpx"):
        try:
            found.append(getattr(importlib.import_module(name), attribute))
        except (ImportError, AttributeError):
            continue
    return tuple(found)


TRANSPORT_ERRORS = _http_error_classes("HTTPError") + _http_error_classes("StreamError")
TIMEOUT_ERRORS = _http_error_classes("TimeoutException")

# What the SDK and a malformed chunk raise while a stream is read: bad JSON is a
# ValueError; a chunk of the wrong shape surfaces as one of the others.
MALFORMED_ERRORS: tuple[type[BaseException], ...] = (ValueError, TypeError, AttributeError, KeyError, IndexError)


class MalformedStream(Exception):
    """A chunk the client cannot read as an OpenAI chat-completion chunk."""


@dataclass
class StreamTally:
    """What one stream has seen so far; turns into the final event and the request's stats."""

    started: float
    first_token_at: float | None = None
    content_events: int = 0
    finish_reason: str | None = None
    usage: Any = None

    def take(self, chunk: Any) -> TokenEvent | None:
        try:
            return self._take(chunk)
        except MALFORMED_ERRORS as err:
            raise MalformedStream(f"{type(err).__name__}: {err}") from err

    def _take(self, chunk: Any) -> TokenEvent | None:
        if getattr(chunk, "usage", None) is not None:
            self.usage = chunk.usage
        choices = chunk.choices
        if not choices:
            return None
        if not isinstance(choices, list):
            raise TypeError(f"choices is a {type(choices).__name__}, not a list")
        choice = choices[0]
        self.finish_reason = choice.finish_reason or self.finish_reason
        event = token_event(choice)
        if event is not None:
            self.content_events += 1
            self.first_token_at = self.first_token_at or time.perf_counter()
        return event

    def timings(self) -> Timings:
        ended = time.perf_counter()
        prompt = _count(getattr(self.usage, "prompt_tokens", None))
        completion = _count(getattr(self.usage, "completion_tokens", None)) or self.content_events
        first = self.first_token_at or ended
        decode_s = ended - first
        rate = (completion - 1) / decode_s if completion > 1 and decode_s > 0 else 0.0
        return Timings(prompt, completion, first - self.started, rate, ended - self.started)


def _count(value: Any) -> int:
    """A usage count as a server sent it: anything but a non-negative int counts as unknown (0)."""
    return value if isinstance(value, int) and value >= 0 else 0


def token_event(choice: Any) -> TokenEvent | None:
    text = choice.delta.content if choice.delta is not None else None
    if text is not None and not isinstance(text, str):
        raise TypeError(f"delta content is a {type(text).__name__}, not text")
    if not text:
        return None
    entries = (choice.logprobs.content or []) if choice.logprobs is not None else []
    if not entries:
        return TokenEvent(text=text)
    # One entry per token; a delta that carries several gets their joint logprob.
    logprob = float(sum(entry.logprob for entry in entries))
    top = tuple((str(alt.token), float(alt.logprob)) for alt in (entries[0].top_logprobs or []))
    # Entropy stays None: a server gives at most ~20 alternatives, not the distribution.
    return TokenEvent(text=text, logprob=logprob, top_logprobs=top)


class Deadline:
    """Calls `on_expiry` (closing the response) once `seconds` have passed, unless cancelled first."""

    def __init__(self, seconds: float, on_expiry: Callable[[], None]) -> None:
        self.seconds = seconds
        self.expired = False
        self._on_expiry = on_expiry
        self._timer = threading.Timer(seconds, self._expire) if seconds > 0 else None
        if self._timer is not None:
            self._timer.daemon = True
            self._timer.start()

    def _expire(self) -> None:
        self.expired = True
        try:
            self._on_expiry()
        except Exception:  # closing an already broken response: the reader fails on its own
            pass

    def cancel(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
