// Runs a Python script of test/support with Debian's python3-torch, JSON in and out, with a clear error when torch is missing.
import { execFileSync } from 'node:child_process';
import * as path from 'node:path';
import { packageRoot } from '../../src/runtime/binding';

/** The Python the torch tests use: $NOS_PYTHON, else Debian's /usr/bin/python3 (where python3-torch installs). */
export const PYTHON = process.env.NOS_PYTHON ?? '/usr/bin/python3';

/** Runs test/support/<script> with `input` as JSON on stdin and parses its stdout as JSON. */
export function runTorchScript<T>(script: string, input: unknown, env: NodeJS.ProcessEnv = process.env): T {
  const file = path.join(packageRoot(), 'test', 'support', script);
  let out: Buffer;
  try {
    out = execFileSync(PYTHON, [file], { input: JSON.stringify(input), maxBuffer: 256 << 20, env, stdio: ['pipe', 'pipe', 'pipe'] });
  } catch (e) {
    const err = e as { stderr?: Buffer; message: string };
    const stderr = err.stderr?.toString() ?? '';
    if (/No module named 'torch'/.test(stderr)) {
      throw new Error(`${script} needs PyTorch: apt-get install python3-torch (.ci/run installs it; NOS_PYTHON names another python3)`);
    }
    throw new Error(`${script} failed: ${err.message}\n${stderr.slice(-4000)}`);
  }
  return JSON.parse(out.toString()) as T;
}
