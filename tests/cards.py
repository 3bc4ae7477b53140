"""Chromium screenshots of the run card's three renderings (widget card, text/html card, JupyterLab
card), light and dark, and one side-by-side picture of them in tests/artifacts/cards/."""
from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from conftest import ARTIFACTS

REPO = Path(__file__).resolve().parent.parent
CARDS = ARTIFACTS / "cards"
RENDERINGS = ("widget", "html", "lab")
THEMES = ("light", "dark")

# Opens each page, checks its card's timeline, screenshots the card; prints what it saw as JSON.
SHOOT = r"""
const { chromium } = require('playwright-core');
(async () => {
  const [jobs, profile] = [JSON.parse(process.argv[2]), process.argv[3]];
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: '/usr/bin/chromium', headless: true, viewport: { width: 900, height: 700 },
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
           '--disable-sync', '--no-first-run'] });
  const page = await context.newPage();
  const seen = {};
  for (const [name, url, png, selector] of jobs) {
    await page.goto(url);
    const card = page.locator(selector).first();
    await card.waitFor({ timeout: 60000 });
    await page.waitForTimeout(300);
    seen[name] = await card.evaluate(node => ({
      series: node.querySelectorAll('svg.hm-timeline path.hm-tl-series').length,
      threshold: node.querySelectorAll('svg.hm-timeline line.hm-tl-threshold').length,
      stroke: node.querySelector('svg.hm-timeline path.hm-tl-series') &&
        getComputedStyle(node.querySelector('svg.hm-timeline path.hm-tl-series')).stroke,
      text: node.innerText }));
    await card.screenshot({ path: png });
  }
  console.log(JSON.stringify(seen));
  await context.close();
})().catch(e => { console.error(e); process.exit(1); });
"""


def shoot(jobs: list[tuple[str, str, Path, str]], tmp: Path) -> dict:
    """jobs: (name, url, png, card selector) -> what each card showed."""
    script = tmp / "shoot.js"
    script.write_text(SHOOT)
    env = dict(os.environ, NODE_PATH=str(REPO / "labextension" / "node_modules"))
    spec = json.dumps([[name, url, str(png), selector] for name, url, png, selector in jobs])
    done = subprocess.run(["node", str(script), spec, str(tmp / "profile")], capture_output=True, text=True,
                          env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def side_by_side(tmp: Path) -> Path | None:
    """One picture: a row per theme, a column per rendering (those shot so far); None before any."""
    shots = {(r, t): CARDS / f"{r}-{t}.png" for r in RENDERINGS for t in THEMES}
    if not any(p.is_file() for p in shots.values()):
        return None
    cells = "".join(f"<th>{r} card</th>" for r in RENDERINGS)
    rows = "".join(
        f"<tr><th>{t}</th>" + "".join(
            f"<td><img src='{shots[r, t].as_uri()}'></td>" if shots[r, t].is_file() else "<td>(not shot)</td>"
            for r in RENDERINGS) + "</tr>" for t in THEMES)
    page = tmp / "side-by-side.html"
    page.write_text("<html><body style='font-family:sans-serif;background:#9e9e9e;margin:8px'>"
                    "<table id='grid' style='border-spacing:8px'><tr><th></th>" + cells + "</tr>" + rows +
                    "</table><style>td{vertical-align:top} img{max-width:560px}</style></body></html>")
    out = CARDS / "side-by-side.png"
    shoot([("grid", page.as_uri(), out, "#grid")], tmp)
    return out
