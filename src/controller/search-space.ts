// Search spaces: JSON files (presets in spaces/, or any path) validated with ajv against spaces/schema.json, then checked for sense.
import * as fs from 'node:fs';
import * as path from 'node:path';
import Ajv, { type ErrorObject, type ValidateFunction } from 'ajv';
import { BASE_OPERAND_TOKENS, MAX_GROUPS, decodeTokens } from '../compiler';
import { checkPpoSettings, type PpoSettings } from './ppo-settings';
import { NosError } from '../errors';

export interface SearchConstraints { distinctOperands: boolean; noFinalAdd: boolean; reusePrevious: boolean }

/** PPO settings a space may carry (createStrategy's options win over them). */
export type { PpoSettings } from './ppo-settings';

export interface SearchSpace {
  name: string;
  operands: string[];
  unary: string[];
  binary: string[];
  /** Groups of five tokens per rule; with minDepth below it, the most groups a rule may have. */
  depth: number;
  /** The fewest groups (default: depth, a fixed depth). When below depth, the controller first picks the depth. */
  minDepth?: number;
  constraints: SearchConstraints;
  description?: string;
  ppo?: PpoSettings;
  /** Where the space was loaded from (for messages). */
  source?: string;
}

/** A bad search space: names the file (or 'search space') and the JSON path of the problem (null: not about the JSON). */
export class SearchSpaceError extends NosError {
  constructor(readonly source: string, readonly jsonPath: string | null, readonly problem: string) {
    super(`${source}: ${jsonPath === null ? '' : `${jsonPath || '(top level)'}: `}${problem}`, 2);
  }
}

/** The folder of the preset spaces: `spaces/` at the package root, found from this file under src/ or dist/src/. */
export function spacesDir(): string {
  let dir = __dirname;
  for (let i = 0; i < 6; i++) {
    const candidate = path.join(dir, 'spaces');
    if (fs.existsSync(path.join(candidate, 'schema.json'))) return candidate;
    dir = path.dirname(dir);
  }
  throw new Error(`search space presets: no spaces/schema.json above ${__dirname}`);
}

export function presetNames(): string[] {
  return fs.readdirSync(spacesDir()).filter((f) => f.endsWith('.json') && f !== 'schema.json').map((f) => f.slice(0, -5)).sort();
}

let validator: ValidateFunction | null = null;
function schemaValidator(): ValidateFunction {
  if (!validator) {
    const schema = JSON.parse(fs.readFileSync(path.join(spacesDir(), 'schema.json'), 'utf8'));
    validator = new Ajv({ allErrors: true, strict: true, verbose: true }).compile(schema);
  }
  return validator;
}

