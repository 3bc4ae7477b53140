import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RunBundle, parseRunBundle } from '../src/provenance';
import { badgeText, caveatLines, describeRun, formatCost, formatSignal, learnedLines, statusText, summarizeCells } from '../src/describe';
import { ALLOWED_SECRET_RUN, BLOCKED_RUN, CLOUD_RUN, FAILED_RUN, LOCAL_RUN, RANDOM_RUN, output } from './fixtures';

function bundle(raw: unknown): RunBundle {
  const parsed = parseRunBundle(raw);
  assert.ok(parsed.ok, 'fixture must parse');
  return parsed.bundle;
}

const BADGES: Array<[string, unknown, string]> = [
  ['local', LOCAL_RUN, 'local'],
  ['cloud after low confidence', CLOUD_RUN, 'cloud · low confidence 0.31 < 0.50'],
  ['blocked by a private variable', BLOCKED_RUN, 'handoff blocked · private'],
  ['blocked by budget', { ...BLOCKED_RUN, handoff: { ...BLOCKED_RUN.handoff, blocked_by: 'budget' } }, 'handoff blocked · budget'],
  ['blocked by privacy', { ...BLOCKED_RUN, handoff: { ...BLOCKED_RUN.handoff, blocked_by: 'privacy' } }, 'handoff blocked · privacy'],
  ['failed cloud call', FAILED_RUN, 'handoff failed · cloud error'],
  ['cloud without a triggered signal', { ...CLOUD_RUN, signals: [] }, 'cloud'],
  ['version 2: the named deciding signal, not the allowed secret', ALLOWED_SECRET_RUN, 'cloud · low confidence 0.31 < 0.50'],
  ['version 2: a policy reason without a signal', RANDOM_RUN, 'cloud · random'],
  ['version 1: an allowed secret is no reason', { ...ALLOWED_SECRET_RUN, version: 1, handoff: CLOUD_RUN.handoff },
    'cloud · low confidence 0.31 < 0.50']
];

for (const [what, raw, expected] of BADGES) {
  test(`badge for ${what}: "${expected}"`, () => {
    assert.equal(badgeText(bundle(raw)), expected);
  });
}

test('outcomes separate blocked from failed handoffs', () => {
  assert.equal(describeRun(bundle(BLOCKED_RUN)).outcome, 'blocked');
  assert.equal(describeRun(bundle(FAILED_RUN)).outcome, 'failed');
  assert.equal(describeRun(bundle(LOCAL_RUN)).outcome, 'local');
});

const SIGNALS: Array<[string, Record<string, unknown>, string]> = [
  ['value above threshold', { value: 2.345, threshold: 1.5 }, 'entropy 2.35 > 1.50'],
  ['integer counts stay integers', { value: 4096, threshold: 2048 }, 'entropy 4096 > 2048'],
  ['equal', { value: 0.5, threshold: 0.5 }, 'entropy 0.50 = 0.50'],
  ['unavailable', { value: null, threshold: 1, available: false }, 'entropy n/a'],
  ['non-numeric value', { value: true, threshold: null }, 'entropy']
];

for (const [what, fields, expected] of SIGNALS) {
  test(`formatSignal: ${what}`, () => {
    const signal = { name: 'entropy', stage: 'during', triggered: true, message: '', value: null, threshold: null, ...fields };
    assert.equal(formatSignal(signal as never), expected);
  });
}

test('cost: known is dollars with 4 decimals, unknown is never $0', () => {
  assert.equal(formatCost(0.00042), '$0.0004');
  assert.equal(formatCost(0), '$0.0000');
  assert.equal(formatCost(null), 'cost unknown');
});

test('a notebook summary counts routes and adds known costs', () => {
  const cells = [
    [output(LOCAL_RUN)],
    [output(CLOUD_RUN), output(CLOUD_RUN)],
    [output(BLOCKED_RUN)],
    [output(FAILED_RUN)],
    [{ output_type: 'stream' }]
  ];
  const totals = summarizeCells(cells);
  assert.deepEqual(
    [totals.local, totals.cloud, totals.blocked, totals.failed, totals.unknownCost],
    [1, 2, 1, 1, 0]
  );
  assert.equal(statusText(totals), 'Hybrid: 1 local · 2 cloud · 2 blocked · $0.0008');
});

test('status says "cost unknown" instead of $0 when a price is missing', () => {
  const unpriced = { ...CLOUD_RUN, cloud: { ...CLOUD_RUN.cloud, cost_usd: null } };
  assert.equal(statusText(summarizeCells([[output(unpriced)]])), 'Hybrid: 0 local · 1 cloud · 0 blocked · cost unknown');
  assert.equal(
    statusText(summarizeCells([[output(unpriced)], [output(CLOUD_RUN)]])),
    'Hybrid: 0 local · 2 cloud · 0 blocked · $0.0004 + cost unknown'
  );
});

test('an empty notebook totals to zero', () => {
  assert.equal(statusText(summarizeCells([])), 'Hybrid: 0 local · 0 cloud · 0 blocked · $0.0000');
});

test('a learned decision names its top three contributions; a missing hidden state is said in one line', () => {
  const contributions = [{ feature: 'answer_estimate', log_odds: -1.2 }, { feature: 'hidden_states', log_odds: 0 },
    { feature: 'prompt_length', log_odds: 0.3 }, { feature: 'refusal', log_odds: -0.1 }, { feature: 7, log_odds: 1 }];
  const missing = { name: 'hidden_states', stage: 'after', value: null, threshold: null, triggered: false,
    available: false, message: 'unavailable: the llamacpp backend exposes no hidden states' };
  const run = bundle({ ...LOCAL_RUN, version: 2, policy: 'mine', contributions, signals: [missing] });
  assert.deepEqual(learnedLines(run), [
    'policy mine (log-odds of a right local answer): answer_estimate -1.20, hidden_states +0.00, prompt_length +0.30',
    'hidden-state terms unavailable: the llamacpp backend exposes no hidden states']);
  assert.deepEqual(learnedLines(bundle({ ...LOCAL_RUN, contributions: null })), []);
});

test('caveats are one line each; a bundle saved before they existed, or with junk in them, shows none of it', () => {
  const said = 'A bare yes or no to a yes/no question: its estimate says little here (informational).';
  assert.deepEqual(caveatLines(bundle({ ...LOCAL_RUN, caveats: [said, 3, null] })), [`caveat: ${said}`]);
  assert.deepEqual(caveatLines(bundle(LOCAL_RUN)), []);
  assert.deepEqual(caveatLines(bundle({ ...LOCAL_RUN, caveats: 'not a list' })), []);
});
