"""Helpers both local backends share: token text, stop strings, event building, timings.

Kept free of torch and mlx so either backend can import it alone.
"""
from __future__ import annotations

import json
import math
import resource
import sys
import time
from collections.abc import Callable, Iterator, Sequence

import numpy as np

from ..types import GenerationParams, Message, Timings, TokenEvent

REPLACEMENT_CHAR = "\ufffd"  # what a decoder prints for an unfinished multi-byte character
TOP_BY_ARGMAX = 32  # up to this many top alternatives, repeated argmax is faster than argpartition


class IncrementalDetokenizer:
    """Token ids in, new text out; text ending in a broken UTF-8 character waits for the next token.

    Decodes a short window (a few tokens before the unread ones) rather than the
    whole answer, so the cost per token stays flat however long the answer gets.
    """

    def __init__(self, decode: Callable[[list[int]], str]):
        self._decode = decode
        self._ids: list[int] = []
        self._prefix = 0  # window start: context so the decoder sees word boundaries
        self._read = 0  # ids up to here were already turned into text

    def add(self, token_id: int) -> str:
        self._ids.append(token_id)
        before = self._decode(self._ids[self._prefix:self._read])
        after = self._decode(self._ids[self._prefix:])
        if after.endswith(REPLACEMENT_CHAR) or len(after) < len(before):
            return ""
        self._prefix, self._read = self._read, len(self._ids)
        return after[len(before):]

    def flush(self) -> str:
        """Whatever is still held back (a character that never completed)."""
        if self._read == len(self._ids):
            return ""
        before = self._decode(self._ids[self._prefix:self._read])
        after = self._decode(self._ids[self._prefix:])
        self._read = len(self._ids)
        return after[len(before):]


class StopMatcher:
    """Holds back text that could be the start of a stop string; finds the first stop string.

    `feed(text)` returns (text safe to show now, stopped). Once stopped, the text
    from the stop string on is dropped.
    """

    def __init__(self, stops: Sequence[str]):
        self._stops = tuple(s for s in stops if s)
        self._held = ""

    def feed(self, text: str) -> tuple[str, bool]:
        if not self._stops:
            return text, False
        pending = self._held + text
        cut = min((i for i in (pending.find(s) for s in self._stops) if i >= 0), default=-1)
        if cut >= 0:
            self._held = ""
            return pending[:cut], True
        keep = self._longest_stop_prefix_suffix(pending)
        self._held = pending[len(pending) - keep:] if keep else ""
        return pending[:len(pending) - keep], False

    def flush(self) -> str:
        held, self._held = self._held, ""
        return held

    def _longest_stop_prefix_suffix(self, text: str) -> int:
        best = 0
        for stop in self._stops:
            for size in range(min(len(stop) - 1, len(text)), best, -1):
                if stop.startswith(text[-size:]):
                    best = size
                    break
        return best


class TokenTexts:
    """id -> text of that token alone, cached: top alternatives repeat a lot."""

    def __init__(self, decode: Callable[[list[int]], str]):
        self._decode = decode
        self._cache: dict[int, str] = {}

    def __call__(self, token_id: int) -> str:
        text = self._cache.get(token_id)
        if text is None:
            text = self._cache[token_id] = self._decode([token_id])
        return text


class Clock:
    """Times one stream: started when stream() is called, not when iteration begins."""

    def __init__(self, prompt_tokens: int):
        self.prompt_tokens = prompt_tokens
        self.started = time.perf_counter()
        self.first_token_at: float | None = None
        self.last_token_at: float | None = None
        self.tokens = 0
        self.prompt_state = None  # set by a runtime that reads it during the prefill; the first token carries it

    def tick(self) -> None:
        now = time.perf_counter()
        if self.first_token_at is None:
            self.first_token_at = now
        self.last_token_at = now
        self.tokens += 1

    def timings(self, peak_memory_gb: float | None) -> Timings:
        now = time.perf_counter()
        first = self.first_token_at if self.first_token_at is not None else now
        decode_s = (self.last_token_at or now) - first
        rate = (self.tokens - 1) / decode_s if self.tokens > 1 and decode_s > 0 else 0.0
        return Timings(
            prompt_tokens=self.prompt_tokens,
            completion_tokens=self.tokens,
            ttft_s=first - self.started,
            tokens_per_s=rate,
            seconds=now - self.started,
            peak_memory_gb=peak_memory_gb,
        )