/** Loads a preset by name (`small`, `sign-family`, ...) or a JSON file by path. */
export function loadSearchSpace(nameOrFile: string): SearchSpace {
  if (typeof nameOrFile !== 'string' || nameOrFile.length === 0) {
    throw new SearchSpaceError('search space', null, `expected a preset name or a file path, got ${JSON.stringify(nameOrFile)}`);
  }
  const looksLikePath = nameOrFile.includes('/') || nameOrFile.includes(path.sep) || nameOrFile.endsWith('.json');
  let file: string;
  if (looksLikePath) {
    file = nameOrFile;
  } else {
    file = path.join(spacesDir(), `${nameOrFile}.json`);
    if (!fs.existsSync(file) || nameOrFile === 'schema') {
      throw new SearchSpaceError('search space', null, `no preset named '${nameOrFile}' (presets: ${presetNames().join(', ')}; or give a path to a .json file)`);
    }
  }
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new SearchSpaceError(file, null, `cannot read the file: ${(err as Error).message}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new SearchSpaceError(file, null, `not valid JSON: ${describeJsonError(text, err as Error)}`);
  }
  return validateSearchSpace(json, file);
}

/** Validates a parsed space (from a file or built in code) and returns it normalised. */
export function validateSearchSpace(json: unknown, source = 'search space'): SearchSpace {
  const validate = schemaValidator();
  if (!validate(json)) throw new SearchSpaceError(source, ...firstProblem(validate.errors ?? []));
  const raw = json as {
    name: string; description?: string; operands: string[]; unary: string[]; binary: string[];
    depth: number | { min: number; max: number }; constraints?: Partial<SearchConstraints>; ppo?: PpoSettings;
  };
  const [minDepth, depth] = typeof raw.depth === 'number' ? [raw.depth, raw.depth] : [raw.depth.min, raw.depth.max];
  if (minDepth > depth) throw new SearchSpaceError(source, '/depth', `min ${minDepth} is above max ${depth}`);
  const constraints: SearchConstraints = {
    distinctOperands: raw.constraints?.distinctOperands ?? false,
    noFinalAdd: raw.constraints?.noFinalAdd ?? false,
    reusePrevious: raw.constraints?.reusePrevious ?? false,
  };
  // Constraints that would leave a decision with no allowed choice.
  if (constraints.distinctOperands && raw.operands.length < 2) {
    throw new SearchSpaceError(source, '/operands', `distinctOperands needs at least 2 operands, got ${raw.operands.length}`);
  }
  if (constraints.noFinalAdd && raw.binary.every((b) => b === 'add')) {
    throw new SearchSpaceError(source, '/binary', 'noFinalAdd forbids add as the last binary function, and add is the only one listed');
  }
  checkCompilerKnows(raw, source);
  if (raw.ppo !== undefined) {
    try {
      checkPpoSettings(raw.ppo, 'ppo');
    } catch (e) {
      throw new SearchSpaceError(source, '/ppo', (e as Error).message.replace(/^ppo:? ?/, ''));
    }
  }
  return {
    name: raw.name,
    operands: [...raw.operands],
    unary: [...raw.unary],
    binary: [...raw.binary],
    depth,
    minDepth,
    constraints,
    ...(raw.description !== undefined ? { description: raw.description } : {}),
    ...(raw.ppo !== undefined ? { ppo: { ...raw.ppo } } : {}),
    source,
  };
}

/** Accepts the contract's SearchSpace objects (depth a number, minDepth optional) as well as raw JSON. */
export function normaliseSearchSpace(space: SearchSpace): SearchSpace {
  const { source, minDepth, depth, ...rest } = space;
  const json: Record<string, unknown> = { depth: minDepth !== undefined && minDepth !== depth ? { min: minDepth, max: depth } : depth };
  for (const [key, value] of Object.entries(rest)) if (value !== undefined) json[key] = value; // absent, not invalid
  return validateSearchSpace(json, source ?? `search space '${space.name}'`);
}

/** How many distinct token strings the space holds (summed over its depths), as a float (it can exceed 2^53). */
export function countRules(space: SearchSpace): number {
  const { distinctOperands, noFinalAdd, reusePrevious } = space.constraints;
  const U = space.unary.length, B = space.binary.length;
  const lastB = noFinalAdd && space.binary.includes('add') ? B - 1 : B;
  let total = 0;
  for (let d = space.minDepth ?? space.depth; d <= space.depth; d++) {
    let count = 1;
    for (let k = 1; k <= d; k++) {
      const n = space.operands.length + (k - 1);
      let pairs: number;
      if (k >= 2 && reusePrevious) pairs = distinctOperands ? 2 * (n - 1) : 2 * n - 1;
      else pairs = distinctOperands ? n * (n - 1) : n * n;
      count *= pairs * U * U * (k === d ? lastB : B);
    }
    total += count;
  }
  return total;
}

/**
 * The schema spells the vocabulary out for users; the compiler is the authority. Each token must decode in a minimal
 * rule, so a space can never make the controller sample a rule the compiler rejects.
 */
function checkCompilerKnows(raw: { operands: string[]; unary: string[]; binary: string[] }, source: string): void {
  const probes: Array<[string, string[], (t: string) => string[]]> = [
    ['operands', raw.operands, (t) => [t, t, 'id', 'id', 'keep']],
    ['unary', raw.unary, (t) => ['g', 'g', t, 'id', 'keep']],
    ['binary', raw.binary, (t) => ['g', 'g', 'id', 'id', t]],
  ];
  for (const [field, tokens, rule] of probes) {
    tokens.forEach((token, i) => {
      try {
        decodeTokens(rule(token));
      } catch (err) {
        throw new SearchSpaceError(source, `/${field}/${i}`, `the compiler does not accept '${token}': ${(err as Error).message}`);
      }
    });
  }
}

function firstProblem(errors: ErrorObject[]): [string, string] {
  // A bad depth fails both branches of its oneOf: say what is accepted instead of both branch errors.
  const depthError = errors.find((e) => e.instancePath === '/depth' || e.instancePath.startsWith('/depth/'));
  if (depthError) {
    return [depthError.instancePath, `depth must be an integer from 1 to ${MAX_GROUPS} or an object { "min": a, "max": b } of such integers, got ${JSON.stringify(depthError.data)}`];
  }
  const e = errors[0];
  const where = e.instancePath;
  if (e.keyword === 'additionalProperties') return [where, `unknown property '${e.params.additionalProperty}'`];
  if (e.keyword === 'required') return [where, `missing required property '${e.params.missingProperty}'`];
  if (e.keyword === 'pattern' && /^\/operands\/\d+$/.test(where)) {
    const bank = /^o[0-9]+$/.test(String(e.data)) ? ' (bank operands o1..o3 are added automatically; do not list them)'
      : /^(cd|rd)[-+.\d]/.test(String(e.data)) ? ' (the N of cd<N> and rd<N> is an integer from 1 to 999999)' : '';
    return [where, `'${e.data}' is not an operand${bank}; operands are ${BASE_OPERAND_TOKENS.join(', ')}, cd<N>, rd<N>`];
  }
  if (e.keyword === 'enum') return [where, `'${e.data}' is not one of ${(e.params.allowedValues as string[]).join(', ')}`];
  if (e.keyword === 'uniqueItems') return [where, `lists ${JSON.stringify((e.data as unknown[])[e.params.j as number])} twice`];
  return [where, `${e.message}${e.data !== undefined && typeof e.data !== 'object' ? `, got ${JSON.stringify(e.data)}` : ''}`];
}

function describeJsonError(text: string, err: Error): string {
  const match = /position (\d+)/.exec(err.message);
  if (!match) return err.message;
  const offset = Number(match[1]);
  const before = text.slice(0, offset);
  const line = before.split('\n').length;
  const column = offset - before.lastIndexOf('\n');
  return `${err.message} (line ${line}, column ${column})`;
}
