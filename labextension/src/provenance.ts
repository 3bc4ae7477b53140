/**
 * The provenance bundle that hybrid_magic writes into each cell's output
 * (design.md, "Provenance MIME", versions 1 and 2), and a validating parser.
 * Version 2 adds `handoff.reason`, the deciding signal's name; a version-1
 * bundle gets the same answer from its signals (see `handoffReason`).
 *
 * Pure logic: no DOM, no JupyterLab imports, so it is unit-tested in node.
 */

export const PROVENANCE_MIME = 'application/vnd.hybrid-magic.run+json';
export const SUPPORTED_VERSION = 2;
/** Versions this view reads: 1 lacks handoff.reason, derived from the signals instead. */
export const READABLE_VERSIONS: ReadonlyArray<number> = [1, 2];

export type Route = 'local' | 'cloud';
export type Stage = 'before' | 'during' | 'after';

export interface RunSignal {
  name: string;
  stage: string;
  value: number | boolean | string | null;
  threshold: number | boolean | string | null;
  triggered: boolean;
  message: string;
  available?: boolean;
  blocks_handoff?: boolean;
}

export interface Handoff {
  requested: boolean;
  performed: boolean;
  blocked_by: string | null;
  stage: string | null;
  /** The deciding signal's name; null when no handoff was requested. */
  reason: string | null;
}

export interface LocalRun {
  backend: string;
  model: string;
  prompt_tokens: number | null;
  completion_tokens: number | null;
  ttft_s: number | null;
  tokens_per_s: number | null;
  seconds: number | null;
  stopped_early: boolean;
  finish_reason: string | null;
}

export interface CloudRun {
  model: string;
  host: string;
  prompt_tokens: number | null;
  completion_tokens: number | null;
  ttft_s: number | null;
  seconds: number | null;
  cost_usd: number | null;
}

/** What the watched during-signal measured after each local token. */
export interface Watched {
  signal: string;
  quantity: string;
  unit: string;
  window: number | null;
  /** The y axis is a probability (token probabilities drawn too): low_confidence, a learned policy's estimate. */
  probability: boolean;
  series: Array<number | null>;
  threshold: number | null;
  /** A learned policy's mid-answer bar: an estimate before the answer is complete stops it only below this. */
  early_threshold?: number | null;
}

/** Per local token: probability and seconds since the local call; no token text. */
export interface Timeline {
  probabilities: Array<number | null>;
  elapsed_s: number[];
  /** How elapsed_s was obtained, e.g. "estimated from TTFT and the mean decode rate". */
  elapsed: string;
  watched: Watched | null;
  stop: { index: number; reason: string; early: boolean };
}

/** A learned policy's push of one feature on the log-odds of a right local answer. */
export interface Contribution {
  feature: string;
  log_odds: number;
}

export interface RunBundle {
  version: number;
  magic: string;
  route: Route;
  policy: string;
  handoff: Handoff;
  signals: RunSignal[];
  /** A learned policy's explanation, largest first; empty for other policies (key absent or null). */
  contributions: Contribution[];
  /** Why the router's estimate may mean little on this run, one line each (key absent before it existed: none). */
  caveats: string[];
  local: LocalRun | null;
  cloud: CloudRun | null;
  timeline: Timeline | null;
  started_at: string;
}

export type ParseResult =
  | { ok: true; bundle: RunBundle }
  | { ok: false; error: string };

type Json = Record<string, unknown>;

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function optionalNumber(value: unknown): number | null {
  return typeof value === 'number' && Number.isFinite(value) ? value : null;
}

function text(value: unknown, fallback = ''): string {
  return typeof value === 'string' ? value : fallback;
}

function scalar(value: unknown): number | boolean | string | null {
  const kind = typeof value;
  return kind === 'number' || kind === 'boolean' || kind === 'string'
    ? (value as number | boolean | string)
    : null;
}

