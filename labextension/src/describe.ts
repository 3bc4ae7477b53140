/**
 * Words for a run: the badge on a cell, the reason for a handoff, the
 * status-bar totals. Pure functions over RunBundle, unit-tested in node.
 */
import { OutputLike, RunBundle, RunSignal, bundlesInOutputs } from './provenance';

/** What happened to a run, from the user's point of view. */
export type Outcome = 'local' | 'cloud' | 'blocked' | 'failed';

export interface RunDescription {
  outcome: Outcome;
  /** Short label: "local", "cloud", "handoff blocked", "handoff failed". */
  label: string;
  /** Why, in a few words ("low confidence 0.31 < 0.50", "private"), or "". */
  reason: string;
}

const LABELS: Record<Outcome, string> = {
  local: 'local',
  cloud: 'cloud',
  blocked: 'handoff blocked',
  failed: 'handoff failed'
};

/** A cloud_error means the handoff was tried and the cloud call failed. */
const FAILURE_REASONS = new Set(['cloud_error']);

export function outcomeOf(bundle: RunBundle): Outcome {
  const { handoff } = bundle;
  if (bundle.route === 'cloud') {
    return 'cloud';
  }
  if (handoff.requested && !handoff.performed) {
    const reason = handoff.blocked_by;
    return reason === null || FAILURE_REASONS.has(reason) ? 'failed' : 'blocked';
  }
  return 'local';
}

export function humanName(identifier: string): string {
  return identifier.replace(/_/g, ' ').trim();
}

function formatPair(value: number, threshold: number): [string, string] {
  if (Number.isInteger(value) && Number.isInteger(threshold)) {
    return [String(value), String(threshold)];
  }
  return [value.toFixed(2), threshold.toFixed(2)];
}

/** "low confidence 0.31 < 0.50": the signal's value against its threshold. */
export function formatSignal(signal: RunSignal): string {
  const name = humanName(signal.name);
  if (signal.available === false) {
    return `${name} n/a`;
  }
  const { value, threshold } = signal;
  if (typeof value === 'number' && typeof threshold === 'number') {
    const [shown, limit] = formatPair(value, threshold);
    const op = value < threshold ? '<' : value > threshold ? '>' : '=';
    return `${name} ${shown} ${op} ${limit}`;
  }
  return name;
}

export function triggeredSignals(bundle: RunBundle): RunSignal[] {
  return bundle.signals.filter(signal => signal.triggered);
}

/** The deciding signal the bundle names (handoff.reason), shown with its value against its threshold. */
function reasonOf(bundle: RunBundle, outcome: Outcome): string {
  if (outcome === 'blocked' || outcome === 'failed') {
    return humanName(bundle.handoff.blocked_by ?? 'unknown reason');
  }
  const reason = bundle.handoff.reason;
  if (outcome !== 'cloud' || reason === null) {
    return '';
  }
  const deciding = bundle.signals.find(signal => signal.name === reason);
  return deciding ? formatSignal(deciding) : humanName(reason);
}

export function describeRun(bundle: RunBundle): RunDescription {
  const outcome = outcomeOf(bundle);
  return { outcome, label: LABELS[outcome], reason: reasonOf(bundle, outcome) };
}

/** The text of a cell badge: "cloud · low confidence 0.31 < 0.50". */
export function badgeText(bundle: RunBundle): string {
  const { label, reason } = describeRun(bundle);
  return reason ? `${label} · ${reason}` : label;
}

const SHOWN_CONTRIBUTIONS = 3; // as hybrid_magic/display/mime.py

/** What the card says about a learned decision: its top features, and hidden states it could not read. */
export function learnedLines(bundle: RunBundle): string[] {
  if (bundle.contributions.length === 0) {
    return [];
  }
  const top = bundle.contributions.slice(0, SHOWN_CONTRIBUTIONS)
    .map(c => `${c.feature} ${c.log_odds >= 0 ? '+' : ''}${c.log_odds.toFixed(2)}`);
  const lines = [`policy ${bundle.policy} (log-odds of a right local answer): ${top.join(', ')}`];
  const missing = bundle.signals.find(s => s.name === 'hidden_states' && s.available === false);
  if (missing) {
    lines.push(`hidden-state terms ${missing.message}`);
  }
  return lines;
}

/** The card's caveat lines: why the router's estimate may mean little here (hybrid_magic/display/mime.py caveats). */
export function caveatLines(bundle: RunBundle): string[] {
  return bundle.caveats.map(message => `caveat: ${message}`);
}

/** "$0.0012", or "cost unknown" when the price is not known (never $0). */
export function formatCost(costUsd: number | null): string {
  return costUsd === null ? 'cost unknown' : `$${costUsd.toFixed(4)}`;
}

export interface RunTotals {
  local: number;
  cloud: number;
  blocked: number;
  failed: number;
  /** Sum of the known cloud costs. */
  costUsd: number;
  /** Cloud runs whose cost is known (it may be $0 on a free server). */
  pricedRuns: number;
  /** Cloud runs whose cost is unknown (not counted as $0). */
  unknownCost: number;
}

export function emptyTotals(): RunTotals {
  return { local: 0, cloud: 0, blocked: 0, failed: 0, costUsd: 0, pricedRuns: 0, unknownCost: 0 };
}

export function addRun(totals: RunTotals, bundle: RunBundle): RunTotals {
  const next = { ...totals };
  next[outcomeOf(bundle)] += 1;
  if (bundle.cloud !== null) {
    if (bundle.cloud.cost_usd === null) {
      next.unknownCost += 1;
    } else {
      next.costUsd += bundle.cloud.cost_usd;
      next.pricedRuns += 1;
    }
  }
  return next;
}

/** Totals over every run recorded in a notebook's cells' outputs. */
export function summarizeCells(cells: ReadonlyArray<ReadonlyArray<OutputLike>>): RunTotals {
  let totals = emptyTotals();
  for (const outputs of cells) {
    for (const bundle of bundlesInOutputs(outputs)) {
      totals = addRun(totals, bundle);
    }
  }
  return totals;
}

function spendText(totals: RunTotals): string {
  if (totals.unknownCost === 0) {
    return formatCost(totals.costUsd);
  }
  return totals.pricedRuns > 0
    ? `${formatCost(totals.costUsd)} + cost unknown`
    : 'cost unknown';
}

/** "Hybrid: 2 local · 1 cloud · 1 blocked · $0.0004" (blocked includes failed handoffs). */
export function statusText(totals: RunTotals): string {
  const blocked = totals.blocked + totals.failed;
  return (
    `Hybrid: ${totals.local} local · ${totals.cloud} cloud · ` +
    `${blocked} blocked · ${spendText(totals)}`
  );
}

export function statusTooltip(totals: RunTotals): string {
  return (
    `${totals.local} answered locally, ${totals.cloud} handed off to the cloud, ` +
    `${totals.blocked} handoffs blocked by policy, ${totals.failed} failed; ` +
    `${totals.unknownCost} cloud runs with unknown cost`
  );
}
