// Real-browser test: JupyterLab on loopback + Debian chromium via playwright-core.
// Part 1 (saved): opens a notebook with saved provenance, without running it,
// and checks the cards, the cell badges, the status bar, the summary panel,
// the View menu entry and both themes. Part 2 (live): runs %%local in a
// kernel and checks that the badge and the status bar follow.
// Run: node ui-tests/lab.test.mjs   (from labextension/, after npm run build:prod)
import { chromium } from 'playwright-core';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { copyFileSync, createWriteStream, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const ARTIFACTS = join(REPO, 'tests', 'artifacts', 'lab');
const CARDS = join(REPO, 'tests', 'artifacts', 'cards'); // the three card renderings, light and dark
const SAVED = 'saved_provenance.ipynb';
const LIVE = 'live_run.ipynb';
const BROWSER_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--no-first-run'];
const LIVE_TIMEOUT_MS = Number(process.env.HYBRID_MAGIC_LIVE_TIMEOUT_MS ?? 240000);

const EXPECTED_BADGES = ['local', 'cloud · low confidence 0.31 < 0.50',
  'handoff blocked · private', 'handoff failed · cloud error'];
const EXPECTED_STATUS = 'Hybrid: 1 local · 1 cloud · 2 blocked · $0.0004';

function freePort() {
  return new Promise((ok, fail) => {
    const server = createServer();
    server.once('error', fail);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => ok(port));
    });
  });
}

async function waitFor(what, check, timeoutMs = 30000) {
  const deadline = Date.now() + timeoutMs;
  let last;
  while (Date.now() < deadline) {
    try {
      last = await check();
      if (last) return last;
    } catch (error) {
      last = error;
    }
    await new Promise(r => setTimeout(r, 250));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} (last: ${last})`);
}

function liveNotebook() {
  const cell = (id, source) => ({ id, cell_type: 'code', metadata: {}, execution_count: null, outputs: [], source });
  return JSON.stringify({
    nbformat: 4, nbformat_minor: 5,
    metadata: { kernelspec: { name: 'python3', display_name: 'Python 3', language: 'python' } },
    cells: [cell('load', '%load_ext hybrid_magic'), cell('run', '%%local --max-tokens 8\nSay hello.')]
  });
}

function prepareDirs() {
  const tmp = mkdtempSync(join(tmpdir(), 'hybrid-magic-lab-'));
  const dirs = Object.fromEntries(['root', 'config', 'runtime', 'settings', 'workspaces', 'labext']
    .map(name => [name, join(tmp, name)]));
  Object.values(dirs).forEach(dir => mkdirSync(dir));
  copyFileSync(join(REPO, 'tests', 'notebooks', SAVED), join(dirs.root, SAVED));
  writeFileSync(join(dirs.root, LIVE), liveNotebook());
  // Serve this checkout's build, whatever else is installed.
  symlinkSync(join(REPO, 'hybrid_magic', 'labextension'), join(dirs.labext, 'hybrid-magic'));
  return { tmp, dirs };
}

async function startLab(dirs) {
  const port = await freePort();
  const env = {
    ...process.env,
    JUPYTER_CONFIG_DIR: dirs.config,
    JUPYTER_RUNTIME_DIR: dirs.runtime,
    JUPYTERLAB_SETTINGS_DIR: dirs.settings,
    JUPYTERLAB_WORKSPACES_DIR: dirs.workspaces,
    // The kernel imports hybrid_magic from this checkout.
    PYTHONPATH: [REPO, process.env.PYTHONPATH].filter(Boolean).join(':')
  };
  const args = ['lab', '--allow-root', '--no-browser', '--ServerApp.ip=127.0.0.1',
    `--ServerApp.port=${port}`, '--ServerApp.port_retries=0', '--ServerApp.token=',
    '--ServerApp.password=', '--ServerApp.disable_check_xsrf=False', `--ServerApp.root_dir=${dirs.root}`,
    `--LabApp.extra_labextensions_path=${dirs.labext}`, '--LabApp.expose_app_in_browser=True',
    '--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate'];
  const proc = spawn('jupyter', args, { env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  const log = createWriteStream(join(ARTIFACTS, 'jupyter-lab.log'));
  proc.stdout.pipe(log);
  proc.stderr.pipe(log);
  const url = `http://127.0.0.1:${port}`;
  await waitFor('jupyter lab to answer', async () => {
    if (proc.exitCode !== null) throw new Error(`jupyter lab exited with ${proc.exitCode}`);
    return (await fetch(`${url}/api/status`)).ok;
  }, 90000);
  return { proc, url };
}

function stopLab(proc) {
  if (proc.exitCode !== null) return Promise.resolve();
  return new Promise(done => {
    const timer = setTimeout(() => { try { process.kill(-proc.pid, 'SIGKILL'); } catch {} done(); }, 10000);
    proc.once('exit', () => { clearTimeout(timer); done(); });
    try { process.kill(-proc.pid, 'SIGTERM'); } catch { done(); } // its kernels are in its group
  });
}

