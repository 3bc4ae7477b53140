"""Batched decoding on mlx-lm: its own continuous-batching `BatchGenerator`.

mlx-lm keeps one generation batch and prefills new prompts into free slots, so
a finished row's slot is refilled at once. Its per-row logprobs are the same
log-softmax of the raw logits the single stream reads; the stop rules (EOS,
stop strings, max_tokens) stay with `events_from_steps`, which tells us when to
remove a row.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

import mlx.core as mx
from mlx_lm.generate import BatchGenerator
from mlx_lm.sample_utils import make_sampler

from ..types import GenerationParams
from ._text import Step

TokenStats = Callable[[mx.array, int, int], Step]  # (logprobs, token, shown) -> Step


class MLXBatch:
    def __init__(self, mlx_model, *, params: GenerationParams, batch_size: int, token_stats: TokenStats):
        if params.seed is not None:
            mx.random.seed(params.seed)
        sampler = make_sampler(temp=params.temperature, top_p=params.top_p)
        # no stop tokens and one token of slack: events_from_steps decides when a row ends
        self._generator = BatchGenerator(mlx_model, max_tokens=params.max_tokens + 1, sampler=sampler,
                                         completion_batch_size=batch_size, prefill_batch_size=batch_size)
        self._batch_size, self._shown, self._token_stats = batch_size, params.top_alternatives, token_stats
        self._rows: dict[int, int] = {}  # mlx uid -> our row

    def room(self) -> int:
        return self._batch_size - len(self._rows)

    def admit(self, rows: Sequence[tuple[int, list[int]]]) -> None:
        uids = self._generator.insert([ids for _, ids in rows])
        self._rows.update(zip(uids, (row for row, _ in rows)))

    def prompt_state(self, row: int) -> None:
        return None  # mlx-lm's batch generator exposes no hidden states

    def step(self) -> list[tuple[int, Step]]:
        if not self._rows:
            return []
        return [(self._rows[r.uid], self._token_stats(r.logprobs, r.token, self._shown))
                for r in self._generator.next_generated()]

    def drop(self, rows: Sequence[int]) -> None:
        gone = set(rows)
        uids = [uid for uid, row in self._rows.items() if row in gone]
        self._generator.remove(uids)
        for uid in uids:
            del self._rows[uid]
