// The reward plot as hand-written SVG: each sampled rule's reward, the running best and a moving average (Figure 4).

export interface RewardPoint { x: number; reward: number; ok: boolean }

export interface PlotOptions { title?: string; width?: number; height?: number; window?: number }

/** Text made safe inside SVG/XML elements and attribute values. */
export function esc(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** Round tick steps (1, 2 or 5 times a power of ten) giving about `count` ticks over [0, max]. */
export function niceTicks(max: number, count: number): number[] {
  if (!(max > 0)) return [0];
  const raw = max / count;
  const power = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * power).find((s) => s >= raw)!;
  const ticks: number[] = [];
  for (let t = 0; t <= max + step * 1e-9; t += step) ticks.push(Number(t.toPrecision(12)));
  return ticks;
}

/** Running maximum of the rewards of successful rules (failures at the floor do not lower it). */
export function runningBest(points: RewardPoint[]): number[] {
  let best = 0;
  return points.map((p) => (best = Math.max(best, p.reward)));
}

/** Trailing moving average over `window` points. */
export function movingAverage(values: number[], window: number): number[] {
  let sum = 0;
  return values.map((v, i) => {
    sum += v;
    if (i >= window) sum -= values[i - window];
    return sum / Math.min(i + 1, window);
  });
}

export function renderRewardSvg(points: RewardPoint[], options: PlotOptions = {}): string {
  const width = options.width ?? 720;
  const height = options.height ?? 420;
  const margin = { left: 60, right: 20, top: 60, bottom: 50 };
  const plotW = width - margin.left - margin.right;
  const plotH = height - margin.top - margin.bottom;
  const sorted = [...points].sort((a, b) => a.x - b.x);
  // At least 5 on the x axis: its ticks then step by whole rules (no "0.2 rules" on a search of one or two).
  const xMax = Math.max(5, ...sorted.map((p) => p.x));
  const yMax = Math.max(1, ...sorted.map((p) => p.reward));
  const window = options.window ?? Math.max(5, Math.round(sorted.length / 20));
  const sx = (x: number) => margin.left + (x / xMax) * plotW;
  const sy = (y: number) => margin.top + plotH - (y / yMax) * plotH;
  const f = (v: number) => v.toFixed(1);
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`);
  out.push(`<rect width="${width}" height="${height}" fill="white"/>`);
  out.push(`<text x="${width / 2}" y="22" text-anchor="middle" font-size="15">${esc(options.title ?? 'Reward of sampled rules')}</text>`);
  for (const t of niceTicks(yMax, 5)) {
    out.push(`<line x1="${margin.left}" x2="${margin.left + plotW}" y1="${f(sy(t))}" y2="${f(sy(t))}" stroke="#e4e4e4"/>`);
    out.push(`<text x="${margin.left - 6}" y="${f(sy(t) + 4)}" text-anchor="end">${t}</text>`);
  }
  for (const t of niceTicks(xMax, 8)) {
    out.push(`<line x1="${f(sx(t))}" x2="${f(sx(t))}" y1="${margin.top + plotH}" y2="${margin.top + plotH + 5}" stroke="black"/>`);
    out.push(`<text x="${f(sx(t))}" y="${margin.top + plotH + 18}" text-anchor="middle">${t}</text>`);
  }
  out.push(`<rect x="${margin.left}" y="${margin.top}" width="${plotW}" height="${plotH}" fill="none" stroke="black"/>`);
  out.push(`<text x="${margin.left + plotW / 2}" y="${height - 10}" text-anchor="middle">rules sampled</text>`);
  out.push(`<text transform="translate(16 ${margin.top + plotH / 2}) rotate(-90)" text-anchor="middle">reward (validation accuracy)</text>`);
  for (const p of sorted) {
    out.push(`<circle cx="${f(sx(p.x))}" cy="${f(sy(p.reward))}" r="2.5" fill="${p.ok ? '#4c72b0' : '#d62728'}" fill-opacity="0.6"><title>#${p.x}: ${p.reward.toFixed(4)}${p.ok ? '' : ' (failed)'}</title></circle>`);
  }
  const line = (ys: number[], color: string, dash = '') => {
    if (sorted.length === 0) return;
    const d = sorted.map((p, i) => `${i === 0 ? 'M' : 'L'}${f(sx(p.x))},${f(sy(ys[i]))}`).join(' ');
    out.push(`<path d="${d}" fill="none" stroke="${color}" stroke-width="2"${dash ? ` stroke-dasharray="${dash}"` : ''}/>`);
  };
  line(runningBest(sorted), '#2ca02c');
  line(movingAverage(sorted.map((p) => p.reward), window), '#ff7f0e', '6 3');
  const legend: Array<[string, string]> = [['#2ca02c', 'running best'], ['#ff7f0e', `moving average (${window})`], ['#4c72b0', 'rule'], ['#d62728', 'failed rule (reward 0)']];
  // One row between the title and the plot, so the legend never hides a point.
  let legendX = margin.left;
  for (const [color, label] of legend) {
    out.push(`<rect x="${legendX}" y="${margin.top - 21}" width="10" height="10" fill="${color}"/>`);
    out.push(`<text x="${legendX + 14}" y="${margin.top - 12}">${esc(label)}</text>`);
    legendX += 14 + 7 * label.length + 18;
  }
  if (sorted.length === 0) out.push(`<text x="${margin.left + plotW / 2}" y="${margin.top + plotH / 2}" text-anchor="middle" fill="#888">no results yet</text>`);
  out.push('</svg>');
  return out.join('\n') + '\n';
}