const texts = locator => locator.evaluateAll(nodes => nodes.map(node => node.textContent.trim()));
const statusText = page => page.locator('#jp-main-statusbar .jp-HybridMagic-status').innerText();
const visible = page => page.locator('.jp-NotebookPanel:not(.lm-mod-hidden)');

async function openNotebook(page, url, name) {
  await page.goto(`${url}/lab/tree/${name}`);
  await page.locator('.jp-NotebookPanel').first().waitFor({ timeout: 60000 });
}

function contrastRatio(fg, bg) {
  const lum = rgb => {
    const [r, g, b] = rgb.match(/\d+(\.\d+)?/g).slice(0, 3).map(Number).map(v => v / 255)
      .map(v => (v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4));
    return 0.2126 * r + 0.7152 * g + 0.0722 * b;
  };
  const [hi, lo] = [lum(fg), lum(bg)].sort((a, b) => b - a);
  return (hi + 0.05) / (lo + 0.05);
}

async function checkReadable(page, theme) {
  const colors = await page.locator('.jp-HybridMagic-card').first().evaluate(node => {
    const style = getComputedStyle(node);
    return { fg: style.color, bg: style.backgroundColor };
  });
  const ratio = contrastRatio(colors.fg, colors.bg);
  assert.ok(ratio >= 4.5, `${theme}: card text contrast ${ratio.toFixed(2)} (${colors.fg} on ${colors.bg})`);
  return ratio;
}

async function checkSaved(page, url) {
  await openNotebook(page, url, SAVED);
  const panel = visible(page);
  const cards = panel.locator('.jp-HybridMagic-card');
  await waitFor('four provenance cards', async () => (await cards.count()) === 4);
  const cardTexts = await texts(cards);
  assert.match(cardTexts[0], /local.*%%local.*smollm2-135m/s);
  assert.match(cardTexts[1], /cloud.*low confidence 0\.31 < 0\.50.*unsure of its next tokens/s);
  assert.match(cardTexts[1], /gpt-4o-mini @ api\.openai\.com.*\$0\.0004/s);
  assert.match(cardTexts[1], /stopped early/);
  assert.match(cardTexts[2], /Handoff blocked: private.*marked private/s);
  assert.match(cardTexts[3], /Handoff failed: cloud_error/);
  assert.match(cardTexts[3], /caveat: A bare yes or no to a yes\/no question/, 'a saved caveat is a line of its card');
  assert.equal(await cards.nth(3).locator('.hm-caveat').count(), 1);
  assert.equal(await panel.locator('.hm-caveat').count(), 1, 'no caveat where none was saved');
  // The card replaces the text/plain summary; it is not shown beside it.
  assert.equal(await panel.getByText('local · smollm2-135m · 3 tokens').count(), 0);

  const badges = panel.locator('.jp-HybridMagic-cellBadge');
  await waitFor('cell badges', async () => (await badges.count()) === 4);
  assert.deepEqual(await texts(badges), EXPECTED_BADGES);
  const fits = await badges.evaluateAll(nodes => nodes.map(node =>
    node.parentElement.getBoundingClientRect().height >= node.getBoundingClientRect().height));
  assert.deepEqual(fits, [true, true, true, true], 'each badge has room in its cell header');
  await waitFor('status bar totals', async () => (await statusText(page)) === EXPECTED_STATUS);
  await checkTimeline(cards);
  await page.addStyleTag({ content: '.Toastify { display: none !important; }' }); // the news toast hides cards
  await page.screenshot({ path: join(ARTIFACTS, 'saved-light.png'), fullPage: true });
  await cards.nth(1).screenshot({ path: join(CARDS, 'lab-light.png') });
  return checkReadable(page, 'light');
}

// The timeline is drawn from the saved bundle alone: series, threshold line, stop, cloud span, hovers.
async function checkTimeline(cards) {
  const cloud = cards.nth(1).locator('svg.hm-timeline');
  const series = cloud.locator('path.hm-tl-series');
  await waitFor('the timeline of the handed-off run', async () => (await series.count()) === 1);
  assert.equal((await series.getAttribute('d')).split(' L').length, 4, 'one point per saved local token');
  const threshold = cloud.locator('line.hm-tl-threshold');
  assert.equal(await threshold.count(), 1);
  assert.equal(await threshold.getAttribute('y1'), '79.0', 'the 0.50 threshold, where the Python drawing puts it');
  assert.equal(await cloud.locator('line.hm-tl-stop').count(), 1);
  assert.equal(await cloud.locator('rect.hm-tl-cloudSpan').count(), 1);
  const hovers = await cloud.locator('circle.hm-tl-point > title').allTextContents();
  assert.equal(hovers.length, 4);
  assert.match(hovers[0], /^token 1 · 0\.21 s · p = 0\.620/);
  const local = cards.nth(0).locator('svg.hm-timeline');
  assert.equal(await local.locator('path.hm-tl-series').count(), 1, 'a local run has its timeline too');
  assert.equal(await local.locator('line.hm-tl-threshold').count(), 0, 'nothing decided a local run: no threshold');
  assert.equal(await cards.nth(2).locator('svg.hm-timeline').count(), 0, 'no saved timeline, no picture');
}

