"""The local backend contract: load once, then stream TokenEvents."""
from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence

from ..models import ResolvedModel
from ..types import GenerationParams, Message, TokenEvent


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
    def count_prompt_tokens(self, messages: Sequence[Message]) -> int:
        """Tokens of the chat-templated prompt, generation prompt included."""

    @abstractmethod
    def stream(self, messages: Sequence[Message], params: GenerationParams) -> Iterator[TokenEvent]:
        """Generate a chat answer token by token."""

    def supports_tools(self) -> bool:
        """True when the chat template renders a `tools` list."""
        return False
