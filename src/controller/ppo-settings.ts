// PPO settings: their names and ranges, the named presets (the paper's values; the defaults that learn), how the
// layers (preset, space file, command line) combine, and the text form `--ppo paper,learningRate=1e-4`.
//
// Why the defaults differ from the paper is in docs/controller.md ("Settings that learn") with the measurements.

export type AdvantageMode = 'raw' | 'normalized';
export const ADVANTAGE_MODES: readonly AdvantageMode[] = ['raw', 'normalized'];

export interface PpoConfig {
  /** Adam's learning rate on the controller weights. */
  learningRate: number;
  /** Rules per batch the strategy reports (the search loop's --batch-size sets what it asks for). */
  batchSize: number;
  /** Adam steps on each batch. */
  epochs: number;
  /** The probability ratio is clipped to [1 - clip, 1 + clip]. */
  clip: number;
  /** b <- decay * b + (1 - decay) * R per reward. */
  baselineDecay: number;
  /** Weight of the entropy bonus. */
  entropyWeight: number;
  /** 'raw': advantage R - b (the paper); 'normalized': (R - b) / a running RMS of R - b. */
  advantage: AdvantageMode;
  /** Draws per proposed rule to find one this controller has not proposed before; 1 takes every draw (the paper). */
  freshDraws: number;
  hiddenSize: number;
  embeddingSize: number;
  initRange: number;
}

export type PpoPresetName = 'paper' | 'default';

/** Settings as a user gives them (space file `ppo` block, `--ppo`, createStrategy options): any subset, maybe a preset. */
export type PpoSettings = Partial<PpoConfig> & { preset?: PpoPresetName };

/** See docs/controller.md, "Fresh draws": a found family is explored, not resampled. */
const FRESH_DRAWS_DEFAULT = 20;

export const PPO_PRESETS: Record<PpoPresetName, Readonly<PpoConfig>> = {
  // Paper 4.2: Adam at 1e-5, batches of 5, LSTM 150 initialized in [-0.08, 0.08], entropy penalty 0.0015, an
  // exponential-moving-average baseline. The paper gives neither the decay, the PPO epochs and clip, nor the
  // embedding size: 0.95, 3, 0.2 and 32 are ours.
  paper: {
    learningRate: 1e-5, batchSize: 5, epochs: 3, clip: 0.2, baselineDecay: 0.95, entropyWeight: 0.0015, advantage: 'raw',
    freshDraws: 1, hiddenSize: 150, embeddingSize: 32, initRange: 0.08,
  },
  // Learns within a thousand samples (docs/controller.md, "Settings that learn").
  default: {
    learningRate: 3e-4, batchSize: 5, epochs: 3, clip: 0.2, baselineDecay: 0.95, entropyWeight: 0.0015, advantage: 'normalized',
    freshDraws: FRESH_DRAWS_DEFAULT, hiddenSize: 150, embeddingSize: 32, initRange: 0.08,
  },
};

export const PPO_KEYS = Object.keys(PPO_PRESETS.paper) as Array<keyof PpoConfig>;
const INTEGER_KEYS = new Set<keyof PpoConfig>(['batchSize', 'epochs', 'freshDraws', 'hiddenSize', 'embeddingSize']);

/** Each numeric setting's allowed range, in words and as a check. */
const RANGES: Record<Exclude<keyof PpoConfig, 'advantage'>, [string, (x: number) => boolean]> = {
  learningRate: ['> 0', (x) => x > 0],
  // Upper bounds that no useful run reaches, so a slip (hiddenSize=1e9) is named instead of failing to allocate.
  batchSize: ['an integer from 1 to 10000', (x) => x >= 1 && x <= 10000],
  epochs: ['an integer from 1 to 1000', (x) => x >= 1 && x <= 1000],
  clip: ['in (0, 1)', (x) => x > 0 && x < 1],
  baselineDecay: ['in [0, 1)', (x) => x >= 0 && x < 1],
  entropyWeight: ['>= 0', (x) => x >= 0],
  freshDraws: ['an integer from 1 to 1000', (x) => x >= 1 && x <= 1000],
  hiddenSize: ['an integer from 1 to 4096', (x) => x >= 1 && x <= 4096],
  embeddingSize: ['an integer from 1 to 4096', (x) => x >= 1 && x <= 4096],
  initRange: ['> 0', (x) => x > 0],
};

