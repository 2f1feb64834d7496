// Fresh draws: a strategy that samples rules puts back a draw whose rule it proposed before and draws again.
import { decodeTokens, hash as hashRule } from '../compiler';

/**
 * The rule's canonical hash (two spellings of one rule share it; the hash the search loop's rule identity gives, here
 * without compiling the rule); its tokens where the compiler refuses them.
 */
export function ruleKey(tokens: string[]): string {
  try {
    return hashRule(decodeTokens(tokens));
  } catch {
    return tokens.join(' ');
  }
}

/**
 * Draws `count` items with `draw(n)` (n items at a time). With freshDraws > 1, an item whose rule is in `proposed`
 * (from earlier batches or earlier in this one) is put back, up to freshDraws rounds; the last round takes what it
 * draws, so a space with no untried rule left still yields a batch. Every rule taken joins `proposed`. With
 * freshDraws 1 this is `draw(count)`, and `proposed` stays as it is.
 */
export function drawFresh<T>(count: number, draw: (n: number) => T[], tokensOf: (item: T) => string[],
  proposed: Set<string>, freshDraws: number): T[] {
  if (freshDraws <= 1) return draw(count);
  const chosen: T[] = [];
  for (let round = 1; chosen.length < count; round++) {
    for (const item of draw(count - chosen.length)) {
      const key = ruleKey(tokensOf(item));
      if (round < freshDraws && proposed.has(key)) continue;
      proposed.add(key);
      chosen.push(item);
    }
  }
  return chosen;
}

/** The proposed rules from a saved state (absent in states saved before fresh draws: none). */
export function loadProposed(saved: unknown, where: string): string[] {
  const proposed = saved ?? [];
  if (!(Array.isArray(proposed) && proposed.every((k) => typeof k === 'string'))) throw new TypeError(`${where}: proposed must be an array of rule hashes`);
  return proposed;
}
