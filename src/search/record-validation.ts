// One validator for what crosses a process or a disk: result envelopes and ledger records (JSON Schemas compiled once).
import Ajv, { type ErrorObject, type ValidateFunction } from 'ajv';
import { JOB_STATUSES, type Envelope } from './backend';

// strictNumbers: NaN and Infinity are not numbers here (an in-process object may hold them; JSON cannot).
const ajv = new Ajv({ strictNumbers: true, allErrors: false });

const COUNT = { type: 'integer', minimum: 0 };
/** A reward is a held-out accuracy: a finite number in [0, 1]. */
const REWARD = { type: 'number', minimum: 0, maximum: 1 };
const TEXT = { type: 'string' };
/**
 * A rule's text or token as nos prints it: printable ASCII only, so a ledger edited to hold control or direction
 * characters cannot write them to a terminal through nos report.
 */
const RULE_TEXT = { type: 'string', minLength: 1, pattern: '^[\\x20-\\x7e]+$' };

const SWEEP_ENTRY = {
  type: 'object', required: ['lr', 'status'],
  properties: { lr: { type: 'number' }, accuracy: { type: ['number', 'null'] }, loss: { type: ['number', 'null'] }, status: { enum: ['ok', 'diverged'] } },
};

const OUTCOME = {
  type: 'object', required: ['status', 'reward', 'sweep'],
  properties: {
    status: { enum: ['ok', 'diverged', 'error'] }, reward: REWARD, bestLr: { type: ['number', 'null'], exclusiveMinimum: 0 },
    sweep: { type: 'array', items: SWEEP_ENTRY }, seconds: { type: 'number', minimum: 0 }, error: TEXT,
  },
};

const ENVELOPE = {
  type: 'object', required: ['jobId', 'status', 'reward', 'bestLr', 'timings', 'attempt', 'worker'],
  properties: {
    jobId: { type: 'string', minLength: 1 },
    status: { enum: [...JOB_STATUSES] },
    reward: { ...REWARD, type: ['number', 'null'] },
    bestLr: { type: ['number', 'null'], exclusiveMinimum: 0 },
    timings: { type: 'object', required: ['queuedMs', 'runMs'], properties: { queuedMs: { type: 'number', minimum: 0 }, runMs: { type: 'number', minimum: 0 } } },
    attempt: { type: 'integer', minimum: 1 },
    worker: TEXT,
    error: TEXT,
    outcome: OUTCOME,
  },
};

const CANDIDATE = {
  type: 'object', required: ['index', 'id', 'tokens', 'rule', 'hash', 'bytesPerParam'],
  properties: {
    index: COUNT, id: { type: 'string', minLength: 1 }, tokens: { type: 'array', items: { type: 'string', pattern: '^[\\x20-\\x7e]*$' } },
    rule: { ...RULE_TEXT, type: ['string', 'null'] }, hash: { type: ['string', 'null'] }, bytesPerParam: { ...COUNT, type: ['integer', 'null'] }, compileError: TEXT,
  },
};

/** The ledger's record types and their fields (extra fields are allowed: a newer nos may add some). */
const RECORD_SCHEMAS: Record<string, object> = {
  start: { required: ['time', 'runId', 'config'], properties: { runId: { type: 'string', minLength: 1 }, config: { type: 'object' },
    versions: { type: 'object', required: ['compiler', 'protocol'], properties: { compiler: { type: 'integer' }, protocol: { type: 'integer' } } } } },
  resume: { required: ['time'], properties: { note: TEXT, settings: { type: 'object', required: ['budget', 'confirm'],
    properties: { budget: { type: 'integer', minimum: 1 }, confirm: COUNT } } } },
  batch: { required: ['time', 'batch', 'candidates'], properties: { batch: COUNT, candidates: { type: 'array', items: CANDIDATE } } },
  result: { required: ['time', 'batch', 'index', 'envelope'], properties: { batch: COUNT, index: COUNT, envelope: ENVELOPE, reusedFrom: COUNT, equivalentTo: RULE_TEXT,
    fidelity: { enum: ['screen', 'full'] }, screenReward: REWARD } },
  screen: { required: ['time', 'batch', 'index', 'envelope', 'promoted'], properties: { batch: COUNT, index: COUNT, envelope: ENVELOPE, promoted: { const: true } } },
  update: { required: ['time', 'batch', 'rewards'], properties: { batch: COUNT, rewards: { type: 'array', items: REWARD }, staleness: COUNT } },
  stop: { required: ['time', 'reason'], properties: { reason: TEXT } },
  finish: { required: ['time', 'candidates'], properties: { candidates: COUNT } },
  confirm: { required: ['time', 'rule', 'hash', 'seed', 'envelope'],
    properties: { rule: RULE_TEXT, hash: { type: 'string', minLength: 1 }, seed: COUNT, envelope: ENVELOPE } },
};

export const LEDGER_RECORD_TYPES: readonly string[] = Object.keys(RECORD_SCHEMAS);

const validateEnvelopeShape = ajv.compile(ENVELOPE);
const validateOutcomeShape = ajv.compile(OUTCOME);
const validateRecordOf: Record<string, ValidateFunction> = Object.fromEntries(Object.entries(RECORD_SCHEMAS).map(([type, schema]) =>
  [type, ajv.compile({ type: 'object', ...schema, properties: { type: { const: type }, time: TEXT, ...(schema as { properties: object }).properties } })]));

