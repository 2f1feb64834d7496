// The study's figure (the paper's Figure 4, one panel per space): mean reward per window of sampled rules for each
// strategy, the mean over seeds as a line and the seeds' range as a band, as hand-written SVG.
import { esc, niceTicks } from '../../src/search/reward-plot';

export interface StudySeries {
  label: string;
  color: string;
  /** One array of window means per seed (all the same length). */
  runs: number[][];
}

export interface StudyPanel { title: string; window: number; series: StudySeries[] }

const PANEL_W = 480;
const PANEL_H = 340;
const MIN_WIDTH = 760;
const MARGIN = { left: 56, right: 16, top: 40, bottom: 46 };

export function renderStudyFigure(panels: StudyPanel[], title: string): string {
  // At least MIN_WIDTH wide, so the title and the legend fit above and below a single panel.
  const width = Math.max(panels.length * PANEL_W, MIN_WIDTH);
  const offset = (width - panels.length * PANEL_W) / 2;
  const height = PANEL_H + 88;
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`);
  out.push(`<rect width="${width}" height="${height}" fill="white"/>`);
  out.push(`<text x="${width / 2}" y="22" text-anchor="middle" font-size="15">${esc(title)}</text>`);
  panels.forEach((panel, i) => out.push(...renderPanel(panel, offset + i * PANEL_W, 30)));
  // One legend for all panels: the strategies of the first panel.
  let x = MARGIN.left;
  const y = height - 32;
  for (const s of panels[0]?.series ?? []) {
    out.push(`<rect x="${x}" y="${y - 9}" width="14" height="10" fill="${s.color}" fill-opacity="0.25" stroke="${s.color}"/>`);
    out.push(`<text x="${x + 18}" y="${y}">${esc(s.label)}</text>`);
    x += 18 + 7 * s.label.length + 24;
  }
  out.push(`<text x="${MARGIN.left}" y="${y + 20}" fill="#555">line: mean over seeds; band: lowest to highest seed</text>`);
  out.push('</svg>');
  return out.join('\n') + '\n';
}

function renderPanel(panel: StudyPanel, left: number, top: number): string[] {
  const plotW = PANEL_W - MARGIN.left - MARGIN.right;
  const plotH = PANEL_H - MARGIN.top - MARGIN.bottom;
  const x0 = left + MARGIN.left;
  const y0 = top + MARGIN.top;
  const windows = Math.max(1, ...panel.series.flatMap((s) => s.runs.map((r) => r.length)));
  const xMax = windows * panel.window;
  const yMax = 1;
  const sx = (x: number) => x0 + (x / xMax) * plotW;
  const sy = (y: number) => y0 + plotH - (Math.min(Math.max(y, 0), yMax) / yMax) * plotH;
  const f = (v: number) => v.toFixed(1);
  const out: string[] = [];
  out.push(`<text x="${left + PANEL_W / 2}" y="${top + 20}" text-anchor="middle" font-size="13">${esc(panel.title)}</text>`);
  for (const t of niceTicks(yMax, 5)) {
    out.push(`<line x1="${x0}" x2="${x0 + plotW}" y1="${f(sy(t))}" y2="${f(sy(t))}" stroke="#e4e4e4"/>`);
    out.push(`<text x="${x0 - 6}" y="${f(sy(t) + 4)}" text-anchor="end">${t}</text>`);
  }
  for (const t of niceTicks(xMax, 5)) {
    out.push(`<line x1="${f(sx(t))}" x2="${f(sx(t))}" y1="${y0 + plotH}" y2="${y0 + plotH + 5}" stroke="black"/>`);
    out.push(`<text x="${f(sx(t))}" y="${y0 + plotH + 18}" text-anchor="middle">${t}</text>`);
  }
  out.push(`<rect x="${x0}" y="${y0}" width="${plotW}" height="${plotH}" fill="none" stroke="black"/>`);
  out.push(`<text x="${x0 + plotW / 2}" y="${y0 + plotH + 36}" text-anchor="middle">rules sampled</text>`);
  out.push(`<text transform="translate(${left + 16} ${y0 + plotH / 2}) rotate(-90)" text-anchor="middle">mean reward per ${panel.window} rules</text>`);
  for (const s of panel.series) {
    const n = Math.min(...s.runs.map((r) => r.length));
    if (!(n > 0)) continue;
    const xs = Array.from({ length: n }, (_, w) => (w + 0.5) * panel.window);
    const at = (w: number) => s.runs.map((r) => r[w]);
    const meanLine = xs.map((x, w) => [sx(x), sy(at(w).reduce((a, b) => a + b, 0) / s.runs.length)]);
    if (s.runs.length > 1) {
      const upper = xs.map((x, w) => `${f(sx(x))},${f(sy(Math.max(...at(w))))}`);
      const lower = xs.map((x, w) => `${f(sx(x))},${f(sy(Math.min(...at(w))))}`).reverse();
      out.push(`<polygon points="${[...upper, ...lower].join(' ')}" fill="${s.color}" fill-opacity="0.18" stroke="none"/>`);
    }
    out.push(`<path d="${meanLine.map(([x, y], i) => `${i ? 'L' : 'M'}${f(x)},${f(y)}`).join(' ')}" fill="none" stroke="${s.color}" stroke-width="2"/>`);
    meanLine.forEach(([x, y], w) => {
      const values = at(w).map((v) => v.toFixed(3)).join(', ');
      out.push(`<circle cx="${f(x)}" cy="${f(y)}" r="3" fill="${s.color}"><title>${esc(`${s.label}, rules ${w * panel.window + 1}-${(w + 1) * panel.window}: ${values}`)}</title></circle>`);
    });
  }
  return out;
}
