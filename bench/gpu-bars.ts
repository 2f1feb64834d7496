// Issue 11's bars for the child engine, judged by one device-check run's own figures (bench/gpu-engine.ts).

/** What this run measured against issue 11's bars (percent of the 1 GiB copy: each rule's fastest layout). */
export interface Measured {
  update: Record<string, { layout: string; percent: number; large?: { layout: string; percent: number } }>;
  adamVsTorch?: number;
  rewardPoints?: Record<string, number>;
  rateTimesCpu?: number;
}

/** Issue 11's bars, each met or not by this run's own figures (absent figures: not measured). */
export function barRows(m: Measured, rewardRules: number): Array<[string, string, string]> {
  const verdict = (ok: boolean | undefined) => (ok === undefined ? 'not measured' : ok ? 'met' : 'NOT MET');
  const pct = (x: { layout: string; percent: number }) => `${x.percent.toFixed(1)}% (${x.layout})`;
  const update = Object.entries(m.update).map(([rule, u]) => `${rule} ${pct(u)}${u.large ? `, 1 GiB arrays ${pct(u.large)}` : ''}`).join('; ');
  const adam = m.update.adam;
  const adamBest = adam ? Math.max(adam.percent, adam.large?.percent ?? 0) : undefined;
  const points = m.rewardPoints ? Object.values(m.rewardPoints) : undefined;
  return [
    ['bar: adam update >= 90% copy', verdict(adamBest === undefined ? undefined : adamBest >= 90), update || 'no figures against a copy'],
    ['bar: adam >= torch fused', verdict(m.adamVsTorch === undefined ? undefined : m.adamVsTorch >= 1), m.adamVsTorch ? `${m.adamVsTorch.toFixed(2)}x` : ''],
    ['bar: rewards within 1 point', verdict(points === undefined ? undefined : points.length === rewardRules && points.every((d) => d <= 1)),
      m.rewardPoints ? Object.entries(m.rewardPoints).map(([r, d]) => `${r} ${d.toFixed(2)}`).join(', ') : 'no CPU reference for this protocol'],
    ['bar: rules/hour >= 50x CPU', verdict(m.rateTimesCpu === undefined ? undefined : m.rateTimesCpu >= 50), m.rateTimesCpu ? `${m.rateTimesCpu.toFixed(1)}x the 2-core CPU path (aim: several hundred)` : ''],
  ];
}
