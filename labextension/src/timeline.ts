/**
 * The handoff timeline, drawn from the saved bundle: the same picture as
 * hybrid_magic/display/timeline.py (same geometry, classes and colours).
 * `timelineShapes` is pure (unit-tested in node); `renderTimeline` turns the
 * shapes into SVG elements with setAttribute and textContent only.
 */
import { RunBundle, Timeline, Watched } from './provenance';

export const WIDTH = 540;
export const HEIGHT = 166;
const [LEFT, RIGHT, TOP, BOTTOM] = [46, 14, 32, 40];
const CLOUD_SHARE = 0.26;
const GAP = 12;
const COLORS: Record<string, string> = {
  series: '#1565c0', token: '#e65100', threshold: '#c62828', stop: '#424242',
  grid: '#e0e0e0', cloud: '#1565c0', text: '#424242'
};
const STOP_LABELS: Record<string, string> = {
  early_handoff: 'stopped early', stop: 'end', length: 'max tokens', interrupted: 'interrupted'
};

export interface Shape {
  tag: 'line' | 'path' | 'circle' | 'rect' | 'text';
  cls: string;
  attrs: Record<string, string>;
  text?: string;
  title?: string;
}

interface Box { x0: number; x1: number; xl: number; xc: number; y0: number; y1: number }

const f1 = (v: number): string => v.toFixed(1);

function label(x: number, y: number, words: string, cls: string, anchor = 'start'): Shape {
  return { tag: 'text', cls, text: words,
    attrs: { x: f1(x), y: f1(y), 'text-anchor': anchor, 'font-size': '10', fill: COLORS.text } };
}

/** Like Python's f"{v:.2g}" for the axis ticks used here (0, 0.5, 1, 1.7, 12). */
function short(v: number): string {
  return Number(v.toPrecision(2)).toString();
}

export function yRange(watched: Watched | null): [number, number] {
  if (watched === null || watched.probability) {
    return [0, 1];
  }
  const values = watched.series.filter((v): v is number => v !== null);
  const top = Math.max(...values, watched.threshold ?? 0) * 1.15;
  return [0, top || 1];
}

export function layout(bundle: RunBundle): Box {
  const [x0, x1, y0, y1] = [LEFT, WIDTH - RIGHT, TOP, HEIGHT - BOTTOM];
  const xl = bundle.cloud ? x1 - (x1 - x0) * CLOUD_SHARE - GAP : x1;
  return { x0, x1, xl, xc: xl + GAP, y0, y1 };
}

export function ticks(n: number, count = 5): number[] {
  const step = Math.max(1, Math.round(n / count));
  const out: number[] = [];
  for (let i = 0; i < n; i += step) {
    if (n - 1 - i >= step * 0.6) {
      out.push(i);
    }
  }
  return [...out, n - 1];
}

function axes(box: Box, x: (i: number) => number, y: (v: number) => number, lo: number, hi: number,
  tl: Timeline): Shape[] {
  const shapes: Shape[] = [];
  for (const v of [lo, (lo + hi) / 2, hi]) {
    shapes.push({ tag: 'line', cls: 'hm-tl-grid',
      attrs: { x1: String(box.x0), x2: String(box.xl), y1: f1(y(v)), y2: f1(y(v)), stroke: COLORS.grid } });
    shapes.push(label(box.x0 - 4, y(v) + 3, short(v), 'hm-tl-label', 'end'));
  }
  for (const i of ticks(tl.elapsed_s.length)) {
    shapes.push(label(x(i), box.y1 + 12, String(i + 1), 'hm-tl-label', 'middle'));
    shapes.push(label(x(i), box.y1 + 23, `${tl.elapsed_s[i].toFixed(2)}s`, 'hm-tl-muted', 'middle'));
  }
  shapes.push(label(box.x0, box.y1 + 35, axisLabel(tl), 'hm-tl-muted'));
  return shapes;
}

/** Says when the seconds are estimated (TTFT and the mean decode rate) rather than measured. */
export function axisLabel(tl: Timeline): string {
  return `local tokens (seconds since the local call${tl.elapsed.startsWith('estimated') ? ', estimated' : ''})`;
}

export function pointTitle(tl: Timeline, watched: Watched | null, i: number): string {
  const p = tl.probabilities[i];
  const words = [`token ${i + 1}`, `${tl.elapsed_s[i].toFixed(2)} s`, p === null ? 'p n/a' : `p = ${p.toFixed(3)}`];
  const value = watched?.series[i];
  if (watched && value !== null && value !== undefined) {
    words.push(`${watched.quantity} ${Number(value.toPrecision(3))}${watched.unit ? ` ${watched.unit}` : ''}`);
  }
  return words.join(' · ');
}

