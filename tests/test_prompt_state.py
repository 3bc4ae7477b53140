"""The prompt's hidden state: read during the prefill on transformers (no extra forward pass), the same in
a batch, stored with the tokens and replayed, absent on backends that read none.

Real SmolLM2 (transformers; llama.cpp and mlx for the backends that read no state).
"""
from __future__ import annotations

import json

import numpy as np
import pytest

from hybrid_magic.experiments import replay
from hybrid_magic.router.states import prompt_state
from hybrid_magic.types import GenerationParams

CONVERSATIONS = [[{"role": "user", "content": p}] for p in
                 ("What is the capital of Germany?", "How many letters are in the word 'tree'?", "Is 7 even?")]
GREEDY = GenerationParams(max_tokens=6, temperature=0.0, top_alternatives=3)


@pytest.fixture(scope="module")
def transformers_backend(model_dir):
    from hybrid_magic.backends import get_backend
    from hybrid_magic.models import resolve

    return get_backend("transformers", resolve("smollm2-135m", str(model_dir.parent)))[0]


def full_pass_state(backend, conversation) -> np.ndarray:
    """What output_hidden_states gives for the last prompt token at layer L/2 and at layer L (one more pass)."""
    import torch

    from hybrid_magic.backends._text import chat_prompt_ids

    ids = chat_prompt_ids(backend.tokenizer, conversation)
    layers = backend.torch_model.config.num_hidden_layers
    with torch.inference_mode():
        out = backend.torch_model(input_ids=torch.tensor([ids]), output_hidden_states=True, logits_to_keep=1)
    return torch.cat([out.hidden_states[layers // 2][0, -1], out.hidden_states[layers][0, -1]]).numpy()


def test_the_first_token_carries_the_prompt_state_read_during_the_prefill(transformers_backend):
    hidden = transformers_backend.torch_model.config.hidden_size
    assert transformers_backend.supports_hidden_states()
    for conversation in CONVERSATIONS:
        events = list(transformers_backend.stream(conversation, GREEDY))
        state = events[0].prompt_state
        assert state is not None and len(state.vector) == 2 * hidden and state.model.startswith("llama-576x30-")
        assert all(e.prompt_state is None for e in events[1:])
        assert np.allclose(state.vector, full_pass_state(transformers_backend, conversation), atol=1e-4)


def test_a_batch_reads_each_rows_prompt_state_as_its_own_stream_does(transformers_backend):
    alone = [list(transformers_backend.stream(c, GREEDY))[0].prompt_state for c in CONVERSATIONS]
    rows = sorted(transformers_backend.generate_batch(CONVERSATIONS, GREEDY, batch_size=3), key=lambda r: r.index)
    for single, row in zip(alone, rows):
        batched = row.events[0].prompt_state
        assert batched.model == single.model
        assert np.allclose(batched.vector, single.vector, atol=1e-3)  # padding: float noise only
        assert all(e.prompt_state is None for e in row.events[1:])


@pytest.mark.parametrize("name", ["llamacpp", "mlx"])
def test_backends_that_read_no_state_say_so(name, model_dir):
    from hybrid_magic.backends import get_backend
    from hybrid_magic.models import resolve

    backend = get_backend(name, resolve("smollm2-135m", str(model_dir.parent), convert=name != "llamacpp"))[0]
    assert not backend.supports_hidden_states()
    assert prompt_state(list(backend.stream(CONVERSATIONS[0], GREEDY))) is None


def test_a_recorded_prompt_state_survives_the_store(transformers_backend):
    events = list(transformers_backend.stream(CONVERSATIONS[1], GREEDY))
    stored = json.loads(json.dumps([replay.event_to_dict(e, 0.1) for e in events]))
    back = [replay.event_from_dict(d) for d in stored]
    assert back[0].prompt_state == events[0].prompt_state and prompt_state(back).vector == events[0].prompt_state.vector
    assert "prompt_state" not in stored[1]  # one vector per answer, not per token
