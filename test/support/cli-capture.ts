// Runs a CLI's main() in this test process with its standard output and error captured (only for calls that end
// before any training or worker process), and leaves process.exitCode as it found it.
import { main } from '../../src/cli/nos';

export interface Captured { code: number; stdout: string; stderr: string }

/** `run`'s exit code and what it wrote. */
export async function capture(run: () => Promise<number>): Promise<Captured> {
  let stdout = '';
  let stderr = '';
  const [out, err] = [process.stdout.write, process.stderr.write];
  process.stdout.write = ((chunk: string) => { stdout += chunk; return true; }) as typeof process.stdout.write;
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