def process_peak_memory_gb() -> float:
    """Peak resident memory of this process (ru_maxrss is KiB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 1e9 if sys.platform == "darwin" else peak * 1024 / 1e9


_last_prompt: list = [None, None]  # (key, ids) of the last prompt templated


def chat_prompt_ids(tokenizer, messages: Sequence[Message], tools: Sequence[dict] | None = None) -> list[int]:
    """The chat-templated prompt (tools rendered by the template) as token ids, generation prompt included.

    A cell counts its prompt's tokens once (cascade.prepare) just before streaming it; remembering
    the last prompt saves templating it a second time on the path to the first token.
    """
    key = (id(tokenizer), tuple((m["role"], m["content"]) for m in messages), json.dumps(tools, sort_keys=True))
    if _last_prompt[0] == key:
        return list(_last_prompt[1])
    extra = {"tools": list(tools)} if tools else {}
    encoded = tokenizer.apply_chat_template(list(messages), add_generation_prompt=True, tokenize=True, **extra)
    if hasattr(encoded, "keys") and "input_ids" in encoded:  # transformers 5 returns a BatchEncoding
        encoded = encoded["input_ids"]
    _last_prompt[:] = [key, list(encoded)]
    return list(encoded)


def template_mentions_tools(tokenizer) -> bool:
    template = getattr(tokenizer, "chat_template", None) or ""
    return "tools" in str(template)


# One generated token as a runtime reports it: (id, logprob, entropy, top ids, top logprobs).
# All logprobs come from log_softmax of the raw logits, whatever the sampling settings.
Step = tuple[int, float, float, Sequence[int], Sequence[float]]


def logits_step(logits: np.ndarray, token: int, shown: int) -> Step:
    """`confidence_step` straight from a runtime's raw logits, with one exp pass over the vocabulary.

    With s = logits - max and Z = sum(exp(s)): logprob = s - log Z and the entropy is
    log Z - sum(exp(s) * s) / Z, so the log-softmax vector is never built.
    """
    top_ids = _top_ids(logits, shown)  # the logits' order is the logprobs' order
    shifted = logits - (logits[top_ids[0]] if shown else logits.max())  # the top id is the argmax: no second scan
    weights = np.exp(shifted)
    total = float(weights.sum())
    with np.errstate(invalid="ignore"):
        weighted = float(weights @ shifted)
        if weighted != weighted:  # nan: exp(-inf) * -inf is nan, not 0, for masked tokens
            weighted = float(np.nansum(weights * shifted))
    log_total = math.log(total)
    top = shifted[top_ids] - log_total
    return token, float(shifted[token] - log_total), log_total - weighted / total, top_ids.tolist(), top.tolist()


def confidence_step(logprobs: np.ndarray, token: int, shown: int) -> Step:
    """Chosen logprob, entropy (nats) and the `shown` most likely tokens, from a log-softmax vector.

    numpy, single-threaded, ~0.15 ms for a 49k vocabulary: no thread barriers that
    a busy machine would stretch, and (on mlx's CPU build) 5x cheaper than mx.exp.
    """
    top_ids = _top_ids(logprobs, shown)
    probs = np.exp(logprobs)
    with np.errstate(invalid="ignore"):
        entropy = -float(probs @ logprobs)
        if entropy != entropy:  # nan: exp(-inf) * -inf is nan, not 0, for masked tokens
            entropy = -float(np.nansum(probs * logprobs))
    return token, float(logprobs[token]), entropy, top_ids.tolist(), logprobs[top_ids].tolist()


def _top_ids(values: np.ndarray, shown: int) -> np.ndarray:
    """Indices of the `shown` largest values, largest first.

    A few repeated argmax passes (µs each) beat argpartition, which takes ~1 ms on a 49k
    vocabulary: a tenth of a token's time on llama.cpp.
    """
    if shown > TOP_BY_ARGMAX:
        top = np.argpartition(values, -shown)[-shown:]
        return top[np.argsort(values[top])[::-1]]
    work, top = values.copy(), []
    for _ in range(shown):
        index = int(work.argmax())
        top.append(index)
        work[index] = -np.inf
    return np.array(top, dtype=np.int64)


def events_from_steps(
    steps: Iterator[Step],
    params: GenerationParams,
    clock: Clock,
    *,
    decode: Callable[[list[int]], str],
    eos_ids: frozenset[int],
    peak_memory_gb: Callable[[], float | None],
) -> Iterator[TokenEvent]:
    """Turn runtime steps into TokenEvents: text, stop strings, EOS, max_tokens, interrupt.

    Closing this generator closes `steps` at once, so no further token is computed.
    """
    detokenizer, stops, texts = IncrementalDetokenizer(decode), StopMatcher(params.stop), TokenTexts(decode)

    def closing(text: str, reason: str) -> TokenEvent:
        return TokenEvent(text=text, finish_reason=reason, timings=clock.timings(peak_memory_gb()))

    try:
        for token, logprob, entropy, top_ids, top_lps in steps:
            if token in eos_ids:
                yield closing(_remaining_text(detokenizer, stops)[0], "stop")
                return
            clock.tick()
            text, stopped = stops.feed(detokenizer.add(token))
            at_length = clock.tokens >= params.max_tokens
            if at_length and not stopped:
                tail, stopped = _remaining_text(detokenizer, stops)
                text += tail
            reason = "stop" if stopped else "length" if at_length else None
            yield TokenEvent(
                text=text, token_id=token, logprob=min(logprob, 0.0), entropy=max(entropy, 0.0),
                top_logprobs=tuple((texts(i), min(lp, 0.0)) for i, lp in zip(top_ids, top_lps)),
                finish_reason=reason,
                timings=clock.timings(peak_memory_gb()) if reason else None,
                prompt_state=clock.prompt_state if clock.tokens == 1 else None,
            )
            if reason:
                return
        yield closing(_remaining_text(detokenizer, stops)[0], "stop")  # runtime ended on its own
    except KeyboardInterrupt:
        yield closing("", "interrupted")
    finally:
        steps.close()


def _remaining_text(detokenizer: IncrementalDetokenizer, stops: StopMatcher) -> tuple[str, bool]:
    """Held-back text at the end of a stream; a stop string found in it still trims it."""
    text, stopped = stops.feed(detokenizer.flush())
    return (text if stopped else text + stops.flush()), stopped


def hub_unreachable_message(hub_id: str) -> str:
    return f"could not fetch {hub_id} from the Hugging Face hub: offline? download it once or pass a local folder"


def first_line(error: BaseException) -> str:
    text = str(error).strip() or type(error).__name__
    return text.splitlines()[0]


def validate(params: GenerationParams) -> None:
    if params.max_tokens < 1:
        raise ValueError(f"max_tokens must be at least 1, got {params.max_tokens}")
