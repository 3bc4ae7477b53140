"""Local backend on transformers + PyTorch (CPU, float32): a hand-written decode loop.

Not `model.generate`: each token needs its logprob, entropy and top
alternatives from the raw logits, and a consumer that stops iterating must stop
the computation at once (early handoff).
"""
from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import numpy as np
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, DynamicCache

from ..errors import ModelNotFoundError
from ..models import ResolvedModel
from ..types import GenerationParams
from ._text import (
    Clock,
    Step,
    first_line,
    hub_unreachable_message,
    logits_step,
    process_peak_memory_gb,
)
from .templated import TemplatedBackend
from .transformers_states import reader_for

Chooser = Callable[[np.ndarray], int]  # raw logits -> chosen token id


class TransformersBackend(TemplatedBackend):
    name = "transformers"

    def __init__(self, model: ResolvedModel):
        super().__init__(model)
        self.tokenizer, self.torch_model = _load(model)
        self._eos_ids = _eos_ids(self.tokenizer, self.torch_model)
        # transformers 5 renamed past_key_values to cache; accept both spellings
        forward_args = inspect.signature(self.torch_model.forward).parameters
        self._cache_kwarg = "cache" if "cache" in forward_args else "past_key_values"
        self._prompt_states = reader_for(self.torch_model)  # the prompt's state, read during the prefill

    @property
    def context_length(self) -> int:
        return int(getattr(self.torch_model.config, "max_position_embeddings", 2048))

    def supports_hidden_states(self) -> bool:
        return self._prompt_states is not None  # a Llama-style decoder: the prefill reads the prompt's state

    def _peak_memory_gb(self) -> float | None:
        return process_peak_memory_gb()

    def _steps(self, prompt_ids: list[int], params: GenerationParams, clock: Clock) -> Iterator[Step]:
        """One forward pass per token, KV cache reused; stops when the consumer stops.
        The prefill also leaves the prompt's hidden state on the clock (the first token carries it)."""
        choose = _make_chooser(params)
        cache = DynamicCache(config=self.torch_model.config)
        logits = self._prefill(torch.tensor([prompt_ids]), cache, clock)
        while True:
            token = choose(logits)
            yield logits_step(logits, token, params.top_alternatives)
            logits = self._next_logits(torch.tensor([[token]]), cache)

    def _prefill(self, inputs: torch.Tensor, cache: DynamicCache, clock: Clock) -> np.ndarray:
        if self._prompt_states is None:
            return self._next_logits(inputs, cache)
        with self._prompt_states.armed():
            logits = self._next_logits(inputs, cache)
        clock.prompt_state = next(iter(self._prompt_states.take()), None)
        return logits

    def _batch_decoder(self, params: GenerationParams, batch_size: int):
        from .transformers_batch import TransformersBatch

        pad_id = self.tokenizer.pad_token_id
        return TransformersBatch(self.torch_model, cache_kwarg=self._cache_kwarg, params=params,
                                 batch_size=batch_size, make_chooser=_make_chooser, states=self._prompt_states,
                                 pad_id=min(self._eos_ids) if pad_id is None else pad_id)

    @torch.inference_mode()
    def _next_logits(self, inputs: torch.Tensor, cache: DynamicCache) -> np.ndarray:
        """Forward one chunk (the prompt, then one token); the cache grows in place.

        The raw logits leave torch as a numpy view: the per-token statistics run
        single-threaded there, with no thread barrier for a busy CPU to stretch.
        """
        out = self.torch_model(input_ids=inputs, **{self._cache_kwarg: cache}, use_cache=True, logits_to_keep=1)
        return out.logits[0, -1].float().numpy()


def _make_chooser(params: GenerationParams) -> Chooser:
    """Greedy at temperature 0, else temperature + top-p with a generator seeded by params.seed."""
    if params.temperature <= 0:
        return lambda logits: int(logits.argmax())
    generator = torch.Generator()
    if params.seed is None:
        generator.seed()
    else:
        generator.manual_seed(params.seed)
    temperature, top_p = params.temperature, params.top_p

    def sample(logits: np.ndarray) -> int:
        probs = torch.softmax(torch.from_numpy(logits) / temperature, dim=-1)
        if top_p < 1.0:
            sorted_probs, order = probs.sort(descending=True)
            outside = sorted_probs.cumsum(-1) - sorted_probs > top_p  # the top token always stays
            sorted_probs[outside] = 0.0
            return int(order[torch.multinomial(sorted_probs, 1, generator=generator)[0]])
        return int(torch.multinomial(probs, 1, generator=generator)[0])

    return sample


@contextmanager
def _quiet_progress():
    from transformers.utils import logging as hf_logging

    was_enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was_enabled:
            hf_logging.enable_progress_bar()


def _load(model: ResolvedModel):
    """Tokenizer and model in eval mode; an unreachable hub id becomes one clear line."""
    try:
        tokenizer = AutoTokenizer.from_pretrained(model.path)
        with _quiet_progress():  # the card shows "loading model"; a progress bar would stay in the output
            torch_model = AutoModelForCausalLM.from_pretrained(model.path, dtype=torch.float32)
    except Exception as error:  # hub errors come as OSError, httpx or hub types: all mean "not reachable"
        if model.kind == "hub":
            raise ModelNotFoundError(hub_unreachable_message(model.path)) from None
        if isinstance(error, (OSError, ValueError)):
            raise ModelNotFoundError(f"could not load {model.path}: {first_line(error)}") from None
        raise
    torch_model.eval()
    return tokenizer, torch_model


def _eos_ids(tokenizer, torch_model) -> frozenset[int]:
    """Tokenizer EOS plus every id the generation config names (e.g. <|im_end|> and <|endoftext|>)."""
    ids: set[int] = set()
    for source in (tokenizer.eos_token_id, getattr(torch_model.generation_config, "eos_token_id", None),
                   getattr(torch_model.config, "eos_token_id", None)):
        if isinstance(source, int):
            ids.add(source)
        elif source:
            ids.update(int(i) for i in source)
    return frozenset(ids)