/** Checks one layer of settings (unknown keys, types, ranges); `where` prefixes the messages. */
export function checkPpoSettings(settings: unknown, where = 'ppo'): PpoSettings {
  if (settings === null || typeof settings !== 'object' || Array.isArray(settings)) throw new TypeError(`${where}: settings must be an object, got ${JSON.stringify(settings)}`);
  for (const [key, value] of Object.entries(settings)) {
    if (value === undefined) continue;
    if (key === 'preset') {
      if (!(typeof value === 'string' && value in PPO_PRESETS)) throw new RangeError(`${where}: preset must be one of ${Object.keys(PPO_PRESETS).join(', ')}, got ${JSON.stringify(value)}`);
    } else if (key === 'advantage') {
      if (!ADVANTAGE_MODES.includes(value as AdvantageMode)) throw new RangeError(`${where} option advantage: must be one of ${ADVANTAGE_MODES.join(', ')}, got ${JSON.stringify(value)}`);
    } else if (key in RANGES) {
      const [words, ok] = RANGES[key as keyof typeof RANGES];
      const integer = INTEGER_KEYS.has(key as keyof PpoConfig);
      if (!(typeof value === 'number' && Number.isFinite(value) && (!integer || Number.isInteger(value)) && ok(value))) {
        throw new RangeError(`${where} option ${key}: must be ${words}, got ${JSON.stringify(value)}`);
      }
    } else {
      throw new TypeError(`${where}: unknown option '${key}' (known: preset, ${PPO_KEYS.join(', ')})`);
    }
  }
  return settings as PpoSettings;
}

/**
 * The settings a strategy runs with: the `default` preset, then each layer in order (later layers win). A layer that
 * names a preset starts again from that preset, so `--ppo paper` gives exactly the paper's values whatever the
 * space file says; its other keys then apply on top.
 */
export function resolvePpoConfig(...layers: Array<PpoSettings | undefined>): PpoConfig {
  let config: PpoConfig = { ...PPO_PRESETS.default };
  for (const layer of layers) {
    if (!layer) continue;
    const { preset, ...rest } = checkPpoSettings(layer);
    if (preset) config = { ...PPO_PRESETS[preset] };
    for (const [key, value] of Object.entries(rest)) if (value !== undefined) (config as unknown as Record<string, unknown>)[key] = value;
  }
  return config;
}

/**
 * Parses the text form: comma-separated items, each a preset name or key=value, e.g. `paper`,
 * `learningRate=1e-4,entropyWeight=0.01`, `paper,epochs=4`. Numbers are checked here, so a typo is an error at once.
 */
export function parsePpoSettings(text: string, where = '--ppo'): PpoSettings {
  const settings: Record<string, unknown> = {};
  const items = text.split(',').map((s) => s.trim());
  if (items.some((s) => s === '')) throw new RangeError(`${where}: empty item in ${JSON.stringify(text)} (expected a preset or key=value, separated by commas)`);
  for (const item of items) {
    const eq = item.indexOf('=');
    if (eq < 0) {
      if (!(item in PPO_PRESETS)) throw new RangeError(`${where}: '${item}' is neither a preset (${Object.keys(PPO_PRESETS).join(', ')}) nor key=value`);
      if (Object.keys(settings).length > 0) throw new RangeError(`${where}: the preset '${item}' must come first (it resets every setting)`);
      settings.preset = item;
      continue;
    }
    const key = item.slice(0, eq).trim();
    const raw = item.slice(eq + 1).trim();
    // Unknown first: `key in settings` would also find the prototype's names (__proto__, toString).
    if (!PPO_KEYS.includes(key as keyof PpoConfig)) throw new RangeError(`${where}: unknown setting '${key}' (known: ${PPO_KEYS.join(', ')})`);
    if (Object.hasOwn(settings, key)) throw new RangeError(`${where}: '${key}' is given twice`);
    const value = key === 'advantage' ? raw : Number(raw);
    if (typeof value === 'number' && (raw === '' || !Number.isFinite(value))) throw new RangeError(`${where}: ${key}=${raw} is not a number`);
    settings[key] = value;
  }
  return checkPpoSettings(settings, where);
}
