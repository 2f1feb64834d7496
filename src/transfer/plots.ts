// The transfer report's pictures as plain SVG: curves per optimizer (with a band over the seeds) and trajectories
// drawn over the contour lines of a 2-D function.

/** Tableau's ten colours: distinct, and readable in print. */
export const PALETTE = ['#4e79a7', '#f28e2b', '#e15759', '#76b7b2', '#59a14f', '#edc948', '#b07aa1', '#ff9da7', '#9c755f', '#bab0ac'];

export function esc(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

const f1 = (v: number): string => v.toFixed(1);

/** About `count` round ticks (1, 2 or 5 times a power of ten) covering [lo, hi]. */
export function linearTicks(lo: number, hi: number, count: number): number[] {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / count;
  const power = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * power).find((s) => s >= raw)!;
  const ticks: number[] = [];
  for (let t = Math.ceil(lo / step - 1e-9) * step; t <= hi + step * 1e-9; t += step) ticks.push(Number(t.toPrecision(12)));
  return ticks;
}

/** Powers of ten covering [lo, hi] (lo > 0). */
export function logTicks(lo: number, hi: number): number[] {
  const ticks: number[] = [];
  for (let k = Math.floor(Math.log10(lo)); k <= Math.ceil(Math.log10(hi)); k++) ticks.push(10 ** k);
  return ticks;
}

function tickLabel(v: number): string {
  if (v === 0) return '0';
  const a = Math.abs(v);
  return a >= 1e5 || a < 1e-3 ? v.toExponential(0).replace('e+', 'e') : String(Number(v.toPrecision(6)));
}

export interface Series {
  label: string;
  points: Array<{ x: number; value: number }>;
  /** Lowest and highest value at each point (over seeds): drawn as a light band. */
  band?: Array<{ x: number; low: number; high: number }>;
}

export interface LineChart { title: string; xLabel: string; yLabel: string; logY?: boolean; series: Series[] }

/** Curves with axes, grid, a band per series and a legend on the right. */
export function lineChart(chart: LineChart, size = { width: 760, height: 440 }): string {
  const margin = { left: 70, right: 190, top: 50, bottom: 50 };
  const plotW = size.width - margin.left - margin.right;
  const plotH = size.height - margin.top - margin.bottom;
  const xs = chart.series.flatMap((s) => s.points.map((p) => p.x));
  const ys = chart.series.flatMap((s) => [...s.points.map((p) => p.value), ...(s.band ?? []).flatMap((b) => [b.low, b.high])])
    .filter((v) => Number.isFinite(v) && (!chart.logY || v > 0));
  const [x0, x1] = xs.length ? [Math.min(0, ...xs), Math.max(...xs)] : [0, 1];
  let [y0, y1] = ys.length ? [Math.min(...ys), Math.max(...ys)] : [0, 1];
  if (y0 === y1) [y0, y1] = chart.logY ? [y0 / 2, y1 * 2] : [y0 - 0.5, y1 + 0.5];
  const ly = (v: number) => (chart.logY ? Math.log10(v) : v);
  const [ly0, ly1] = chart.logY ? [Math.floor(Math.log10(y0)), Math.ceil(Math.log10(y1))] : [y0 - (y1 - y0) * 0.05, y1 + (y1 - y0) * 0.05];
  const sx = (x: number) => margin.left + ((x - x0) / (x1 - x0 || 1)) * plotW;
  const sy = (v: number) => margin.top + plotH - ((ly(Math.max(v, chart.logY ? 10 ** ly0 : -Infinity)) - ly0) / (ly1 - ly0 || 1)) * plotH;
  const out: string[] = [svgOpen(size.width, size.height), title(size.width, chart.title)];
  const yTicks = chart.logY ? logTicks(10 ** ly0, 10 ** ly1) : linearTicks(ly0, ly1, 6);
  for (const t of yTicks) {
    out.push(`<line x1="${margin.left}" x2="${margin.left + plotW}" y1="${f1(sy(t))}" y2="${f1(sy(t))}" stroke="#e4e4e4"/>`);
    out.push(`<text x="${margin.left - 6}" y="${f1(sy(t) + 4)}" text-anchor="end">${tickLabel(t)}</text>`);
  }
  for (const t of linearTicks(x0, x1, 8)) {
    out.push(`<line x1="${f1(sx(t))}" x2="${f1(sx(t))}" y1="${margin.top}" y2="${margin.top + plotH}" stroke="#f0f0f0"/>`);
    out.push(`<text x="${f1(sx(t))}" y="${margin.top + plotH + 16}" text-anchor="middle">${tickLabel(t)}</text>`);
  }
  out.push(`<rect x="${margin.left}" y="${margin.top}" width="${plotW}" height="${plotH}" fill="none" stroke="#888"/>`);
  out.push(`<text x="${margin.left + plotW / 2}" y="${size.height - 10}" text-anchor="middle">${esc(chart.xLabel)}</text>`);
  out.push(`<text transform="translate(16 ${margin.top + plotH / 2}) rotate(-90)" text-anchor="middle">${esc(chart.yLabel)}${chart.logY ? ' (log scale)' : ''}</text>`);
  chart.series.forEach((s, i) => {
    const color = PALETTE[i % PALETTE.length];
    const band = (s.band ?? []).filter((b) => Number.isFinite(b.low) && Number.isFinite(b.high));
    if (band.length > 1) {
      const upper = band.map((b) => `${f1(sx(b.x))},${f1(sy(b.high))}`);
      const lower = band.map((b) => `${f1(sx(b.x))},${f1(sy(b.low))}`).reverse();
      out.push(`<polygon points="${[...upper, ...lower].join(' ')}" fill="${color}" fill-opacity="0.15" stroke="none"/>`);
    }
    const pts = s.points.filter((p) => Number.isFinite(p.value)).map((p) => `${f1(sx(p.x))},${f1(sy(p.value))}`);
    if (pts.length) out.push(`<polyline points="${pts.join(' ')}" fill="none" stroke="${color}" stroke-width="2"/>`);
    const ly2 = margin.top + 10 + i * 20;
    out.push(`<line x1="${margin.left + plotW + 15}" x2="${margin.left + plotW + 40}" y1="${ly2}" y2="${ly2}" stroke="${color}" stroke-width="3"/>`);
    out.push(`<text x="${margin.left + plotW + 46}" y="${ly2 + 4}">${esc(s.label)}</text>`);
  });
  out.push('</svg>');
  return out.join('\n');
}

