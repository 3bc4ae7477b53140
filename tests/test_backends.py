"""The LocalBackend contract on every in-process backend (transformers, mlx, llama.cpp) and the real SmolLM2:
text, confidence, sampling, timings, stopping, interrupts, caching. What only llama.cpp has is in test_llamacpp.py.

Each backend is loaded once per session through get_backend (the registry keeps it); llama.cpp
runs the embedded GGUF as is, the others the converted folder.
Prompts are short and max_tokens small: the CPU is shared.
"""
from __future__ import annotations

import time

import numpy as np
import pytest

from hybrid_magic import backends as registry
from hybrid_magic.backends._text import IncrementalDetokenizer, StopMatcher, confidence_step, logits_step
from hybrid_magic.config import HybridSettings
from hybrid_magic.engine import Engine
from hybrid_magic.errors import ContextOverflowError
from hybrid_magic.ledger import Ledger
from hybrid_magic.models import ResolvedModel, resolve
from hybrid_magic.types import GenerationParams, Request
from streams import CountingModel, run as _run, text as _text, token_events as _token_events

BACKENDS = ["transformers", "mlx", "llamacpp"]
# llama.cpp runs the Q4_1 weights with 8-bit activations: "capital of France" is a near tie there
# (first token "L" -1.88 vs "The" -1.97); every backend answers this one right.
CAPITAL = [{"role": "user", "content": "What is the capital of Germany?"}]
POEM = [{"role": "user", "content": "Write a long poem about the sea."}]
# what each decode step calls, counted by the close and interrupt tests; and how many calls closing
# after 3 tokens may have made (the prompt, 3 tokens, and mlx / transformers one computed ahead; llama.cpp
# evaluates the prompt's last token on its own, so its prompt may be two calls)
COUNTED_CALL = {"transformers": ("", "torch_model"), "mlx": ("", "mlx_model"), "llamacpp": ("llm", "eval")}
CALLS_AT_CLOSE = {"transformers": 6, "mlx": 6, "llamacpp": 5}


def _model(model_dir, name: str = "transformers") -> ResolvedModel:
    if name == "llamacpp":
        return resolve("smollm2-135m", "/nonexistent-cache", convert=False)  # the GGUF as is
    return ResolvedModel("smollm2-135m", str(model_dir), "embedded")


@pytest.fixture(scope="module", params=BACKENDS)
def backend(request, model_dir):
    loaded, _ = registry.get_backend(request.param, _model(model_dir, request.param))
    return loaded


def _count_calls(backend, monkeypatch, fail_at: int | None = None) -> CountingModel:
    owner_attr, attr = COUNTED_CALL[backend.name]
    owner = getattr(backend, owner_attr) if owner_attr else backend
    counting = CountingModel(getattr(owner, attr), fail_at)
    monkeypatch.setattr(owner, attr, counting)
    return counting


def test_answers_the_capital_of_germany(backend):
    events = _run(backend, CAPITAL, max_tokens=12)
    assert "Berlin" in _text(events)
    assert events[-1].finish_reason in ("stop", "length")


def test_greedy_is_deterministic(backend):
    first, second = _run(backend, POEM, max_tokens=12), _run(backend, POEM, max_tokens=12)
    assert [e.token_id for e in first] == [e.token_id for e in second]
    assert [e.logprob for e in first[:-1]] == pytest.approx([e.logprob for e in second[:-1]], abs=1e-5)
    if backend.name == "llamacpp":  # the second run found the prompt in the cache; a cold one reads the same
        backend.llm.reset()
        cold = _run(backend, POEM, max_tokens=12)
        assert [e.logprob for e in cold[:-1]] == pytest.approx([e.logprob for e in first[:-1]], abs=1e-5)


def test_every_token_carries_consistent_confidence(backend):
    events = _run(backend, POEM, max_tokens=8, top_alternatives=4)
    assert len(events) == 8 and all(event.token_id is not None for event in events)
    for event in events:
        assert event.logprob <= 0 and event.entropy >= 0
        assert len(event.top_logprobs) == 4
        top = [logprob for _, logprob in event.top_logprobs]
        assert top == sorted(top, reverse=True)
        assert event.logprob == pytest.approx(top[0], abs=1e-4)  # greedy picks the most likely token
        assert backend.tokenizer.decode([event.token_id]) == event.top_logprobs[0][0]