function parseSignal(raw: unknown): RunSignal | null {
  if (!isObject(raw) || typeof raw.name !== 'string') {
    return null;
  }
  const signal: RunSignal = {
    name: raw.name,
    stage: text(raw.stage),
    value: scalar(raw.value),
    threshold: scalar(raw.threshold),
    triggered: raw.triggered === true,
    message: text(raw.message)
  };
  if (typeof raw.available === 'boolean') {
    signal.available = raw.available;
  }
  if (typeof raw.blocks_handoff === 'boolean') {
    signal.blocks_handoff = raw.blocks_handoff;
  }
  return signal;
}

function parseContributions(raw: unknown): Contribution[] {
  if (!Array.isArray(raw)) {
    return [];
  }
  return raw
    .filter((item): item is Json => isObject(item) && typeof item.feature === 'string')
    .map(item => ({ feature: item.feature as string, log_odds: optionalNumber(item.log_odds) }))
    .filter((item): item is Contribution => item.log_odds !== null);
}

function parseCaveats(raw: unknown): string[] {
  return Array.isArray(raw) ? raw.filter((item): item is string => typeof item === 'string') : [];
}

/** Guard and informational signals never ask for a handoff, even when triggered (router/policy.py). */
const NEVER_ASKING = new Set(['privacy', 'budget', 'private', 'cloud_unavailable', 'prompt_length']);
const STAGE_ORDER: Record<string, number> = { before: 0, during: 1, after: 2 };

/** Version 1: the earliest triggered signal that requests a handoff (never a guard), as the Python side decides. */
function reasonFromSignals(signals: RunSignal[]): string | null {
  const asking = signals
    .filter(s => s.triggered && s.blocks_handoff !== true && !NEVER_ASKING.has(s.name))
    .map((s, index) => ({ s, index }))
    .sort((a, b) => (STAGE_ORDER[a.s.stage] ?? 3) - (STAGE_ORDER[b.s.stage] ?? 3) || a.index - b.index);
  return asking.length > 0 ? asking[0].s.name : null;
}

function parseHandoff(raw: Json, version: number, signals: RunSignal[]): Handoff {
  const requested = raw.requested === true;
  const given = typeof raw.reason === 'string' ? raw.reason : null;
  return {
    requested,
    performed: raw.performed === true,
    blocked_by: typeof raw.blocked_by === 'string' ? raw.blocked_by : null,
    stage: typeof raw.stage === 'string' ? raw.stage : null,
    reason: version >= 2 ? given : requested ? reasonFromSignals(signals) : null
  };
}

function parseLocal(raw: unknown): LocalRun | null {
  if (!isObject(raw)) {
    return null;
  }
  return {
    backend: text(raw.backend),
    model: text(raw.model),
    prompt_tokens: optionalNumber(raw.prompt_tokens),
    completion_tokens: optionalNumber(raw.completion_tokens),
    ttft_s: optionalNumber(raw.ttft_s),
    tokens_per_s: optionalNumber(raw.tokens_per_s),
    seconds: optionalNumber(raw.seconds),
    stopped_early: raw.stopped_early === true,
    finish_reason: typeof raw.finish_reason === 'string' ? raw.finish_reason : null
  };
}

function parseCloud(raw: unknown): CloudRun | null {
  if (!isObject(raw)) {
    return null;
  }
  return {
    model: text(raw.model),
    host: text(raw.host),
    prompt_tokens: optionalNumber(raw.prompt_tokens),
    completion_tokens: optionalNumber(raw.completion_tokens),
    ttft_s: optionalNumber(raw.ttft_s),
    seconds: optionalNumber(raw.seconds),
    // null means "unknown" (e.g. a model without a price): never read it as $0.
    cost_usd: optionalNumber(raw.cost_usd)
  };
}

function numbers(raw: unknown): Array<number | null> | null {
  return Array.isArray(raw) ? raw.map(optionalNumber) : null;
}

