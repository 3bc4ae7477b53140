"""Local backend on mlx-lm: `stream_generate` does the decoding, we read its logprobs.

mlx-lm's responses carry `.logprobs`, the log-softmax of the raw logits over the
whole vocabulary (generate_step computes `logits - logsumexp(logits)` before
the sampler sees them, and we pass no logits processors), so the confidence
figures match the transformers backend whatever temperature is used.
"""
from __future__ import annotations

from collections.abc import Iterator

import mlx.core as mx
import numpy as np
import mlx_lm
from mlx_lm.sample_utils import make_sampler

from ..errors import ModelNotFoundError
from ..models import ResolvedModel
from ..types import GenerationParams
from ._text import (
    Clock,
    Step,
    confidence_step,
    first_line,
    hub_unreachable_message,
)
from .templated import TemplatedBackend

DEFAULT_CONTEXT = 2048  # when a config names no max_position_embeddings


class MLXBackend(TemplatedBackend):
    name = "mlx"

    def __init__(self, model: ResolvedModel):
        super().__init__(model)
        self.mlx_model, self.tokenizer, self._config = _load(model)
        self._eos_ids = frozenset(int(i) for i in self.tokenizer.eos_token_ids)

    @property
    def context_length(self) -> int:
        return int(self._config.get("max_position_embeddings") or DEFAULT_CONTEXT)

    def _peak_memory_gb(self) -> float | None:
        return _peak_memory_gb()

    def _steps(self, prompt_ids: list[int], params: GenerationParams, clock: Clock) -> Iterator[Step]:
        """stream_generate with no length limit: events_from_steps stops at max_tokens or a stop string."""
        if params.seed is not None:
            mx.random.seed(params.seed)
        sampler = make_sampler(temp=params.temperature, top_p=params.top_p)
        responses = mlx_lm.stream_generate(self.mlx_model, self.tokenizer, prompt_ids, max_tokens=-1, sampler=sampler)
        try:
            for response in responses:
                yield _token_stats(response.logprobs, response.token, params.top_alternatives)
        finally:
            responses.close()  # a closed stream computes nothing more

    def _batch_decoder(self, params: GenerationParams, batch_size: int):
        from .mlx_batch import MLXBatch

        return MLXBatch(self.mlx_model, params=params, batch_size=batch_size, token_stats=_token_stats)


def _token_stats(logprobs: mx.array, token: int, shown: int) -> Step:
    if logprobs.dtype != mx.float32:  # bf16/fp16 models: numpy cannot read those buffers
        logprobs = logprobs.astype(mx.float32)
    return confidence_step(np.asarray(logprobs), token, shown)  # a view, no copy


def _load(model: ResolvedModel):
    try:
        return mlx_lm.load(model.path, return_config=True)
    except Exception as error:  # hub and file errors come in many types; all mean "cannot load this"
        if model.kind == "hub":
            raise ModelNotFoundError(hub_unreachable_message(model.path)) from None
        raise ModelNotFoundError(f"could not load {model.path} with mlx-lm: {first_line(error)}") from None


def _peak_memory_gb() -> float:
    return mx.get_peak_memory() / 1e9

