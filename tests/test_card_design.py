"""One card design: the widget card and the text/html card of one early handoff, exported offline
(nbconvert, light and dark JupyterLab themes) and opened in Debian chromium: both draw the timeline
and take the theme's colours. Screenshots go to tests/artifacts/cards/ beside the lab card's
(labextension/ui-tests/lab.test.mjs), with one side-by-side picture of all of them."""
from __future__ import annotations

import copy

import nbformat
import pytest
from cards import CARDS, shoot, side_by_side
from nbformat.v4 import new_code_cell, new_notebook

from hybrid_magic.export import execute_notebook, notebook_to_html

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
CARD_CELL = '''
import math
from hybrid_magic.display.session import show_card
from hybrid_magic.types import CloudStats, Decision, LocalStats, RunRecord, Signal, TokenEvent
probs = [0.95, 0.9, 0.97, 0.8, 0.7, 0.6, 0.4, 0.35, 0.3, 0.5, 0.2, 0.25, 0.3, 0.28]
low = Signal("low_confidence", "during", 0.36, 0.5, True,
             "Mean token probability over the last 8 tokens was 0.36, below 0.50.")
calm = Signal("high_entropy", "during", 1.2, 3.0, False,
              "Mean token entropy over the last 8 tokens was 1.20 nats, at or below 3.00.")
record = RunRecord("hybrid", Decision("cloud", True, True, None, (low, calm), "cascade", 0.36, "during",
                                    reason="low_confidence"),
                   LocalStats("transformers", "smollm2-135m", 9, 14, 0.2, 12.0, 1.3, stopped_early=True,
                              finish_reason="early_handoff"),
                   CloudStats("gpt-4o-mini", "api.openai.com", 9, 5, 0.4, 1.1, None), "2026-01-01T00:00:00Z",
                   answer="7919 is prime.", local_text="A limerick <b>about</b> 7919",
                   tokens=[TokenEvent(f"w{i}", i, math.log(p), 1.0) for i, p in enumerate(probs)])
card = show_card(record)
'''


def html_only(nb):
    """The same notebook as a front end without widgets shows it: the text/html card."""
    plain = copy.deepcopy(nb)
    plain.metadata.pop("widgets", None)
    for cell in plain.cells:
        for output in cell.get("outputs", []):
            output.get("data", {}).pop(WIDGET_VIEW, None)
    return plain


@pytest.mark.slow
def test_widget_and_html_cards_draw_the_timeline_in_light_and_dark(tmp_path):
    source = tmp_path / "card.ipynb"
    nbformat.write(new_notebook(cells=[new_code_cell(CARD_CELL)],
                                metadata={"kernelspec": {"name": "python3", "display_name": "Python 3"}}), source)
    nb, _ = execute_notebook(source)
    CARDS.mkdir(parents=True, exist_ok=True)
    jobs = []
    for rendering, notebook, selector in (("widget", nb, ".jupyter-widgets.hm-card"),
                                          ("html", html_only(nb), ".jp-RenderedHTMLCommon .hm-card")):
        saved = tmp_path / f"{rendering}.ipynb"
        nbformat.write(notebook, saved)
        for theme in ("light", "dark"):
            page = tmp_path / f"{rendering}-{theme}.html"
            page.write_text(notebook_to_html(saved, theme=theme), encoding="utf-8")
            jobs.append((f"{rendering}-{theme}", page.as_uri(), CARDS / f"{rendering}-{theme}.png", selector))
    seen = shoot(jobs, tmp_path)
    for name, card in seen.items():
        assert (card["series"], card["threshold"]) == (1, 1), name
        assert "stopped early" in card["text"] and "low_confidence" in card["text"], name
        assert "<b>" not in card["text"] and "about" not in card["text"], "the draft stays collapsed and escaped"
    for rendering in ("widget", "html"):
        assert seen[f"{rendering}-light"]["stroke"] != seen[f"{rendering}-dark"]["stroke"], "theme colours"
    assert seen["widget-light"]["stroke"] == seen["html-light"]["stroke"], "one set of variables"
    assert side_by_side(tmp_path).is_file()