export interface ContourPlot {
  title: string;
  f: (x: number, y: number) => number;
  minimum: [number, number];
  start: [number, number];
  paths: Array<{ label: string; points: Array<[number, number]> }>;
  /** The window shown; default x in [-2.5, 2.5], y in [-1.5, 4]. */
  window?: { x: [number, number]; y: [number, number] };
  /** Contour levels of f; default 0.3 to 3000 by half decades. */
  levels?: number[];
}

/** Contour line segments of f over a grid (marching squares, edge midpoints by linear interpolation). */
export function contourSegments(f: (x: number, y: number) => number, win: { x: [number, number]; y: [number, number] }, level: number, cells = 120): Array<[number, number, number, number]> {
  const nx = cells;
  const ny = cells;
  const gx = (i: number) => win.x[0] + ((win.x[1] - win.x[0]) * i) / nx;
  const gy = (j: number) => win.y[0] + ((win.y[1] - win.y[0]) * j) / ny;
  const v: number[][] = [];
  for (let j = 0; j <= ny; j++) { v.push([]); for (let i = 0; i <= nx; i++) v[j].push(f(gx(i), gy(j))); }
  const segments: Array<[number, number, number, number]> = [];
  const lerp = (a: number, b: number, va: number, vb: number) => a + ((level - va) / (vb - va)) * (b - a);
  for (let j = 0; j < ny; j++) {
    for (let i = 0; i < nx; i++) {
      const [a, b, c, d] = [v[j][i], v[j][i + 1], v[j + 1][i + 1], v[j + 1][i]]; // corners counter-clockwise
      const crossings: Array<[number, number]> = [];
      if ((a < level) !== (b < level)) crossings.push([lerp(gx(i), gx(i + 1), a, b), gy(j)]);
      if ((b < level) !== (c < level)) crossings.push([gx(i + 1), lerp(gy(j), gy(j + 1), b, c)]);
      if ((c < level) !== (d < level)) crossings.push([lerp(gx(i + 1), gx(i), c, d), gy(j + 1)]);
      if ((d < level) !== (a < level)) crossings.push([gx(i), lerp(gy(j + 1), gy(j), d, a)]);
      // Two crossings: one segment; four (a saddle): pair them in order, an arbitrary but valid choice.
      for (let k = 0; k + 1 < crossings.length; k += 2) segments.push([...crossings[k], ...crossings[k + 1]]);
    }
  }
  return segments;
}