def test_sampled_token_logprob_comes_from_raw_logits(backend):
    """At temperature 1.5 the logprobs are still those of the unscaled distribution."""
    greedy = _run(backend, CAPITAL, max_tokens=1)[0]
    hot = _run(backend, CAPITAL, max_tokens=1, temperature=1.5, seed=3)[0]
    assert [text for text, _ in hot.top_logprobs] == [text for text, _ in greedy.top_logprobs]
    assert [lp for _, lp in hot.top_logprobs] == pytest.approx([lp for _, lp in greedy.top_logprobs], abs=1e-4)
    assert hot.entropy == pytest.approx(greedy.entropy, abs=1e-4)
    assert hot.logprob <= greedy.logprob + 1e-6


def test_top_p_keeps_the_draws_in_the_nucleus(backend):
    """top_p=0.05 keeps only the most likely token: sampling then equals greedy."""
    greedy = [e.token_id for e in _run(backend, POEM, max_tokens=6)]
    narrow = [e.token_id for e in _run(backend, POEM, max_tokens=6, temperature=1.0, top_p=0.05, seed=1)]
    assert narrow == greedy


def test_last_event_timings_are_sane(backend):
    events = _run(backend, POEM, max_tokens=6)
    timings = events[-1].timings
    assert timings is not None and all(event.timings is None for event in events[:-1])
    assert timings.completion_tokens == len(_token_events(events)) == 6
    assert timings.prompt_tokens == backend.count_prompt_tokens(POEM)
    assert 0 < timings.ttft_s <= timings.seconds
    assert timings.tokens_per_s > 0
    assert timings.peak_memory_gb is not None and timings.peak_memory_gb > 0


def test_same_seed_same_text_other_seed_other_text(backend):
    def sample(seed):
        return _text(_run(backend, POEM, max_tokens=10, temperature=0.9, seed=seed))

    first = sample(7)
    assert sample(7) == first
    assert sample(8) != first


def test_stop_string_is_trimmed(backend):
    events = _run(backend, CAPITAL, max_tokens=12, stop=("Berlin",))
    assert _text(events) == "The capital of Germany is "
    assert events[-1].finish_reason == "stop"


def test_stop_string_spanning_tokens_is_held_back_then_trimmed(backend):
    events = _run(backend, CAPITAL, max_tokens=12, stop=("of Ger",))
    assert _text(events) == "The capital "
    assert all("of" not in event.text for event in events)  # never shown, then taken back
    assert events[-1].finish_reason == "stop"


def test_max_tokens_ends_with_length_and_eos_with_stop(backend):
    events = _run(backend, POEM, max_tokens=5)
    assert len(_token_events(events)) == 5
    assert events[-1].finish_reason == "length"
    events = _run(backend, CAPITAL, max_tokens=60)
    assert events[-1].finish_reason == "stop" and len(_token_events(events)) < 60
    assert "<|im_end|>" not in _text(events)


def test_closing_the_stream_stops_generation(backend, monkeypatch):
    counting = _count_calls(backend, monkeypatch)
    stream = backend.stream(POEM, GenerationParams(max_tokens=200))
    for _ in range(3):
        next(stream)
    stream.close()
    calls_at_close = counting.calls
    time.sleep(0.5)
    assert counting.calls == calls_at_close <= CALLS_AT_CLOSE[backend.name]
    with pytest.raises(StopIteration):
        next(stream)


def test_keyboard_interrupt_ends_the_stream_with_timings(backend, monkeypatch):
    _count_calls(backend, monkeypatch, fail_at=4)
    events = _run(backend, POEM, max_tokens=50)
    assert events[-1].finish_reason == "interrupted"
    assert events[-1].timings is not None
    assert 1 <= events[-1].timings.completion_tokens == len(_token_events(events)) <= 3  # the 4th call raised


def test_get_backend_reuses_the_loaded_instance(backend, model_dir):
    loads = registry.load_count
    again, load_s = registry.get_backend(backend.name, _model(model_dir, backend.name))
    assert again is backend and load_s == 0.0
    assert registry.load_count == loads


def test_long_prompt_is_counted_quickly(backend):
    long_prompt = [{"role": "user", "content": "word " * 9000}]
    started = time.perf_counter()
    count = backend.count_prompt_tokens(long_prompt)
    assert count > backend.context_length == 8192
    assert time.perf_counter() - started < 2.0


