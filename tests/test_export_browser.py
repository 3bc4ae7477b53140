"""One real browser: Debian chromium opens an exported HTML file offline and draws the saved widgets."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

import nbformat
from conftest import ARTIFACTS
from nbformat.v4 import new_code_cell, new_notebook

from hybrid_magic.export import execute_notebook, notebook_to_html

REPO = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
CARD_CELL = '''
from hybrid_magic.display.session import show_card
from hybrid_magic.types import CloudStats, Decision, LocalStats, RunRecord, Signal, TokenEvent
low = Signal("low_confidence", "during", 0.31, 0.5, True, "Mean token probability was 0.31, below 0.50.")
decision = Decision("cloud", True, True, None, (low,), "cascade", 0.31, "during", reason="low_confidence")
record = RunRecord("hybrid", decision,
                   LocalStats("transformers", "smollm2-135m", 9, 2, 0.2, 12.0, 0.3, stopped_early=True),
                   CloudStats("gpt-4o-mini", "api.openai.com", 9, 5, 0.4, 1.1, None), "2026-01-01T00:00:00Z",
                   answer="Paris.", local_text="Par is", tokens=[TokenEvent("Par", 1, -0.1), TokenEvent(" is", 2, -1.6)])
card = show_card(record)
'''
SCRIPT = r"""
const { chromium } = require('playwright-core');
(async () => {
  const [url, png, profile] = process.argv.slice(2);
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: '/usr/bin/chromium', headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
           '--disable-sync', '--no-first-run'] });
  const page = await context.newPage();
  const requests = [];
  page.on('request', r => { if (!r.url().startsWith('file:') && !r.url().startsWith('data:')) requests.push(r.url()); });
  await page.goto(url);
  await page.waitForSelector('.hybrid-magic-card .hm-badge', { timeout: 60000 });
  await page.screenshot({ path: png, fullPage: true });
  const card = await page.innerText('.hybrid-magic-card');
  console.log(JSON.stringify({ card, requests }));
  await context.close();
})().catch(e => { console.error(e); process.exit(1); });
"""


def test_exported_html_shows_the_card_in_chromium(tmp_path):
    import json

    source = tmp_path / "card.ipynb"
    nbformat.write(new_notebook(cells=[new_code_cell(CARD_CELL)],
                                metadata={"kernelspec": {"name": "python3", "display_name": "Python 3"}}), source)
    nb, _ = execute_notebook(source)
    assert "widgets" in nb.metadata
    executed = tmp_path / "executed.ipynb"
    nbformat.write(nb, executed)
    html_path = tmp_path / "card.html"
    html_path.write_text(notebook_to_html(executed), encoding="utf-8")
    out = ARTIFACTS / "widgets"
    out.mkdir(parents=True, exist_ok=True)
    script = tmp_path / "open.js"
    script.write_text(SCRIPT)
    env = dict(os.environ, NODE_PATH=str(REPO / "labextension" / "node_modules"))
    done = subprocess.run(["node", str(script), html_path.as_uri(), str(out / "decision_card.png"),
                           str(tmp_path / "profile")], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert "cloud" in seen["card"] and "low_confidence 0.31 vs 0.50" in seen["card"]
    assert "cost unknown" in seen["card"] and "local draft (2 tokens, stopped early)" in seen["card"]
    assert seen["requests"] == [], f"the page reached out: {seen['requests']}"
    assert (out / "decision_card.png").stat().st_size > 5000
