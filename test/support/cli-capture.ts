// Runs a CLI's main() in this test process with its standard output and error captured (not for calls that start a
// training or worker process: their output is not the CLI's), and leaves process.exitCode as it found it.
import { main } from '../../src/cli/nos';

export interface Captured { code: number; stdout: string; stderr: string }

/** `run`'s exit code and what it wrote. */
export async function capture(run: () => Promise<number>): Promise<Captured> {
  let stdout = '';
  let stderr = '';
  const [out, err] = [process.stdout.write, process.stderr.write];
  // The CLI writes text; the test runner's reporter (under `node --test`) writes serialized bytes to stdout, which
  // pass through: a run that trains for a while must not swallow the report of the tests before it.
  process.stdout.write = ((chunk: string | Uint8Array, ...rest: unknown[]) => {
    if (typeof chunk !== 'string') return (out as (...a: unknown[]) => boolean).call(process.stdout, chunk, ...rest);
    stdout += chunk;
    return true;
  }) as typeof process.stdout.write;
  process.stderr.write = ((chunk: string) => { stderr += chunk; return true; }) as typeof process.stderr.write;
  try {
    return { code: await run(), stdout, stderr };
  } finally {
    process.stdout.write = out;
    process.stderr.write = err;
    process.exitCode = undefined;
  }
}

/** `nos ...args`, captured. */
export function nosCaptured(args: string[]): Promise<Captured> {
  return capture(() => main(['node', 'nos', ...args]));
}
