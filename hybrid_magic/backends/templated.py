"""What both in-process backends share: the chat template, and stepping into TokenEvents.

A subclass loads `self.tokenizer`, sets `self._eos_ids`, and implements `_steps`
(one runtime step per token) and `_peak_memory_gb`; everything else — templating,
stop strings, max_tokens, interrupts, timings — is the same code for both.
"""
from __future__ import annotations

from abc import abstractmethod
from collections.abc import Iterator, Sequence

from ..types import GenerationParams, Message, TokenEvent
from ._text import Clock, Step, chat_prompt_ids, events_from_steps, template_mentions_tools, validate
from .base import LocalBackend


class TemplatedBackend(LocalBackend):
    tokenizer = None
    _eos_ids: frozenset[int] = frozenset()

    def count_prompt_tokens(self, messages: Sequence[Message]) -> int:
        return len(chat_prompt_ids(self.tokenizer, messages))

    def supports_tools(self) -> bool:
        return template_mentions_tools(self.tokenizer)

    def stream(self, messages: Sequence[Message], params: GenerationParams) -> Iterator[TokenEvent]:
        clock = Clock(prompt_tokens=0)  # TTFT counts from here, templating included
        validate(params)
        prompt_ids = chat_prompt_ids(self.tokenizer, messages)
        clock.prompt_tokens = len(prompt_ids)
        return events_from_steps(
            self._steps(prompt_ids, params), params, clock,
            decode=self._decode, eos_ids=self._eos_ids, peak_memory_gb=self._peak_memory_gb,
        )

    def _decode(self, ids: list[int]) -> str:
        return self.tokenizer.decode(ids, skip_special_tokens=False)

    @abstractmethod
    def _steps(self, prompt_ids: list[int], params: GenerationParams) -> Iterator[Step]:
        """One runtime step per generated token, until the consumer stops."""

    @abstractmethod
    def _peak_memory_gb(self) -> float | None:
        """Peak memory of the runtime so far."""