function preview(value: unknown): string {
  if (typeof value === 'number' && !Number.isFinite(value)) return String(value);
  const text = value === undefined ? 'nothing' : JSON.stringify(value) ?? String(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

const TYPE_WORDS: Record<string, string> = {
  number: 'a finite number', integer: 'an integer', string: 'a string', array: 'an array', object: 'an object', null: 'null', boolean: 'true or false',
};

/** `/envelope/reward` -> `envelope.reward`; `/candidates/2/tokens` -> `candidates[2].tokens`. */
function fieldName(prefix: string, instancePath: string): string {
  const parts = instancePath.split('/').slice(1).map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'));
  return parts.reduce((name, part) => (/^\d+$/.test(part) ? `${name}[${part}]` : name ? `${name}.${part}` : part), prefix);
}

function valueAt(root: unknown, instancePath: string): unknown {
  return instancePath.split('/').slice(1).reduce<unknown>((v, key) => (v && typeof v === 'object' ? (v as Record<string, unknown>)[key] : undefined), root);
}

/** One schema error as `field must be ... (got ...)`, naming the field from the record's root. */
function describe(error: ErrorObject, root: unknown, prefix: string): string {
  const field = fieldName(prefix, error.instancePath);
  const params = error.params as Record<string, unknown>;
  if (error.keyword === 'required') return `${field ? `${field}.` : ''}${String(params.missingProperty)} is missing`;
  const got = ` (got ${preview(valueAt(root, error.instancePath))})`;
  const what = field || 'the record';
  if (error.keyword === 'type') {
    const types = ([] as string[]).concat(params.type as string | string[]).map((t) => TYPE_WORDS[t] ?? t);
    return `${what} must be ${types.join(' or ')}${got}`;
  }
  if (error.keyword === 'enum') return `${what} must be one of ${(params.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(', ')}${got}`;
  if (error.keyword === 'const') return `${what} must be ${JSON.stringify(params.allowedValue)}${got}`;
  return `${what} ${error.message ?? 'is not valid'}${got}`;
}

function firstProblem(validate: ValidateFunction, value: unknown, prefix: string): string | null {
  if (validate(value)) return null;
  return describe(validate.errors![0], value, prefix);
}

/** What status and reward must agree on: a failed run's reward is the floor (0) or absent (null). */
function statusProblem(e: Envelope, prefix: string): string | null {
  if (e.status === 'ok' && e.reward === null) return `${prefix}reward is null but ${prefix}status is "ok" (an ok run has a reward)`;
  if (e.status !== 'ok' && e.reward !== null && e.reward !== 0) return `${prefix}reward is ${e.reward} but ${prefix}status is "${e.status}" (a failed run's reward is 0)`;
  return null;
}

/**
 * Why `value` is not a valid envelope (a field and what is wrong with it), or null when it is one. With
 * `expectedJobId`, an envelope that answers another job is invalid too.
 */
export function envelopeProblem(value: unknown, expectedJobId?: string): string | null {
  const shape = firstProblem(validateEnvelopeShape, value, '');
  if (shape) return shape;
  const envelope = value as Envelope;
  if (expectedJobId !== undefined && envelope.jobId !== expectedJobId) return `jobId is ${preview(envelope.jobId)}, but this is the result of job ${expectedJobId}`;
  return statusProblem(envelope, '');
}

/** Why `value` is not a valid evaluation outcome (what an evaluator returns), or null. */
export function outcomeProblem(value: unknown): string | null {
  return firstProblem(validateOutcomeShape, value, '');
}

/** Why `value` is not a valid ledger record (its type and the first bad field), or null when it is one. */
export function ledgerRecordProblem(value: unknown): string | null {
  if (!value || typeof value !== 'object' || Array.isArray(value)) return `not a ledger record (got ${preview(value)})`;
  const type = (value as { type?: unknown }).type;
  const validate = typeof type === 'string' ? validateRecordOf[type] : undefined;
  if (!validate) return `type must be one of ${LEDGER_RECORD_TYPES.join(', ')} (got ${preview(type)})`;
  const problem = firstProblem(validate, value, '');
  if (problem) return `${type} record: ${problem}`;
  if (type === 'result' || type === 'confirm') {
    const status = statusProblem((value as { envelope: Envelope }).envelope, 'envelope.');
    if (status) return `${type} record: ${status}`;
  }
  return null;
}

/**
 * The envelope recorded in place of an invalid one: the job's status becomes 'error' with the reason, so a bad
 * result from a worker costs that job, never the search.
 */
export function invalidEnvelope(jobId: string, problem: string, from: { worker?: unknown; attempt?: unknown } = {}, knownWorker?: string): Envelope {
  const attempt = Number.isInteger(from.attempt) && (from.attempt as number) >= 1 ? from.attempt as number : 1;
  const worker = typeof from.worker === 'string' ? from.worker : knownWorker ?? 'unknown';
  return {
    jobId, status: 'error', reward: 0, bestLr: null, timings: { queuedMs: 0, runMs: 0 }, attempt, worker,
    error: `invalid result from worker ${worker}: ${problem}; recorded as error with reward 0`,
  };
}

/** `value` when it is a valid envelope for `jobId`, else the error envelope that says why (`worker`: who sent it). */
export function checkedEnvelope(value: unknown, jobId: string, worker?: string): Envelope {
  const problem = envelopeProblem(value, jobId);
  if (!problem) return value as Envelope;
  return invalidEnvelope(jobId, problem, value && typeof value === 'object' ? value : {}, worker);
}