function series(x: (i: number) => number, y: (v: number) => number, tl: Timeline): Shape[] {
  const { watched } = tl;
  const probabilityAxis = watched === null || watched.probability;
  const dots: Shape[] = [];
  const points: string[] = [];
  tl.probabilities.forEach((p, i) => {
    const value = watched ? watched.series[i] : p;
    const title = pointTitle(tl, watched, i);
    if (probabilityAxis && p !== null && watched) {
      dots.push({ tag: 'circle', cls: 'hm-tl-token', title,
        attrs: { cx: f1(x(i)), cy: f1(y(p)), r: '2.2', fill: COLORS.token, 'fill-opacity': '0.55' } });
    }
    if (value !== null) {
      points.push(`${f1(x(i))},${f1(y(value))}`);
      dots.push({ tag: 'circle', cls: 'hm-tl-point', title,
        attrs: { cx: f1(x(i)), cy: f1(y(value)), r: '2.6', fill: COLORS.series } });
    }
  });
  if (points.length === 0) {
    return [];
  }
  const path: Shape = { tag: 'path', cls: 'hm-tl-series',
    attrs: { d: 'M' + points.join(' L'), fill: 'none', stroke: COLORS.series, 'stroke-width': '1.6' } };
  return [path, ...dots];
}

/** The cut (dashed) and, for a learned policy with an early margin, its lower mid-answer bar (dotted): an
 * estimate before the answer is complete stops it only below that. */
function threshold(box: Box, y: (v: number) => number, watched: Watched | null): Shape[] {
  if (watched === null || watched.threshold === null) {
    return [];
  }
  const t = watched.threshold;
  const e = watched.early_threshold;
  const cut = level(box, y, t, 'hm-tl-threshold', `threshold ${t.toFixed(2)}`, box.x0 + 3, 'start',
    { 'stroke-width': '1.2', 'stroke-dasharray': '5 3' });
  if (e === null || e === undefined) {
    return cut;
  }
  return [...cut, ...level(box, y, e, 'hm-tl-earlyThreshold', `mid-answer stop below ${e.toFixed(2)}`, box.xl - 3,
    'end', { 'stroke-width': '1', 'stroke-dasharray': '2 3', opacity: '0.7' })];
}

/** A horizontal line across the local tokens at `value`, labelled just below it (above at the bottom edge). */
function level(box: Box, y: (v: number) => number, value: number, cls: string, words: string, labelX: number,
  anchor: string, style: Record<string, string>): Shape[] {
  const below = y(value) + 11 < box.y1 - 2 ? y(value) + 11 : y(value) - 4;
  return [
    { tag: 'line', cls, attrs: { x1: String(box.x0), x2: String(box.xl), y1: f1(y(value)), y2: f1(y(value)),
      stroke: COLORS.threshold, ...style } },
    label(labelX, below, words, cls + 'Label', anchor)
  ];
}

function stop(box: Box, x: (i: number) => number, tl: Timeline, handedOff: boolean): Shape[] {
  const at = x(tl.stop.index);
  let words = handedOff ? 'handoff' : STOP_LABELS[tl.stop.reason] ?? tl.stop.reason;
  if (tl.stop.early && handedOff) {
    words = 'stopped early → handoff';
  }
  const anchor = at > (box.x0 + box.xl) / 2 ? 'end' : 'start';
  return [
    { tag: 'line', cls: 'hm-tl-stop', attrs: { x1: f1(at), x2: f1(at), y1: String(box.y0 - 6), y2: String(box.y1),
      stroke: COLORS.stop, 'stroke-width': '1.2' } },
    label(at + (anchor === 'end' ? -3 : 3), box.y0 - 9, words, 'hm-tl-stopLabel', anchor)
  ];
}

