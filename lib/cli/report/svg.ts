/**
 * Small helpers for hand-written SVG: escaping, linear scales, tick choice and axis markup. The report
 * draws its charts itself so that the HTML file is self-contained (no script, no external assets).
 */

export function esc(text: string | number): string {
  return String(text)
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;');
}

/** Rounds to 1 decimal for coordinates: keeps files small and diffs stable. */
export const r1 = (x: number): string => String(Math.round(x * 10) / 10);

export interface Scale {
  (value: number): number;
  readonly domain: readonly [number, number];
}

/** Maps [d0, d1] onto [p0, p1]; a zero-width domain maps everything to p0. */
export function linear(d0: number, d1: number, p0: number, p1: number): Scale {
  const span = d1 - d0;
  const f = ((v: number) => (span === 0 ? p0 : p0 + ((v - d0) / span) * (p1 - p0))) as Scale;
  Object.defineProperty(f, 'domain', { value: [d0, d1] });
  return f;
}

/** About `count` round tick values covering [lo, hi] (1, 2, 5 x 10^k steps). */
export function ticks(lo: number, hi: number, count = 5): number[] {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / Math.max(1, count);
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  const out: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step)
    out.push(Number(v.toPrecision(12)));
  return out;
}

/** Upper bound for a value axis: the maximum rounded up to a 1, 2 or 5 x 10^k step; never zero. */
export function niceMax(max: number): number {
  if (!(max > 0)) return 1;
  const raw = max / 4;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  return Number((Math.ceil(max / step - 1e-9) * step).toPrecision(12));
}

/** Seconds as `m:ss` (or `h:mm:ss`), for time axes relative to the run's start. */
export function clock(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${ss}` : `${m}:${ss}`;
}

export interface Box {
  readonly left: number;
  readonly top: number;
  readonly width: number;
  readonly height: number;
}

/** A horizontal time axis under `box`, labelled in m:ss from `t0` (epoch ms). */
export function timeAxis(box: Box, x: Scale, t0: number): string {
  const [d0, d1] = x.domain;
  const y = box.top + box.height;
  const marks = ticks((d0 - t0) / 1000, (d1 - t0) / 1000, 8).map((s) => {
    const px = r1(x(t0 + s * 1000));
    return `<line x1="${px}" x2="${px}" y1="${box.top}" y2="${y + 4}" class="grid"/><text x="${px}" y="${y + 16}" text-anchor="middle">${clock(s)}</text>`;
  });
  return `<g class="axis"><line x1="${box.left}" x2="${box.left + box.width}" y1="${y}" y2="${y}"/>${marks.join('')}</g>`;
}

/** A vertical value axis at the left (or right) edge of `box`. */
export function valueAxis(
  box: Box,
  y: Scale,
  format: (v: number) => string,
  side: 'left' | 'right' = 'left',
): string {
  const [lo, hi] = y.domain;
  const x = side === 'left' ? box.left : box.left + box.width;
  const dx = side === 'left' ? -6 : 6;
  const anchor = side === 'left' ? 'end' : 'start';
  const marks = ticks(lo, hi, 4).map((v) => {
    const py = r1(y(v));
    const grid =
      side === 'left'
        ? `<line x1="${box.left}" x2="${box.left + box.width}" y1="${py}" y2="${py}" class="grid"/>`
        : '';
    return `${grid}<text x="${x + dx}" y="${py}" dy="4" text-anchor="${anchor}">${esc(format(v))}</text>`;
  });
  return `<g class="axis"><line x1="${x}" x2="${x}" y1="${box.top}" y2="${box.top + box.height}"/>${marks.join('')}</g>`;
}

/** The `<svg>` wrapper every chart uses, with the attributes the screenshot check reads. */
export function chartSvg(opts: {
  testId: string;
  points: number;
  width: number;
  height: number;
  label: string;
  body: string;
}): string {
  return `<svg xmlns="http://www.w3.org/2000/svg" data-testid="${esc(opts.testId)}" data-points="${opts.points}" viewBox="0 0 ${opts.width} ${opts.height}" width="${opts.width}" height="${opts.height}" role="img" aria-label="${esc(opts.label)}">${opts.body}</svg>`;
}

/** Text shown in place of a chart with nothing to draw. */
export function emptyNote(width: number, height: number, text: string): string {
  return `<text x="${width / 2}" y="${height / 2}" text-anchor="middle" class="empty">${esc(text)}</text>`;
}