const seriesColour = page => page.locator('.jp-HybridMagic-card path.hm-tl-series').first()
  .evaluate(node => getComputedStyle(node).stroke);

async function checkSummaryPanel(page) {
  await page.keyboard.press('Control+Shift+c');
  await page.locator('.lm-CommandPalette-input').fill('Hybrid: handoff summary');
  await page.keyboard.press('Enter');
  const items = page.locator('#hybrid-magic-summary .jp-HybridMagic-summaryButton');
  await waitFor('summary entries', async () => (await items.count()) === 4);
  const entries = await texts(items);
  assert.match(entries[1], /cell 4.*cloud.*low confidence 0\.31 < 0\.50/s);
  assert.match(entries[2], /cell 5.*handoff blocked.*private/s);
  await items.nth(2).click();
  const active = visible(page).locator('.jp-Cell.jp-mod-active');
  await waitFor('cell 5 to become active', async () => (await active.innerText()).includes('patient_notes'));
  await page.screenshot({ path: join(ARTIFACTS, 'summary-panel.png') });

  await page.locator('.lm-MenuBar-itemLabel', { hasText: /^View$/ }).click();
  const entry = page.locator('.lm-Menu-itemLabel', { hasText: 'Hybrid: handoff summary' });
  await entry.waitFor({ timeout: 5000 });
  await page.keyboard.press('Escape');
}

async function checkDarkTheme(page) {
  const lightSeries = await seriesColour(page);
  await page.evaluate(() => window.jupyterapp.commands.execute('apputils:change-theme', { theme: 'JupyterLab Dark' }));
  await waitFor('dark theme', () => page.evaluate(() => document.body.dataset.jpThemeLight === 'false'));
  await page.waitForTimeout(500);
  await page.screenshot({ path: join(ARTIFACTS, 'saved-dark.png'), fullPage: true });
  await visible(page).locator('.jp-HybridMagic-card').nth(1).screenshot({ path: join(CARDS, 'lab-dark.png') });
  const ratio = await checkReadable(page, 'dark');
  assert.notEqual(await seriesColour(page), lightSeries, 'the timeline takes the theme colours');
  await page.evaluate(() => window.jupyterapp.commands.execute('apputils:change-theme', { theme: 'JupyterLab Light' }));
  return ratio;
}

async function checkLive(page, url) {
  await page.evaluate(name => window.jupyterapp.commands.execute('docmanager:open', { path: name }), LIVE);
  const panel = visible(page);
  await waitFor('live notebook tab', async () => (await panel.innerText()).includes('Say hello.'));
  await waitFor('status for the other notebook', async () =>
    (await statusText(page)) === 'Hybrid: 0 local · 0 cloud · 0 blocked · $0.0000');
  await waitFor('kernel idle', () => page.evaluate(() =>
    window.jupyterapp.shell.currentWidget?.sessionContext?.session?.kernel?.status === 'idle'), 90000);
  await page.evaluate(() => window.jupyterapp.commands.execute('notebook:run-all-cells'));
  const badge = panel.locator('.jp-HybridMagic-cellBadge');
  try {
    await waitFor('badge on the %%local cell', async () => (await texts(badge)).join() === 'local', LIVE_TIMEOUT_MS);
  } finally {
    await page.screenshot({ path: join(ARTIFACTS, 'live-run.png'), fullPage: true });
  }
  await waitFor('live status', async () => /^Hybrid: 1 local · 0 cloud · 0 blocked · /.test(await statusText(page)));
  // A live kernel shows the ipywidgets view (rank 0) when widgets render, else our card.
  const views = await panel.locator('.jp-HybridMagic-card, .jp-OutputArea-output .jupyter-widgets').count();
  assert.ok(views >= 1, 'the live run shows a provenance view');
  // Back to the saved notebook: the status follows the current notebook.
  await page.locator('.lm-TabBar-tabLabel', { hasText: SAVED }).click();
  await waitFor('status after switching back', async () => (await statusText(page)) === EXPECTED_STATUS);
}

async function main() {
  mkdirSync(ARTIFACTS, { recursive: true });
  mkdirSync(CARDS, { recursive: true });
  const { tmp, dirs } = prepareDirs();
  let lab, browser;
  const started = Date.now();
  try {
    lab = await startLab(dirs);
    browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: BROWSER_ARGS });
    const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
    const light = await checkSaved(page, lab.url);
    await checkSummaryPanel(page);
    const dark = await checkDarkTheme(page);
    console.log(`saved notebook: OK (contrast light ${light.toFixed(1)}, dark ${dark.toFixed(1)}) in ${Date.now() - started} ms`);
    await checkLive(page, lab.url);
    console.log(`live %%local run: OK in ${Date.now() - started} ms`);
  } finally {
    await browser?.close();
    if (lab) await stopLab(lab.proc);
    rmSync(tmp, { recursive: true, force: true });
  }
}

main().catch(error => {
  console.error(error);
  process.exit(1);
});
