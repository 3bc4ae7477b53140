"""What both in-process backends share: the chat template, and stepping into TokenEvents.

A subclass loads `self.tokenizer`, sets `self._eos_ids`, and implements `_steps`
(one runtime step per token) and `_peak_memory_gb`; everything else — templating,
the context guard, stop strings, max_tokens, interrupts, timings — is the same code for all.
"""
from __future__ import annotations

from abc import abstractmethod
from collections.abc import Iterator, Sequence

from ..types import GenerationParams, Message, TokenEvent
from ._text import Clock, Step, chat_prompt_ids, events_from_steps, template_mentions_tools, validate
from .base import BatchRow, LocalBackend, fit_params


class TemplatedBackend(LocalBackend):
    tokenizer = None
    _eos_ids: frozenset[int] = frozenset()

    def count_prompt_tokens(self, messages: Sequence[Message], tools: Sequence[dict] | None = None) -> int:
        return len(chat_prompt_ids(self.tokenizer, messages, tools))

    def supports_tools(self) -> bool:
        return template_mentions_tools(self.tokenizer)

    def stream(self, messages: Sequence[Message], params: GenerationParams,
               tools: Sequence[dict] | None = None) -> Iterator[TokenEvent]:
        """A prompt the context cannot hold is one line; the answer stops where the context ends."""
        clock = Clock(prompt_tokens=0)  # TTFT counts from here, templating included
        validate(params)
        prompt_ids = chat_prompt_ids(self.tokenizer, messages, tools)
        clock.prompt_tokens = len(prompt_ids)
        params = fit_params(self, clock.prompt_tokens, params)  # the ids in hand: no second count
        return events_from_steps(
            self._steps(prompt_ids, params, clock), params, clock,
            decode=self._decode, eos_ids=self._eos_ids, peak_memory_gb=self._peak_memory_gb,
        )

    def generate_batch(self, conversations: Sequence[Sequence[Message]], params: GenerationParams,
                       batch_size: int = 8) -> Iterator[BatchRow]:
        """Yield a BatchRow as each conversation finishes, up to `batch_size` of them per forward pass.

        Each row's events follow `stream`'s rules (stop strings, EOS, max_tokens) by the same code;
        its timings count from the moment it joined the batch. batch_size 1 is `stream` itself.
        """
        validate(params)
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        if batch_size == 1:
            return super().generate_batch(conversations, params)
        from .batch import run_batch

        prompts = [chat_prompt_ids(self.tokenizer, messages) for messages in conversations]
        return run_batch(self._batch_decoder(params, batch_size), prompts, params, decode=self._decode,
                         eos_ids=self._eos_ids, peak_memory_gb=self._peak_memory_gb)

    def _decode(self, ids: list[int]) -> str:
        return self.tokenizer.decode(ids, skip_special_tokens=False)

    @abstractmethod
    def _steps(self, prompt_ids: list[int], params: GenerationParams, clock: Clock) -> Iterator[Step]:
        """One runtime step per generated token, until the consumer stops. A runtime that reads the
        prompt's hidden state during the prefill puts it on `clock.prompt_state`."""

    @abstractmethod
    def _batch_decoder(self, params: GenerationParams, batch_size: int):
        """This runtime's `batch.BatchDecoder`."""

    @abstractmethod
    def _peak_memory_gb(self) -> float | None:
        """Peak memory of the runtime so far."""