function cloudSpan(box: Box, bundle: RunBundle): Shape[] {
  const { cloud } = bundle;
  if (!cloud) {
    return [];
  }
  const total = cloud.seconds ?? 0;
  const ttft = Math.min(cloud.ttft_s ?? 0, total);
  const width = box.x1 - box.xc;
  const mid = (box.y0 + box.y1) / 2;
  const wait = total > 0 ? width * (ttft / total) : 0;
  const heading = bundle.magic === 'compare' ? 'cloud (in parallel)' : 'cloud';
  return [
    { tag: 'rect', cls: 'hm-tl-cloudZone', attrs: { x: f1(box.xc), y: String(box.y0), width: f1(width),
      height: String(box.y1 - box.y0), fill: COLORS.cloud, 'fill-opacity': '0.06' } },
    { tag: 'rect', cls: 'hm-tl-cloudWait', title: `waiting for the first cloud token: ${ttft.toFixed(2)} s`,
      attrs: { x: f1(box.xc), y: f1(mid - 5), width: f1(wait), height: '10', fill: COLORS.cloud, 'fill-opacity': '0.3' } },
    { tag: 'rect', cls: 'hm-tl-cloudSpan', title: `cloud streaming: ${(total - ttft).toFixed(2)} s`,
      attrs: { x: f1(box.xc + wait), y: f1(mid - 5), width: f1(width - wait), height: '10', fill: COLORS.cloud } },
    label(box.xc, box.y0 - 9, heading, 'hm-tl-stopLabel'),
    label(box.xc, mid - 10, `TTFT ${ttft.toFixed(2)} s`, 'hm-tl-muted'),
    label(box.xc, mid + 17, `${total.toFixed(2)} s total`, 'hm-tl-muted'),
    label(box.xc, box.y1 + 12, `${cloud.completion_tokens ?? 0} tokens`, 'hm-tl-label')
  ];
}

export function heading(watched: Watched | null): string {
  if (watched === null) {
    return 'token probability (no watched signal)';
  }
  const unit = watched.unit ? `, ${watched.unit}` : '';
  const window = watched.signal !== 'repetition' && watched.window !== null ? ` over ${watched.window} tokens` : '';
  const named = watched.threshold !== null ? `${watched.signal}: ` : ''; // nothing decided a local run
  return `${named}${watched.quantity}${window}${unit}`;
}

/** Every shape of the picture, in drawing order; [] when the run has no local tokens. */
export function timelineShapes(bundle: RunBundle): Shape[] {
  const tl = bundle.timeline;
  if (tl === null) {
    return [];
  }
  const [lo, hi] = yRange(tl.watched);
  const box = layout(bundle);
  const n = tl.elapsed_s.length;
  const x = (i: number): number => box.x0 + (box.xl - box.x0) * (i / Math.max(n - 1, 1));
  const y = (v: number): number => box.y1 - (box.y1 - box.y0) * ((Math.min(Math.max(v, lo), hi) - lo) / (hi - lo));
  const handedOff = bundle.handoff.performed && bundle.magic !== 'compare';
  const head = label(4, 12, heading(tl.watched), 'hm-tl-heading');
  head.attrs['font-weight'] = '600';
  const shapes = [head, ...axes(box, x, y, lo, hi, tl), ...threshold(box, y, tl.watched), ...series(x, y, tl),
    ...stop(box, x, tl, handedOff), ...cloudSpan(box, bundle)];
  if (tl.watched === null && tl.probabilities.every(p => p === null)) {
    shapes.push(label(box.x0 + 8, (box.y0 + box.y1) / 2, 'no token probabilities from this backend', 'hm-tl-muted'));
  }
  return shapes;
}

const SVG_NS = 'http://www.w3.org/2000/svg';

function svgElement(tag: string, cls: string, attrs: Record<string, string>): SVGElement {
  const node = document.createElementNS(SVG_NS, tag);
  if (cls) {
    node.setAttribute('class', cls);
  }
  Object.entries(attrs).forEach(([name, value]) => node.setAttribute(name, value));
  return node;
}

function titled(node: SVGElement, words: string): SVGElement {
  const title = document.createElementNS(SVG_NS, 'title');
  title.textContent = words;
  node.append(title);
  return node;
}

/** The picture as an <svg> element (text via textContent only), or null without a timeline. */
export function renderTimeline(bundle: RunBundle): SVGElement | null {
  const shapes = timelineShapes(bundle);
  if (shapes.length === 0 || bundle.timeline === null) {
    return null;
  }
  const svg = svgElement('svg', 'hm-timeline', { viewBox: `0 0 ${WIDTH} ${HEIGHT}`, width: String(WIDTH),
    height: String(HEIGHT), role: 'img', 'font-family': 'sans-serif' });
  titled(svg, `Timeline of ${bundle.timeline.elapsed_s.length} local tokens. ${heading(bundle.timeline.watched)}`);
  for (const shape of shapes) {
    const node = svgElement(shape.tag, shape.cls, shape.attrs);
    if (shape.text !== undefined) {
      node.textContent = shape.text;
    }
    svg.append(shape.title === undefined ? node : titled(node, shape.title));
  }
  return svg;
}
