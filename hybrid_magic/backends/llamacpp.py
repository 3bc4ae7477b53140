"""Local backend on llama.cpp (llama-cpp-python): runs a GGUF file as is, no conversion.

The decode loop is the library's low-level one: evaluate one token, read the raw
logits of the last position. Each token's logprob, entropy and top alternatives
come from those logits in numpy (logits_step, as the transformers
backend), which keeps the speed of the library's own `generate()`; its
high-level `logprobs=` path is about 5x slower. The prompt shares the KV cache
with the previous cell's prompt up to their first difference, as llama.cpp's
own loop does.

The chat template is the GGUF's `tokenizer.chat_template`, rendered by
transformers' jinja renderer, so every backend builds the same prompt from it.
What llama.cpp cannot give: intermediate hidden states (supports_hidden_states
is False), so features built on them need --backend transformers.
"""
from __future__ import annotations

import atexit
import os
import weakref
from collections.abc import Iterator, Sequence

import llama_cpp
import numpy as np
from transformers.utils.chat_template_utils import render_jinja_template

from ..errors import ModelNotFoundError, UsageError
from ..models import ResolvedModel
from ..types import GenerationParams, Message
from ._text import Clock, Step, first_line, logits_step, process_peak_memory_gb
from .base import BatchRow
from .templated import TemplatedBackend

MAX_CONTEXT = 8192  # llama.cpp allocates the KV cache up front: cap it for models trained on longer contexts
MAX_THREADS = 8  # decoding a small model is bound by memory bandwidth; more threads only wait on each other


class GGUFChatTokenizer:
    """The tokenizer side TemplatedBackend uses, over llama.cpp's vocabulary and the GGUF's chat template."""

    def __init__(self, llm: llama_cpp.Llama):
        self._llm = llm
        self.chat_template = llm.metadata.get("tokenizer.chat_template")
        self._special_tokens = {"bos_token": self._token_text(llm.token_bos()),
                                "eos_token": self._token_text(llm.token_eos())}

    def apply_chat_template(self, messages, *, add_generation_prompt=False, tokenize=True, tools=None, **kwargs):
        rendered, _ = render_jinja_template([list(messages)], tools=tools, chat_template=self.chat_template,
                                            add_generation_prompt=add_generation_prompt,
                                            **self._special_tokens, **kwargs)
        return self.encode(rendered[0], add_special_tokens=False) if tokenize else rendered[0]

    def encode(self, text: str, add_special_tokens: bool = True) -> list[int]:
        """Special tokens written in the text are read as such, as transformers' tokenizers do."""
        return self._llm.tokenize(text.encode("utf-8"), add_bos=add_special_tokens, special=True)

    def decode(self, ids: Sequence[int], skip_special_tokens: bool = False) -> str:
        return self._llm.detokenize(list(ids), special=not skip_special_tokens).decode("utf-8", errors="replace")

    def _token_text(self, token: int) -> str:
        return self.decode([token]) if token >= 0 else ""


