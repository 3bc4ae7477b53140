/**
 * The provenance card: a DOM view of one RunBundle. Built with textContent
 * only (the data comes from possibly untrusted notebooks), styled with
 * JupyterLab theme variables in style/base.css.
 */
import { CloudRun, LocalRun, RunBundle, RunSignal } from './provenance';
import { describeRun, formatCost, formatSignal } from './describe';

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
  return value === null ? '–' : `${value.toFixed(2)} s`;
}

function count(value: number | null): string {
  return value === null ? '–' : String(value);
}

function header(bundle: RunBundle): HTMLElement {
  const { outcome, label, reason } = describeRun(bundle);
  const row = el('div', 'jp-HybridMagic-cardHeader');
  const badge = el('span', `jp-HybridMagic-route jp-HybridMagic-route-${outcome}`, label);
  row.append(badge, el('span', 'jp-HybridMagic-magic', `%%${bundle.magic}`));
  if (reason) {
    row.append(el('span', 'jp-HybridMagic-reason', reason));
  }
  return row;
}

function handoffLine(bundle: RunBundle): HTMLElement | null {
  const { handoff } = bundle;
  if (!handoff.requested) {
    return null;
  }
  const stage = handoff.stage ? ` (${handoff.stage} generation)` : '';
  const what = handoff.performed
    ? `Handed off to the cloud${stage}`
    : `Handoff ${handoff.blocked_by === 'cloud_error' ? 'failed' : 'blocked'}: ` +
      `${handoff.blocked_by ?? 'unknown reason'}${stage}; the local answer was kept`;
  return el('div', 'jp-HybridMagic-handoff', what);
}

function signalItem(signal: RunSignal): HTMLElement {
  const item = el('li', 'jp-HybridMagic-signal');
  item.dataset.triggered = String(signal.triggered);
  item.append(el('span', 'jp-HybridMagic-signalValue', formatSignal(signal)));
  item.append(el('span', 'jp-HybridMagic-signalStage', signal.stage));
  if (signal.message) {
    item.append(el('span', 'jp-HybridMagic-signalMessage', signal.message));
  }
  return item;
}

function signalsSection(signals: RunSignal[]): HTMLElement {
  const section = el('div', 'jp-HybridMagic-signals');
  const fired = signals.filter(signal => signal.triggered);
  const quiet = signals.filter(signal => !signal.triggered);
  if (fired.length === 0) {
    section.append(el('div', 'jp-HybridMagic-muted', 'No signal triggered.'));
  } else {
    const list = el('ul', 'jp-HybridMagic-signalList');
    list.append(...fired.map(signalItem));
    section.append(list);
  }
  if (quiet.length > 0) {
    const details = el('details', 'jp-HybridMagic-quiet');
    details.append(el('summary', '', `${quiet.length} signal(s) not triggered`));
    const list = el('ul', 'jp-HybridMagic-signalList');
    list.append(...quiet.map(signalItem));
    details.append(list);
    section.append(details);
  }
  return section;
}

function row(cells: string[]): HTMLElement {
  const tr = el('tr', '');
  cells.forEach((text, index) => tr.append(el(index === 0 ? 'th' : 'td', '', text)));
  return tr;
}

function localRow(local: LocalRun): HTMLElement {
  const early = local.stopped_early ? ' (stopped early)' : '';
  return row([
    'local',
    `${local.model}${local.backend ? ` · ${local.backend}` : ''}`,
    seconds(local.ttft_s),
    local.tokens_per_s === null ? '–' : local.tokens_per_s.toFixed(1),
    `${seconds(local.seconds)}${early}`,
    `${count(local.prompt_tokens)} / ${count(local.completion_tokens)}`,
    '$0.0000'
  ]);
}

function cloudRow(cloud: CloudRun): HTMLElement {
  return row([
    'cloud',
    `${cloud.model}${cloud.host ? ` @ ${cloud.host}` : ''}`,
    '–',
    '–',
    seconds(cloud.seconds),
    `${count(cloud.prompt_tokens)} / ${count(cloud.completion_tokens)}`,
    formatCost(cloud.cost_usd)
  ]);
}

function runsTable(bundle: RunBundle): HTMLElement {
  const table = el('table', 'jp-HybridMagic-runs');
  const head = el('thead', '');
  head.append(row(['', 'model', 'ttft', 'tokens/s', 'time', 'tokens in / out', 'cost']));
  const body = el('tbody', '');
  if (bundle.local) {
    body.append(localRow(bundle.local));
  }
  if (bundle.cloud) {
    body.append(cloudRow(bundle.cloud));
  }
  table.append(head, body);
  return table;
}

/** The full card for one run. */
export function renderCard(bundle: RunBundle): HTMLElement {
  const card = el('div', 'jp-HybridMagic-card');
  card.dataset.outcome = describeRun(bundle).outcome;
  card.append(header(bundle));
  const handoff = handoffLine(bundle);
  if (handoff) {
    card.append(handoff);
  }
  card.append(signalsSection(bundle.signals), runsTable(bundle));
  if (bundle.started_at) {
    card.append(el('div', 'jp-HybridMagic-muted', `started ${bundle.started_at}`));
  }
  return card;
}

/** What the card shows for a bundle it cannot read. */
export function renderProblem(message: string): HTMLElement {
  return el('div', 'jp-HybridMagic-card jp-HybridMagic-problem', `hybrid_magic: ${message}`);
}
