"""The local model's own hidden states, as features for a personal router (experiments.learned).

For an answer: the last prompt token and the mean of the answer's tokens, at a
middle layer and at the last layer, from one forward pass over prompt + answer
(the cost of one prefill, like self_check's). Only a backend whose
`supports_hidden_states()` is True (transformers) is asked; llama.cpp, mlx-lm's
generate and a served model are not. The states come from the local model
already loaded: no hub access. Experiments store one vector per item; live
%%hybrid reads one per cell, after the answer, only for a policy with
hidden-state terms (router.states).
"""
from __future__ import annotations

from .types import Message

BLOCKS = ("prompt_middle", "answer_middle", "prompt_last", "answer_last")


def state_vector(backend, messages: list[Message], answer: str) -> list[float]:
    """The four blocks of BLOCKS, concatenated (4 x the model's hidden size)."""
    import torch

    from .backends.templated import chat_prompt_ids

    prompt = chat_prompt_ids(backend.tokenizer, messages)
    answer_ids = backend.tokenizer.encode(answer, add_special_tokens=False) if answer else []
    layers = backend.torch_model.config.num_hidden_layers
    with torch.inference_mode():
        out = backend.torch_model(input_ids=torch.tensor([prompt + answer_ids]), output_hidden_states=True,
                                  logits_to_keep=1)  # the states are wanted, not a vocabulary row per position
    blocks = []
    for layer in (layers // 2, layers):
        hidden = out.hidden_states[layer][0].float()
        last_prompt = hidden[len(prompt) - 1]
        blocks += [last_prompt, hidden[len(prompt):].mean(0) if answer_ids else last_prompt]
    middle_prompt, middle_answer, last_prompt, last_answer = blocks
    return torch.cat([middle_prompt, middle_answer, last_prompt, last_answer]).tolist()
