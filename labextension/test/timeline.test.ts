import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RunBundle, parseRunBundle, parseTimeline } from '../src/provenance';
import { Shape, heading, pointTitle, ticks, timelineShapes } from '../src/timeline';
import { CLOUD_RUN, LOCAL_RUN } from './fixtures';

function bundle(raw: unknown): RunBundle {
  const parsed = parseRunBundle(raw);
  assert.ok(parsed.ok);
  return parsed.bundle;
}

const only = (shapes: Shape[], cls: string): Shape[] => shapes.filter(shape => shape.cls === cls);

test('the saved timeline parses: probabilities, times, watched series, threshold, stop', () => {
  const tl = bundle(CLOUD_RUN).timeline;
  assert.ok(tl !== null && tl.watched !== null);
  assert.deepEqual(tl.probabilities, [0.55, 0.35, 0.25, 0.2, 0.2]);
  assert.equal(tl.watched.threshold, 0.5);
  assert.deepEqual(tl.stop, { index: 4, reason: 'early_handoff', early: true });
});

test('an inconsistent timeline is dropped, not half drawn', () => {
  const good = CLOUD_RUN.timeline;
  assert.equal(parseTimeline({ ...good, elapsed_s: [0.1] }), null);
  assert.equal(parseTimeline({ ...good, stop: { index: 9 } }), null);
  assert.equal(parseTimeline('<svg onload=alert(1)>'), null);
  assert.equal(parseTimeline({ ...good, watched: { ...good.watched, series: [1] } })?.watched, null);
  assert.equal(bundle({ ...CLOUD_RUN, timeline: undefined }).timeline, null);
  assert.deepEqual(timelineShapes(bundle(LOCAL_RUN)), []);
});

// The same numbers as tests/test_timeline.py: both drawings share one geometry.
test('series, threshold line, stop marker and cloud span sit where the Python drawing puts them', () => {
  const shapes = timelineShapes(bundle(CLOUD_RUN));
  const [series] = only(shapes, 'hm-tl-series');
  assert.equal(series.tag, 'path');
  assert.equal(series.attrs.d.split(' L').length, 5);
  const [threshold] = only(shapes, 'hm-tl-threshold');
  assert.equal(threshold.attrs.y1, '79.0');
  assert.equal(threshold.attrs.y2, '79.0');
  const points = only(shapes, 'hm-tl-point');
  assert.equal(points.length, 5);
  const [stop] = only(shapes, 'hm-tl-stop');
  assert.equal(stop.attrs.x1, '389.2');
  assert.equal(points[4].attrs.cx, stop.attrs.x1);
  assert.equal(only(shapes, 'hm-tl-cloudSpan').length, 1);
  const words = shapes.map(shape => shape.text ?? '').join('|');
  assert.match(words, /stopped early → handoff/);
  assert.match(words, /threshold 0\.50/);
  assert.match(words, /TTFT 0\.40 s/);
  assert.match(words, /seconds since the local call, estimated/);
});

test('hovering a point names the token, its time and its probability', () => {
  const tl = bundle(CLOUD_RUN).timeline;
  assert.ok(tl !== null);
  assert.equal(pointTitle(tl, tl.watched, 1), 'token 2 · 0.27 s · p = 0.350 · rolling mean token probability 0.45');
  assert.deepEqual(ticks(14), [0, 3, 6, 9, 13]);
  assert.deepEqual(ticks(1), [0]);
});

test('the heading names the signal only when a threshold decided', () => {
  const tl = bundle(CLOUD_RUN).timeline;
  assert.ok(tl !== null && tl.watched !== null);
  assert.equal(heading(tl.watched), 'low_confidence: rolling mean token probability over 8 tokens');
  assert.equal(heading({ ...tl.watched, threshold: null }), 'rolling mean token probability over 8 tokens');
});

// Mirrors tests/test_timeline.py's learned-policy test: a policy's estimates where it was asked, against its cut.
test("a learned policy's timeline plots its estimates where it was asked against its cut, on a probability axis", () => {
  const watched = { signal: 'router', quantity: 'estimated chance the local answer is right', unit: '',
    triggers: 'below', window: null, probability: true, series: [null, null, 0.62, null, 0.41], threshold: 0.57 };
  const tl = bundle({ ...CLOUD_RUN, timeline: { ...CLOUD_RUN.timeline, watched } }).timeline;
  assert.ok(tl !== null && tl.watched !== null);
  assert.deepEqual(tl.watched.series, [null, null, 0.62, null, 0.41]);
  assert.equal(heading(tl.watched), 'router: estimated chance the local answer is right');
  const shapes = timelineShapes(bundle({ ...CLOUD_RUN, timeline: { ...CLOUD_RUN.timeline, watched } }));
  assert.equal(only(shapes, 'hm-tl-point').length, 2);
  assert.equal(only(shapes, 'hm-tl-token').length, 5);  // token probabilities share the 0..1 axis
  const [series] = only(shapes, 'hm-tl-series');
  assert.equal(series.attrs.d.split(' L').length, 2);
  assert.match(shapes.map(shape => shape.text ?? '').join('|'), /threshold 0\.57/);
  assert.equal(only(shapes, 'hm-tl-earlyThreshold').length, 0);  // no early margin: no mid-answer bar
  // the early margin's mid-answer bar, where tests/test_timeline.py puts it
  const barred = timelineShapes(bundle({ ...CLOUD_RUN, timeline: { ...CLOUD_RUN.timeline,
    watched: { ...watched, early_threshold: 0.33 } } }));
  const [bar] = only(barred, 'hm-tl-earlyThreshold');
  assert.equal(bar.attrs.y1, '95.0');
  assert.equal(bar.attrs.y2, '95.0');
  assert.match(barred.map(shape => shape.text ?? '').join('|'), /mid-answer stop below 0\.33/);
  // a bundle saved before the `probability` key: only low_confidence is on a probability axis
  const old = parseTimeline({ ...CLOUD_RUN.timeline, watched: { ...CLOUD_RUN.timeline.watched, signal: 'high_entropy' } });
  assert.equal(old?.watched?.probability, false);
});