/** Trajectories over contour lines, the start as a ring, the minimum as a black dot, a legend on the right. */
export function contourPlot(plot: ContourPlot, size = { width: 760, height: 560 }): string {
  const win = plot.window ?? { x: [-2.5, 2.5], y: [-1.5, 4] };
  const levels = plot.levels ?? [0.3, 1, 3, 10, 30, 100, 300, 1000, 3000];
  const margin = { left: 60, right: 190, top: 50, bottom: 50 };
  const plotW = size.width - margin.left - margin.right;
  const plotH = size.height - margin.top - margin.bottom;
  const sx = (x: number) => margin.left + ((x - win.x[0]) / (win.x[1] - win.x[0])) * plotW;
  const sy = (y: number) => margin.top + plotH - ((y - win.y[0]) / (win.y[1] - win.y[0])) * plotH;
  const out: string[] = [svgOpen(size.width, size.height), title(size.width, plot.title)];
  out.push(`<defs><clipPath id="plot"><rect x="${margin.left}" y="${margin.top}" width="${plotW}" height="${plotH}"/></clipPath></defs>`);
  for (const level of levels) {
    const d = contourSegments(plot.f, win, level).map(([x1, y1, x2, y2]) => `M${f1(sx(x1))} ${f1(sy(y1))}L${f1(sx(x2))} ${f1(sy(y2))}`).join('');
    if (d) out.push(`<path d="${d}" stroke="#c8c8c8" stroke-width="1" fill="none"/>`);
  }
  for (const t of linearTicks(win.x[0], win.x[1], 10)) out.push(`<text x="${f1(sx(t))}" y="${margin.top + plotH + 16}" text-anchor="middle">${tickLabel(t)}</text>`);
  for (const t of linearTicks(win.y[0], win.y[1], 10)) out.push(`<text x="${margin.left - 6}" y="${f1(sy(t) + 4)}" text-anchor="end">${tickLabel(t)}</text>`);
  out.push(`<rect x="${margin.left}" y="${margin.top}" width="${plotW}" height="${plotH}" fill="none" stroke="#888"/>`);
  out.push(`<text x="${margin.left + plotW / 2}" y="${size.height - 10}" text-anchor="middle">x</text>`);
  out.push(`<text x="20" y="${margin.top + plotH / 2}" text-anchor="middle">y</text>`);
  plot.paths.forEach((p, i) => {
    const color = PALETTE[i % PALETTE.length];
    const pts = p.points.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y)).map(([x, y]) => `${f1(sx(x))},${f1(sy(y))}`);
    if (pts.length) out.push(`<polyline clip-path="url(#plot)" points="${pts.join(' ')}" fill="none" stroke="${color}" stroke-width="1.8" stroke-opacity="0.9"/>`);
    const ly = margin.top + 10 + i * 20;
    out.push(`<line x1="${margin.left + plotW + 15}" x2="${margin.left + plotW + 40}" y1="${ly}" y2="${ly}" stroke="${color}" stroke-width="3"/>`);
    out.push(`<text x="${margin.left + plotW + 46}" y="${ly + 4}">${esc(p.label)}</text>`);
  });
  out.push(`<circle cx="${f1(sx(plot.start[0]))}" cy="${f1(sy(plot.start[1]))}" r="5" fill="none" stroke="#333" stroke-width="2"/>`);
  out.push(`<circle cx="${f1(sx(plot.minimum[0]))}" cy="${f1(sy(plot.minimum[1]))}" r="5" fill="black"/>`);
  out.push('</svg>');
  return out.join('\n');
}

function svgOpen(width: number, height: number): string {
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">\n<rect width="${width}" height="${height}" fill="white"/>`;
}

function title(width: number, text: string): string {
  return `<text x="${width / 2}" y="24" text-anchor="middle" font-size="14">${esc(text)}</text>`;
}