def test_prompt_longer_than_the_context_is_one_line(backend):
    with pytest.raises(ContextOverflowError) as caught:
        backend.stream([{"role": "user", "content": "word " * 9000}], GenerationParams(max_tokens=4))
    assert "tokens but" in str(caught.value) and "\n" not in str(caught.value)


def test_a_cell_counts_and_templates_its_prompt_once(backend, isolated_home, monkeypatch):
    """%%local and %%hybrid count the prompt once; the context fit and the stats reuse that count, and
    the stream takes the ids templated for it instead of rendering the chat template again."""
    engine = Engine(HybridSettings(backend=backend.name), Ledger(isolated_home / "ledger.sqlite"))
    counts = CountingModel(backend.count_prompt_tokens)
    renders = CountingModel(backend.tokenizer.apply_chat_template)
    monkeypatch.setattr(backend, "count_prompt_tokens", counts)
    monkeypatch.setattr(backend.tokenizer, "apply_chat_template", renders)
    for magic in ("local", "hybrid"):  # a prompt no other test sends: nothing templated is remembered for it
        request = Request(magic=magic, prompt=f"Name a {magic} bird.", model="smollm2-135m", backend=backend.name,
                          params=GenerationParams(max_tokens=3), private=True)
        assert engine.load(request)[0] is backend
        counts.calls = renders.calls = 0
        record = engine.run_local(request) if magic == "local" else engine.run_hybrid(request)
        assert record.local.completion_tokens >= 1 and record.local.prompt_tokens > 5
        assert (counts.calls, renders.calls) == (1, 1), magic


def test_smollm2_template_has_no_tools(backend):
    assert backend.supports_tools() is False


def test_transformers_and_mlx_agree_on_greedy_text(model_dir):
    texts = {
        name: _text(_run(registry.get_backend(name, _model(model_dir))[0], CAPITAL, max_tokens=12))
        for name in ("transformers", "mlx")
    }
    assert texts["transformers"] == texts["mlx"]


def test_multibyte_characters_come_out_whole(backend):
    original = "café – 日本語 🙂 naïve"
    ids = backend.tokenizer.encode(original, add_special_tokens=False)
    detokenizer = IncrementalDetokenizer(backend._decode)
    pieces = [detokenizer.add(token) for token in ids]
    assert "".join(pieces) + detokenizer.flush() == original
    assert not any("\ufffd" in piece for piece in pieces)
    assert "" in pieces  # the emoji spans several tokens: text waited for the whole character


@pytest.mark.parametrize(
    "stops, chunks, shown, stopped",
    [
        ((), ["ab", "cd"], ["ab", "cd"], False),
        (("STOP",), ["hello S", "TO", "P there"], ["hello ", "", ""], True),
        (("STOP",), ["hello S", "ure"], ["hello ", "Sure"], False),
        (("\n\n", "END"), ["a\n", "\nb"], ["a", ""], True),
        (("xyz",), ["axyzb"], ["a"], True),
    ],
)
def test_stop_matcher_holds_back_possible_starts(stops, chunks, shown, stopped):
    matcher = StopMatcher(stops)
    results = [matcher.feed(chunk) for chunk in chunks]
    got = [text for text, _ in results[: len(shown)]]
    assert got == shown
    assert any(hit for _, hit in results) is stopped


@pytest.mark.parametrize("logits", [
    [2.0, -np.inf, 1.0, 0.5, -np.inf],  # masked tokens: exp(-inf) * -inf must not make the entropy nan
    [0.0, 0.0, 0.0, 0.0],  # uniform: entropy log(4)
    [50.0, -50.0, -50.0],  # one-hot in float32: entropy 0
    [3.1, -1.2, 0.7, 2.9, -0.4, 1.8],
])
def test_logits_step_equals_the_log_softmax_reference(logits):
    """The one-exp-pass form gives what confidence_step gives on log_softmax(logits), masked tokens included."""
    values = np.asarray(logits, dtype=np.float32)
    shifted = values - values.max()
    reference = confidence_step(shifted - np.log(np.exp(shifted).sum()), 0, 2)
    token, logprob, entropy, top_ids, top_logprobs = logits_step(values, 0, 2)
    assert (token, top_ids) == (reference[0], reference[3])
    assert logprob == pytest.approx(reference[1], abs=1e-6) and logprob == top_logprobs[0]
    assert entropy == pytest.approx(reference[2], abs=1e-6) and entropy >= -1e-6
    assert top_logprobs == pytest.approx(reference[4], abs=1e-6)
