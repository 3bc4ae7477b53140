"""The local backend contract: load once, then stream TokenEvents."""
from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace

from ..errors import ContextOverflowError
from ..models import ResolvedModel
from ..types import GenerationParams, Message, TokenEvent


@dataclass
class BatchRow:
    """One finished conversation of `generate_batch`: its events, as `stream` would yield them, and
    the seconds from the row's start to each event (what a live consumer of `stream` would measure)."""

    index: int  # position in the conversations passed in
    events: list[TokenEvent]
    elapsed: list[float]


class LocalBackend(ABC):
    """One loaded model on one runtime. Built once per kernel and reused by every cell.

    `stream` yields one TokenEvent per generated token; the last event carries
    finish_reason and Timings. A consumer that stops iterating (generator
    close) stops generation at once: that is how early handoff works.
    KeyboardInterrupt inside the loop ends the stream with finish_reason
    "interrupted" (the last event is yielded, then the interrupt is re-raised
    by the engine, not the backend).
    """

    name: str = "base"

    def __init__(self, model: ResolvedModel):
        self.model = model

    @property
    @abstractmethod
    def context_length(self) -> int:
        """Maximum prompt + completion tokens the model accepts."""

    @abstractmethod
    def count_prompt_tokens(self, messages: Sequence[Message], tools: Sequence[dict] | None = None) -> int:
        """Tokens of the chat-templated prompt (tools included), generation prompt included."""

    @abstractmethod
    def stream(self, messages: Sequence[Message], params: GenerationParams,
               tools: Sequence[dict] | None = None) -> Iterator[TokenEvent]:
        """Generate a chat answer token by token; `tools` (OpenAI-style schemas) go to the chat template."""

    def generate_batch(self, conversations: Sequence[Sequence[Message]], params: GenerationParams,
                       batch_size: int = 1) -> Iterator[BatchRow]:
        """Yield a BatchRow for each conversation as it finishes.

        This default streams them one at a time; in-process backends batch for real.
        """
        for index, messages in enumerate(conversations):
            row, started = BatchRow(index, [], []), time.perf_counter()
            for event in self.stream(messages, params):
                row.events.append(event)
                row.elapsed.append(time.perf_counter() - started)
            yield row

    def supports_tools(self) -> bool:
        """True when the chat template renders a `tools` list."""
        return False

    def supports_hidden_states(self) -> bool:
        """True when a stream's first token carries the prompt's hidden state (`TokenEvent.prompt_state`,
        features for a personal router), read during the prefill; llama.cpp, mlx and a served model do not."""
        return False


def fit_params(backend, prompt_tokens: int, params: GenerationParams) -> GenerationParams:
    """max_tokens cut to the room the context leaves after a prompt of `prompt_tokens` (counted once, by the
    caller, tools included); a prompt the context cannot hold is one line. The one context guard."""
    room = backend.context_length - prompt_tokens
    if room < 1:
        raise ContextOverflowError(
            f"The prompt has {prompt_tokens} tokens but {backend.model.name} holds {backend.context_length}: "
            "shorten it, or use %%hybrid to hand long prompts to the cloud.")
    return replace(params, max_tokens=room) if params.max_tokens > room else params
