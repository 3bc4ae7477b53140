"""Batched generation on the real SmolLM2, both backends: every row streams what `stream` would.

Greedy answers of a batch equal one-at-a-time answers here; on larger sets a
small share may differ where padding moves a near-tie (benchmarks/bench_experiments.py
measures it). Prompts are short and max_tokens small: the CPU is shared.
"""
from __future__ import annotations

import pytest

from hybrid_magic import backends as registry
from hybrid_magic.models import ResolvedModel
from hybrid_magic.types import GenerationParams

PROMPTS = [  # different lengths: the batch pads; different answer lengths: rows leave early
    "What is 2 + 3? Answer with the number only.",
    "What is the capital of France?",
    "Name a colour.",
    "Write a JSON object with key \"a\" set to 1.",
    "Convert 3 kilometres to metres. Answer with the number only.",
]
CONVERSATIONS = [[{"role": "user", "content": p}] for p in PROMPTS]
GREEDY = GenerationParams(max_tokens=10, temperature=0.0, top_alternatives=3)


@pytest.fixture(scope="module", params=["transformers", "mlx"])
def backend(request, model_dir):
    return registry.get_backend(request.param, ResolvedModel("smollm2-135m", str(model_dir), "embedded"))[0]


def batched(backend, params=GREEDY, batch_size=2, conversations=CONVERSATIONS):
    rows = list(backend.generate_batch(conversations, params, batch_size=batch_size))
    assert sorted(row.index for row in rows) == list(range(len(conversations)))
    return {row.index: row for row in rows}


def test_batched_rows_equal_one_at_a_time_streams(backend):
    rows = batched(backend)
    for index, messages in enumerate(CONVERSATIONS):
        alone, row = list(backend.stream(messages, GREEDY)), rows[index].events
        assert [e.text for e in row] == [e.text for e in alone]
        assert [e.token_id for e in row] == [e.token_id for e in alone]
        for a, b in zip(alone, row):
            assert b.logprob == pytest.approx(a.logprob, abs=1e-3) or a.logprob is b.logprob is None
            assert b.entropy == pytest.approx(a.entropy, abs=1e-3) or a.entropy is b.entropy is None
            assert [t for t, _ in b.top_logprobs] == [t for t, _ in a.top_logprobs]
        last = row[-1]
        assert last.finish_reason == alone[-1].finish_reason and all(e.finish_reason is None for e in row[:-1])
        assert last.timings.completion_tokens == alone[-1].timings.completion_tokens
        assert last.timings.prompt_tokens == backend.count_prompt_tokens(messages)
        assert len(rows[index].elapsed) == len(row) and rows[index].elapsed == sorted(rows[index].elapsed)
    assert {rows[i].events[-1].finish_reason for i in rows} == {"stop", "length"}  # rows left at different steps


def test_stop_strings_and_one_row_batches_follow_the_stream_rules(backend):
    params = GenerationParams(max_tokens=12, temperature=0.0, stop=("Paris",))
    [row] = batched(backend, params, batch_size=4, conversations=CONVERSATIONS[1:2]).values()
    alone = list(backend.stream(CONVERSATIONS[1], params))
    assert "".join(e.text for e in row.events) == "".join(e.text for e in alone)
    assert row.events[-1].finish_reason == alone[-1].finish_reason == "stop"
    assert "Paris" not in "".join(e.text for e in row.events)


def test_bad_batch_size_is_one_clear_error(backend):
    with pytest.raises(ValueError, match="batch_size must be at least 1"):
        backend.generate_batch(CONVERSATIONS, GREEDY, batch_size=0)