class LlamaCppBackend(TemplatedBackend):
    name = "llamacpp"

    def __init__(self, model: ResolvedModel):
        super().__init__(model)
        self.llm = _load(model)
        self.tokenizer = GGUFChatTokenizer(self.llm)
        vocab = llama_cpp.llama_model_get_vocab(self.llm.model)
        self._eos_ids = frozenset(t for t in range(self.llm.n_vocab()) if llama_cpp.llama_vocab_is_eog(vocab, t))
        self._n_vocab = self.llm.n_vocab()
        self._train_context = llama_cpp.llama_model_n_ctx_train(self.llm.model)
        self._recurrent = llama_cpp.llama_model_is_recurrent(self.llm.model) or llama_cpp.llama_model_is_hybrid(
            self.llm.model)

    @property
    def context_length(self) -> int:
        return min(self.llm.n_ctx(), self._train_context or MAX_CONTEXT)

    def generate_batch(self, conversations: Sequence[Sequence[Message]], params: GenerationParams,
                       batch_size: int = 8) -> Iterator[BatchRow]:
        """One conversation after another (`stream` each): llama.cpp's multi-sequence batches are not wired in."""
        return super().generate_batch(conversations, params, batch_size=1)

    def _batch_decoder(self, params: GenerationParams, batch_size: int):
        raise NotImplementedError("generate_batch runs one conversation at a time on llama.cpp")

    def _peak_memory_gb(self) -> float | None:
        return process_peak_memory_gb()

    def _steps(self, prompt_ids: list[int], params: GenerationParams, clock: Clock) -> Iterator[Step]:
        """One llama_decode per token; the logits are read in place, before the next decode overwrites them."""
        sampler = _Sampler(params, self.llm.ctx)
        try:
            self._evaluate_prompt(prompt_ids)
            while True:
                logits = np.ctypeslib.as_array(llama_cpp.llama_get_logits_ith(self.llm.ctx, -1), shape=(self._n_vocab,))
                token = sampler.choose(logits)
                yield logits_step(logits, token, params.top_alternatives)
                self.llm.eval([token])
        finally:
            sampler.close()

    def _evaluate_prompt(self, prompt_ids: list[int]) -> None:
        """Keep the cache of the prefix shared with the last sequence; evaluate the rest, then the last prompt
        token on its own. A token decoded in a batch and the same token decoded alone can take different matmul
        kernels (up to 0.04 apart in the first token's logprob on an AVX2 CPU), so the last one always goes
        alone: the first token's confidence is the same whether or not the previous cell left this prompt's
        prefix in the cache."""
        keep = 0 if self._recurrent else _shared_prefix(self.llm.input_ids[:self.llm.n_tokens], prompt_ids)
        keep = min(keep, len(prompt_ids) - 1)
        if keep == 0:
            self.llm.reset()
        self.llm.n_tokens = keep  # eval() drops the cache from n_tokens on before it decodes
        if keep < len(prompt_ids) - 1:
            self.llm.eval(prompt_ids[keep:-1])
        self.llm.eval(prompt_ids[-1:])


class _Sampler:
    """Greedy argmax at temperature 0; otherwise temperature, then top-p, then a seeded draw, in llama.cpp.

    The order (temperature before top-p) is the transformers backend's too.
    """

    def __init__(self, params: GenerationParams, ctx):
        self._ctx, self._chain = ctx, None
        if params.temperature > 0:
            seed = llama_cpp.LLAMA_DEFAULT_SEED if params.seed is None else params.seed  # default: a random seed
            self._chain = llama_cpp.llama_sampler_chain_init(llama_cpp.llama_sampler_chain_default_params())
            stages = [llama_cpp.llama_sampler_init_temp(params.temperature)]
            if params.top_p < 1.0:
                stages.append(llama_cpp.llama_sampler_init_top_p(params.top_p, 1))
            for stage in stages + [llama_cpp.llama_sampler_init_dist(seed & 0xFFFFFFFF)]:
                llama_cpp.llama_sampler_chain_add(self._chain, stage)

    def choose(self, logits: np.ndarray) -> int:
        if self._chain is None:
            return int(logits.argmax())
        return int(llama_cpp.llama_sampler_sample(self._chain, self._ctx, -1))

    def close(self) -> None:
        if self._chain is not None:
            llama_cpp.llama_sampler_free(self._chain)  # frees the stages the chain owns
            self._chain = None


def _shared_prefix(cached: np.ndarray, prompt_ids: list[int]) -> int:
    size = min(len(cached), len(prompt_ids))
    differs = np.flatnonzero(cached[:size] != np.asarray(prompt_ids[:size], dtype=cached.dtype))
    return int(differs[0]) if differs.size else size


def default_threads() -> int:
    available = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return max(1, min(available, MAX_THREADS))


def _load(model: ResolvedModel) -> llama_cpp.Llama:
    if not model.path.endswith(".gguf"):
        raise UsageError(f"The llamacpp backend runs GGUF files; {model.name} is a {model.kind} model: "
                         "pass a .gguf file with -m, or use --backend transformers.")
    try:
        llm = llama_cpp.Llama(model.path, n_ctx=MAX_CONTEXT, n_threads=default_threads(),
                              logits_all=False, verbose=False)
    except (ValueError, RuntimeError, OSError) as error:
        raise ModelNotFoundError(f"could not load {model.path} with llama.cpp: {first_line(error)}") from None
    atexit.register(_free_at_exit, weakref.ref(llm))
    return llm


def _free_at_exit(llm: weakref.ref) -> None:
    """Free a model still loaded at interpreter exit while llama_cpp's module is whole: its own __del__,
    run later during teardown, finds the library's functions gone (a TypeError on stderr); after this
    it has nothing left to free."""
    loaded = llm()
    if loaded is not None:
        loaded.close()
