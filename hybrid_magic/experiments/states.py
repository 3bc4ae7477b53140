"""The local model's own hidden states, as features for the personal router (fit_policy).

For each recorded item: the last prompt token and the mean of the answer's tokens,
at a middle layer and at the last layer, from one forward pass over prompt + answer
(the cost of one prefill, like self_check's). Only the transformers backend exposes
hidden states; llama.cpp and mlx-lm's generate do not, and then no states are read.
The states come from the local model already on disk: no hub access.
"""
from __future__ import annotations

import numpy as np

from ..types import Message

BLOCKS = ("prompt_middle", "answer_middle", "prompt_last", "answer_last")


def exposes_states(backend) -> bool:
    return hasattr(backend, "torch_model") and hasattr(backend, "tokenizer")


def state_vector(backend, messages: list[Message], answer: str) -> list[float]:
    """The four blocks of BLOCKS, concatenated (4 x the model's hidden size)."""
    import torch

    from ..backends.templated import chat_prompt_ids

    prompt = chat_prompt_ids(backend.tokenizer, messages)
    answer_ids = backend.tokenizer.encode(answer, add_special_tokens=False) if answer else []
    layers = backend.torch_model.config.num_hidden_layers
    with torch.inference_mode():
        out = backend.torch_model(input_ids=torch.tensor([prompt + answer_ids]), output_hidden_states=True)
    blocks = []
    for layer in (layers // 2, layers):
        hidden = out.hidden_states[layer][0].float()
        last_prompt = hidden[len(prompt) - 1]
        blocks += [last_prompt, hidden[len(prompt):].mean(0) if answer_ids else last_prompt]
    middle_prompt, middle_answer, last_prompt, last_answer = blocks
    return torch.cat([middle_prompt, middle_answer, last_prompt, last_answer]).tolist()


def reduce(train: np.ndarray, test: np.ndarray, components: int) -> tuple[np.ndarray, np.ndarray, object]:
    """PCA fitted on the training rows only (standardised), applied to both."""
    from sklearn.decomposition import PCA
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    k = max(1, min(components, len(train) - 1, train.shape[1]))
    pipeline = make_pipeline(StandardScaler(), PCA(n_components=k, random_state=0)).fit(train)
    return pipeline.transform(train), pipeline.transform(test), pipeline
