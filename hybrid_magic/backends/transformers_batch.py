"""Batched decoding on transformers: padded groups sharing one KV cache.

The prompts' common start (the chat template's system text) is computed once
and its cache copied to every row; the rest of each prompt is left-padded to one
width, so every row's last prompt token sits in the same column and one forward
pass gives each row its next-token logits. The attention mask hides the padding
and position ids count only real tokens, so a row sees what it would see alone.
A finished row is cut out of the cache at once; the next group starts when the
last row of this one finishes.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch
from transformers import DynamicCache

from ..types import GenerationParams
from ._text import Step, logits_step

Chooser = Callable[[np.ndarray], int]


class TransformersBatch:
    def __init__(self, torch_model, *, cache_kwarg: str, pad_id: int, params: GenerationParams,
                 batch_size: int, make_chooser: Callable[[GenerationParams], Chooser], states=None):
        self._model, self._cache_kwarg, self._pad_id = torch_model, cache_kwarg, pad_id
        self._states, self._read = states, {}  # PromptStateReader (or None); row -> its prompt's state
        self._params, self._batch_size, self._make_chooser = params, batch_size, make_chooser
        self._rows: list[int] = []

    def room(self) -> int:
        return 0 if self._rows else self._batch_size

    def admit(self, rows: Sequence[tuple[int, list[int]]]) -> None:
        self._rows = [row for row, _ in rows]
        self._choosers = [self._make_chooser(self._params) for _ in rows]
        shared = _shared_start([ids for _, ids in rows])
        tails = [ids[shared:] for _, ids in rows]
        width = max(len(tail) for tail in tails)
        self._inputs = torch.tensor([[self._pad_id] * (width - len(tail)) + tail for tail in tails])
        mask = torch.tensor([[1] * shared + [0] * (width - len(tail)) + [1] * len(tail) for tail in tails])
        self._mask, self._positions = mask, (mask.cumsum(-1) - 1).clamp(min=0)[:, shared:]
        self._cache, self._prefilling = DynamicCache(config=self._model.config), True
        if shared:
            self._prefill_shared(rows[0][1][:shared], len(rows))

    @torch.inference_mode()
    def _prefill_shared(self, start: list[int], copies: int) -> None:
        self._model(input_ids=torch.tensor([start]), **{self._cache_kwarg: self._cache}, use_cache=True,
                    logits_to_keep=1)
        self._cache.batch_repeat_interleave(copies)

    def prompt_state(self, row: int):
        """The row's prompt state, once, after its prefill (None on every later call)."""
        return self._read.pop(row, None)

    def step(self) -> list[tuple[int, Step]]:
        if not self._rows:
            return []
        logits = self._prefill() if self._prefilling else self._next_logits()
        shown = self._params.top_alternatives
        steps = [logits_step(row_logits, choose(row_logits), shown)
                 for choose, row_logits in zip(self._choosers, logits)]
        self._inputs = torch.tensor([[step[0]] for step in steps])
        self._mask = torch.cat([self._mask, torch.ones(len(steps), 1, dtype=self._mask.dtype)], dim=-1)
        self._positions = self._positions[:, -1:] + 1
        return list(zip(self._rows, steps))

    def drop(self, rows: Sequence[int]) -> None:
        if not rows:
            return
        gone = set(rows)
        keep = [i for i, row in enumerate(self._rows) if row not in gone]
        self._rows = [self._rows[i] for i in keep]
        self._choosers = [self._choosers[i] for i in keep]
        if keep:
            index = torch.tensor(keep)
            self._inputs, self._mask = self._inputs[index], self._mask[index]
            self._positions = self._positions[index]
            self._cache.batch_select_indices(index)

    def _prefill(self) -> np.ndarray:
        """The prompts' own tokens; the reader (when there is one) keeps each row's last prompt state."""
        self._prefilling = False
        if self._states is None:
            return self._next_logits()
        with self._states.armed():
            logits = self._next_logits()
        self._read = dict(zip(self._rows, self._states.take()))
        return logits

    @torch.inference_mode()
    def _next_logits(self) -> np.ndarray:
        """Every active row's next-token logits, shape (rows, vocabulary), as numpy."""
        out = self._model(input_ids=self._inputs, attention_mask=self._mask, position_ids=self._positions,
                          **{self._cache_kwarg: self._cache}, use_cache=True, logits_to_keep=1)
        return out.logits[:, -1].float().numpy()


def _shared_start(prompts: list[list[int]]) -> int:
    """Tokens every prompt starts with, leaving each at least one of its own (its logits come from it)."""
    if len(prompts) < 2:
        return 0
    limit = min(len(ids) for ids in prompts) - 1
    first = prompts[0]
    for n in range(limit):
        if any(ids[n] != first[n] for ids in prompts[1:]):
            return n
    return max(limit, 0)
