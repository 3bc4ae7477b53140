import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PROVENANCE_MIME, bundlesInOutputs, parseRunBundle } from '../src/provenance';
import { ALLOWED_SECRET_RUN, CLOUD_RUN, LOCAL_RUN, output } from './fixtures';

test('a version-1 cloud bundle parses with its signals and costs', () => {
  const parsed = parseRunBundle(CLOUD_RUN);
  assert.ok(parsed.ok);
  assert.equal(parsed.bundle.route, 'cloud');
  assert.equal(parsed.bundle.handoff.stage, 'during');
  assert.equal(parsed.bundle.signals[1].value, 0.31);
  assert.equal(parsed.bundle.local?.stopped_early, true);
  assert.equal(parsed.bundle.cloud?.cost_usd, 0.00042);
});

test('version 2 carries handoff.reason; version 1 gets it from the signals', () => {
  const v2 = parseRunBundle(ALLOWED_SECRET_RUN);
  assert.ok(v2.ok);
  assert.equal(v2.bundle.version, 2);
  assert.equal(v2.bundle.handoff.reason, 'low_confidence');
  const v1 = parseRunBundle(CLOUD_RUN);
  assert.ok(v1.ok);
  assert.equal(v1.bundle.handoff.reason, 'low_confidence');
  const local = parseRunBundle(LOCAL_RUN);
  assert.ok(local.ok);
  assert.equal(local.bundle.handoff.reason, null);
});

test('cloud null and cost null stay null (unknown), never 0', () => {
  const local = parseRunBundle(LOCAL_RUN);
  assert.ok(local.ok && local.bundle.cloud === null);
  const unpriced = parseRunBundle({ ...CLOUD_RUN, cloud: { ...CLOUD_RUN.cloud, cost_usd: null } });
  assert.ok(unpriced.ok);
  assert.equal(unpriced.bundle.cloud?.cost_usd, null);
});

test('optional signal keys survive; malformed signals are dropped', () => {
  const parsed = parseRunBundle({
    ...CLOUD_RUN,
    signals: [{ name: 'entropy', stage: 'during', value: 2, threshold: 1, triggered: true, message: 'm', available: false, blocks_handoff: true }, 42, { stage: 'x' }]
  });
  assert.ok(parsed.ok);
  assert.equal(parsed.bundle.signals.length, 1);
  assert.equal(parsed.bundle.signals[0].available, false);
  assert.equal(parsed.bundle.signals[0].blocks_handoff, true);
});

const BAD: Array<[string, unknown, RegExp]> = [
  ['not an object', 'hello', /not a JSON object/],
  ['an array', [1], /not a JSON object/],
  ['a future version', { ...CLOUD_RUN, version: 3 }, /unsupported provenance version 3/],
  ['no version', { ...CLOUD_RUN, version: undefined }, /unsupported provenance version/],
  ['an unknown route', { ...CLOUD_RUN, route: 'moon' }, /unknown route "moon"/],
  ['no handoff', { ...CLOUD_RUN, handoff: null }, /no handoff/],
  ['no signals', { ...CLOUD_RUN, signals: {} }, /no signals/]
];

for (const [what, raw, message] of BAD) {
  test(`rejects ${what} with a reason`, () => {
    const parsed = parseRunBundle(raw);
    assert.equal(parsed.ok, false);
    assert.match((parsed as { error: string }).error, message);
  });
}

test('bundlesInOutputs finds valid bundles only, in order', () => {
  const outputs = [
    { output_type: 'stream' },
    output(LOCAL_RUN),
    { output_type: 'display_data', data: { 'text/plain': 'x' } },
    output({ version: 99 }),
    output(CLOUD_RUN),
    { output_type: 'execute_result', data: { [PROVENANCE_MIME]: LOCAL_RUN } }
  ];
  assert.deepEqual(bundlesInOutputs(outputs).map(b => b.route), ['local', 'cloud', 'local']);
});
