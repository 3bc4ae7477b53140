"""Writes notebooks/quickstart.ipynb (kept as code so the notebook stays reviewable in diffs)."""
import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

cells = [
    new_markdown_cell(
        "# hybrid_magic quickstart\n\n"
        "Prompts run on a small local model (the embedded SmolLM2-135M-Instruct). `%%hybrid` hands a cell "
        "off to a cloud model only when the local answer is not good enough — and every cell says **where it "
        "ran and why**.\n\n"
        "When this notebook runs through `bash scripts/demo.sh` without an `OPENAI_API_KEY`, the \"cloud\" is a "
        "**stand-in**: a real `mlx_lm.server` on 127.0.0.1 serving the same small model, so the demo works "
        "offline. Routing, signals, timings and the ledger are all real."),
    new_code_cell("%load_ext hybrid_magic"),
    new_markdown_cell("`%hybrid dashboard` keeps a live table of this session's runs and totals; "
                      "it updates as the cells below run."),
    new_code_cell("%hybrid dashboard"),
    new_markdown_cell("## `%%local`: on this machine, streamed"),
    new_code_cell("%%local --max-tokens 12\nWhat is the capital of France?"),
    new_markdown_cell("`{name}` pulls values from the notebook; `--out` keeps the result and its run record."),
    new_code_cell('topic = "photosynthesis"'),
    new_code_cell("%%local --max-tokens 20 --out fact\nExplain {topic} in one sentence."),
    new_code_cell("print(f'{fact.record.local.completion_tokens} tokens at '\n"
                  "      f'{fact.record.local.tokens_per_s:.1f} tok/s on {fact.record.local.backend}')"),
    new_markdown_cell("Every token of a local answer carries its probability: hover a token for its logprob "
                      "and the alternatives the model considered."),
    new_code_cell("fact.confidence_view()"),
    new_code_cell('%%local --max-tokens 32 --format json --system "You reply with one JSON object and nothing else."\n'
                  'Give the city and country of the Eiffel Tower as JSON with keys "city" and "country".'),
    new_markdown_cell(
        "## `%%hybrid`: local first, cloud when needed\n\n"
        "An easy prompt stays local. The card lists the signals that were measured."),
    new_code_cell("%%hybrid --max-tokens 12 --explain\nWhat is the capital of Germany?"),
    new_markdown_cell(
        "**Early handoff.** With a demanding confidence threshold, the local model is stopped as soon as its "
        "rolling token probability drops below half of it, and the cell goes to the cloud. The local draft is kept."),
    new_code_cell("%%hybrid --max-tokens 24 --threshold 0.9\nWrite a limerick about the prime number 7919."),
    new_markdown_cell(
        "**Blocked handoff.** The prompt holds something that looks like a secret, so even though the local "
        "answer is weak, nothing leaves the machine: the local answer stays, and the card says why."),
    new_code_cell("%%hybrid --max-tokens 16 --threshold 0.9\n"
                  "My key is sk-proj-Zx8vQ2mN4bT7yR1wK9pL3sD6fG0hJ5cE. Write a limerick about rotating keys."),
    new_code_cell("%hybrid status"),
    new_code_cell("%hybrid history"),
]
nb = new_notebook(cells=cells, metadata={
    "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
    "language_info": {"name": "python"},
})
nbformat.write(nb, "notebooks/quickstart.ipynb")
print("wrote notebooks/quickstart.ipynb")
