/**
 * The provenance card: a DOM view of one RunBundle. Built with textContent
 * only (the data comes from possibly untrusted notebooks), styled with
 * the card stylesheet shared with hybrid_magic's own cards
 * (hybrid_magic/display/card.css, imported by style/index.js).
 */
import { CloudRun, LocalRun, RunBundle, RunSignal } from './provenance';
import { caveatLines, describeRun, formatCost, learnedLines } from './describe';
import { renderTimeline } from './timeline';

/** An element with a class and, optionally, text (never HTML). */
export function el(tag: string, className: string, text?: string): HTMLElement {
  const node = document.createElement(tag);
  node.className = className;
  if (text !== undefined) {
    node.textContent = text;
  }
  return node;
}

function seconds(value: number | null): string {
  return value === null ? '–' : `${value.toFixed(2)}s`;
}

function count(value: number | null): string {
  return value === null ? '–' : String(value);
}

function header(bundle: RunBundle): HTMLElement {
  const { label, reason } = describeRun(bundle);
  const row = el('div', 'hm-head jp-HybridMagic-cardHeader');
  row.append(el('span', 'hm-badge', label), el('span', 'hm-magic', `%%${bundle.magic}`));
  if (reason) {
    row.append(el('span', 'hm-why', reason));
  }
  return row;
}

function handoffLine(bundle: RunBundle): HTMLElement | null {
  const { handoff } = bundle;
  if (!handoff.requested || bundle.magic === 'compare') {
    return null;
  }
  const stage = handoff.stage ? ` (${handoff.stage} generation)` : '';
  const what = handoff.performed
    ? `Handed off to the cloud${stage}`
    : `Handoff ${handoff.blocked_by === 'cloud_error' ? 'failed' : 'blocked'}: ` +
      `${handoff.blocked_by ?? 'unknown reason'}${stage}; the local answer was kept`;
  return el('div', 'hm-handoff', what);
}

function row(cells: string[], header = false): HTMLElement {
  const tr = el('tr', header ? 'hm-colnames' : '');
  cells.forEach(text => tr.append(el(header ? 'th' : 'td', '', text)));
  return tr;
}

function table(className: string, head: string[], rows: HTMLElement[]): HTMLElement {
  const node = el('table', className);
  const body = el('tbody', '');
  body.append(row(head, true), ...rows);
  node.append(body);
  return node;
}

function signalValue(value: RunSignal['value']): string {
  return typeof value === 'number' ? String(Number(value.toPrecision(3))) : value === null ? '' : String(value);
}

function signalRow(signal: RunSignal): HTMLElement {
  const mark = signal.triggered ? '▲' : signal.available === false ? '–' : '·';
  const tr = row([mark, signal.name, signal.stage, signal.available === false ? 'n/a' : signalValue(signal.value),
    signalValue(signal.threshold), signal.message]);
  tr.dataset.triggered = String(signal.triggered);
  tr.className = 'jp-HybridMagic-signal';
  return tr;
}

const SIGNAL_HEAD = ['', 'signal', 'stage', 'value', 'threshold', 'why'];

function signalsSection(signals: RunSignal[]): HTMLElement {
  const section = el('div', 'jp-HybridMagic-signals');
  const fired = signals.filter(signal => signal.triggered);
  const quiet = signals.filter(signal => !signal.triggered);
  section.append(fired.length === 0
    ? el('div', 'hm-muted', 'No signal triggered.')
    : table('hm-signals', SIGNAL_HEAD, fired.map(signalRow)));
  if (quiet.length > 0) {
    const details = el('details', 'jp-HybridMagic-quiet');
    details.append(el('summary', '', `${quiet.length} signal(s) not triggered`),
      table('hm-signals', SIGNAL_HEAD, quiet.map(signalRow)));
    section.append(details);
  }
  return section;
}

function localRow(local: LocalRun): HTMLElement {
  const early = local.stopped_early ? ' (stopped early)' : '';
  return row([
    'local',
    `${local.model}${local.backend ? ` · ${local.backend}` : ''}`,
    seconds(local.ttft_s),
    local.tokens_per_s === null ? '–' : local.tokens_per_s.toFixed(1),
    `${count(local.prompt_tokens)} / ${count(local.completion_tokens)}${early}`,
    seconds(local.seconds),
    'free (on this machine)'
  ]);
}

function cloudRow(cloud: CloudRun): HTMLElement {
  const rate = cloud.seconds && cloud.completion_tokens !== null ? cloud.completion_tokens / cloud.seconds : null;
  return row([
    'cloud',
    `${cloud.model}${cloud.host ? ` @ ${cloud.host}` : ''}`,
    seconds(cloud.ttft_s),
    rate === null ? '–' : rate.toFixed(1),
    `${count(cloud.prompt_tokens)} / ${count(cloud.completion_tokens)}`,
    seconds(cloud.seconds),
    formatCost(cloud.cost_usd)
  ]);
}

function runsTable(bundle: RunBundle): HTMLElement {
  const rows = [bundle.local && localRow(bundle.local), bundle.cloud && cloudRow(bundle.cloud)];
  return table('hm-metrics jp-HybridMagic-runs', ['', 'model', 'TTFT', 'tok/s', 'tokens in / out', 'time', 'cost'],
    rows.filter((r): r is HTMLElement => Boolean(r)));
}

/** The full card for one run: the layout of hybrid_magic's HTML and widget cards (card.css). */
export function renderCard(bundle: RunBundle): HTMLElement {
  const { outcome } = describeRun(bundle);
  const card = el('div', `hm-card hm-outcome-${outcome} jp-HybridMagic-card`);
  card.dataset.outcome = outcome;
  const learned = learnedLines(bundle).map(line => el('div', 'hm-learned', line));
  const caveats = caveatLines(bundle).map(line => el('div', 'hm-caveat', line));
  const parts = [header(bundle), handoffLine(bundle), ...learned, ...caveats, renderTimeline(bundle),
    signalsSection(bundle.signals), runsTable(bundle)];
  card.append(...parts.filter((part): part is HTMLElement | SVGElement => part !== null));
  if (bundle.started_at) {
    card.append(el('div', 'hm-muted', `started ${bundle.started_at}`));
  }
  return card;
}

/** What the card shows for a bundle it cannot read. */
export function renderProblem(message: string): HTMLElement {
  return el('div', 'hm-card hm-outcome-blocked jp-HybridMagic-card jp-HybridMagic-problem', `hybrid_magic: ${message}`);
}
