"""Writes notebooks/compare.ipynb: %%compare side by side on three prompts, with votes recorded."""
import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

cells = [
    new_markdown_cell(
        "# Local vs cloud, side by side\n\n"
        "`%%compare` sends the prompt to the cloud **and** runs it locally at the same time, streams both "
        "answers into two panes, and shows latency, time to first token, tokens/s, tokens and cost for each, "
        "a word diff, and what `%%hybrid` would have decided. The buttons record which answer was better in "
        "the run ledger.\n\n"
        "Without an `OPENAI_API_KEY`, `scripts/main_job.py` serves the embedded model with a real "
        "`mlx_lm.server` on 127.0.0.1 as a **stand-in cloud**."),
    new_code_cell("%load_ext hybrid_magic\nfrom hybrid_magic.display.compare_view import latest_compare"),
    new_code_cell("%%compare --max-tokens 12\nWhat is the capital of France?"),
    new_markdown_cell("Votes can be cast from code too: this clicks the view's **tie** button."),
    new_code_cell('[b for b in latest_compare().vote_buttons if b.description == "tie"][0].click()'),
    new_code_cell("%%compare --max-tokens 12 --threshold 0.9 --explain\nName three primary colours."),
    new_code_cell('latest_compare().vote("cloud")'),
    new_code_cell("%%compare --max-tokens 12\nTranslate 'good morning' into French."),
    new_code_cell('latest_compare().vote("local")'),
    new_markdown_cell("The votes are in the ledger, attached to both runs of each comparison:"),
    new_code_cell("ledger = get_ipython().magics_manager.registry['HybridMagics'].engine.ledger\n"
                  "[(r['id'], r['route'], r['vote']) for r in reversed(ledger.runs())]"),
]
nb = new_notebook(cells=cells, metadata={
    "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
    "language_info": {"name": "python"},
})
nbformat.write(nb, "notebooks/compare.ipynb")
print("wrote notebooks/compare.ipynb")