function parseWatched(raw: unknown, length: number): Watched | null {
  const series = isObject(raw) ? numbers(raw.series) : null;
  if (!isObject(raw) || series === null || series.length !== length) {
    return null;
  }
  return {
    signal: text(raw.signal),
    quantity: text(raw.quantity),
    unit: text(raw.unit),
    window: optionalNumber(raw.window),
    // bundles written before the key had it for low_confidence only
    probability: typeof raw.probability === 'boolean' ? raw.probability : text(raw.signal) === 'low_confidence',
    series,
    threshold: optionalNumber(raw.threshold),
    early_threshold: optionalNumber(raw.early_threshold)
  };
}

/** The timeline, or null when absent or inconsistent (lists of different lengths, no stop). */
export function parseTimeline(raw: unknown): Timeline | null {
  const probabilities = isObject(raw) ? numbers(raw.probabilities) : null;
  const elapsed = isObject(raw) ? numbers(raw.elapsed_s) : null;
  if (!isObject(raw) || probabilities === null || elapsed === null || !isObject(raw.stop)) {
    return null;
  }
  const n = probabilities.length;
  const index = optionalNumber(raw.stop.index);
  if (n === 0 || elapsed.length !== n || elapsed.includes(null) || index === null || index < 0 || index >= n) {
    return null;
  }
  return {
    probabilities,
    elapsed_s: elapsed as number[],
    elapsed: text(raw.elapsed),
    watched: parseWatched(raw.watched, n),
    stop: { index: Math.floor(index), reason: text(raw.stop.reason, 'stop'), early: raw.stop.early === true }
  };
}

/** Why `raw` is not a usable bundle (version 1 or 2), or null when it is. */
function problem(raw: unknown): string | null {
  if (!isObject(raw)) {
    return 'provenance is not a JSON object';
  }
  if (typeof raw.version !== 'number' || !READABLE_VERSIONS.includes(raw.version)) {
    return `unsupported provenance version ${JSON.stringify(raw.version)} (this view reads versions ${READABLE_VERSIONS.join(', ')})`;
  }
  if (raw.route !== 'local' && raw.route !== 'cloud') {
    return `unknown route ${JSON.stringify(raw.route)}`;
  }
  if (!isObject(raw.handoff)) {
    return 'provenance has no handoff object';
  }
  if (!Array.isArray(raw.signals)) {
    return 'provenance has no signals list';
  }
  return null;
}

/** Validate untrusted notebook data into a RunBundle; never throws. */
export function parseRunBundle(raw: unknown): ParseResult {
  const error = problem(raw);
  if (error !== null) {
    return { ok: false, error };
  }
  const data = raw as Json;
  const signals = (data.signals as unknown[])
    .map(parseSignal)
    .filter((signal): signal is RunSignal => signal !== null);
  return {
    ok: true,
    bundle: {
      version: data.version as number,
      magic: text(data.magic, 'hybrid'),
      route: data.route as Route,
      policy: text(data.policy),
      handoff: parseHandoff(data.handoff as Json, data.version as number, signals),
      signals,
      contributions: parseContributions(data.contributions),
      caveats: parseCaveats(data.caveats),
      local: parseLocal(data.local),
      cloud: parseCloud(data.cloud),
      timeline: parseTimeline(data.timeline),
      started_at: text(data.started_at)
    }
  };
}

/** The subset of an nbformat output this view reads. */
export interface OutputLike {
  output_type?: string;
  data?: unknown;
}

/** Every valid bundle in a cell's outputs, in output order. */
export function bundlesInOutputs(outputs: ReadonlyArray<OutputLike>): RunBundle[] {
  const found: RunBundle[] = [];
  for (const output of outputs) {
    if (!isObject(output.data) || !(PROVENANCE_MIME in output.data)) {
      continue;
    }
    const parsed = parseRunBundle(output.data[PROVENANCE_MIME]);
    if (parsed.ok) {
      found.push(parsed.bundle);
    }
  }
  return found;
}
