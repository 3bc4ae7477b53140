"""Batched generation: many prompts share each forward pass, every row still streams TokenEvents.

A runtime-specific decoder (transformers_batch.py, mlx_batch.py) computes one
`Step` per active row per forward pass. Each row's steps are pushed into its own
`events_from_steps`, the very function the single stream uses, so stop strings,
EOS, max_tokens, top alternatives and timings are decided by one piece of code
for both paths. A row leaves the batch as soon as its stream finishes.
"""
from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from typing import Protocol

from ..types import GenerationParams
from ._text import Clock, Step, events_from_steps
from .base import BatchRow

Row = int  # the prompt's index in the caller's list (BatchRow.index)


class BatchDecoder(Protocol):
    """What a runtime implements: admit prompts, step all active rows, drop finished ones."""

    def room(self) -> int:
        """How many new rows can be admitted now."""

    def admit(self, rows: Sequence[tuple[Row, list[int]]]) -> None:
        """Start these rows (prompt token ids, chat template applied)."""

    def step(self) -> list[tuple[Row, Step]]:
        """One forward pass: the next token of every active row."""

    def drop(self, rows: Sequence[Row]) -> None:
        """These rows are finished: free their slots."""

    def prompt_state(self, row: Row):
        """The row's PromptState right after its prefill, once; None when this runtime reads none."""


class RowStream:
    """One row's TokenEvents: each pushed Step comes out as exactly one event."""

    def __init__(self, index: Row, prompt_tokens: int, params: GenerationParams, **text_options):
        self._steps: deque[Step] = deque()
        self._clock = Clock(prompt_tokens)  # started now: the row's seconds count from its admission
        self._events = events_from_steps(self._fed(), params, self._clock, **text_options)
        self.row = BatchRow(index, [], [])

    def _fed(self) -> Iterator[Step]:
        while True:
            yield self._steps.popleft()

    def push(self, step: Step, prompt_state=None) -> bool:
        """Feed one step (the first may come with the prompt's state); True once the row's stream has finished."""
        if prompt_state is not None:
            self._clock.prompt_state = prompt_state
        self._steps.append(step)
        event = next(self._events)
        self.row.events.append(event)
        self.row.elapsed.append(time.perf_counter() - self._clock.started)
        return event.finish_reason is not None


def run_batch(
    decoder: BatchDecoder,
    prompts: Sequence[list[int]],
    params: GenerationParams,
    *,
    decode: Callable[[list[int]], str],
    eos_ids: frozenset[int],
    peak_memory_gb: Callable[[], float | None],
) -> Iterator[BatchRow]:
    """Yield each row as it finishes. Shortest prompts first: rows of one batch pad less."""
    waiting = deque(sorted(range(len(prompts)), key=lambda row: len(prompts[row])))
    active: dict[Row, RowStream] = {}
    text_options = {"decode": decode, "eos_ids": eos_ids, "peak_memory_gb": peak_memory_gb}
    while waiting or active:
        admitted = [waiting.popleft() for _ in range(min(decoder.room(), len(waiting)))]
        for row in admitted:
            active[row] = RowStream(row, len(prompts[row]), params, **text_options)
        if admitted:
            decoder.admit([(row, prompts[row]) for row in admitted])
        finished = [row for row, step in decoder.step() if active[row].push(step, decoder.prompt_state(row))]
        decoder.drop(finished)
        for row in finished:
            yield active.pop(row).row
