// The Redis password from NOS_REDIS_PASSWORD or --queue-password-file (not the command line): a search and a worker
// use it against a real password-protected redis-server, and it is never printed, stored, or on a command line.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { readLedger } from '../../src/search/ledger';
import { nosCaptured } from '../support/cli-capture';
import '../support/fake-job-hooks'; // pidDir: the workers write their pids
import { findRedisServer, spawnQueueWorker, startRedisServer, type RedisServerFixture } from './redis-server-fixture';

const EXT = path.extname(__filename);
const NOS = path.join(__dirname, '..', '..', 'src', 'cli', 'nos' + EXT);
const EXEC_ARGV = EXT === '.ts' ? ['--import', 'tsx'] : [];
/** URL-special characters too: the password is encoded into the URL the client gets. */
const SECRET = `pw-${randomBytes(9).toString('hex')}%:@/#`;

function tempDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'nos-password-'));
}

interface Run { code: number | null; output: string; pid: number }
function nos(args: string[], env: NodeJS.ProcessEnv, onStart?: (pid: number) => void): Promise<Run> {
  const child = spawn(process.execPath, [...EXEC_ARGV, NOS, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env });
  let output = '';
  child.stdout.on('data', (d) => { output += d; });
  child.stderr.on('data', (d) => { output += d; });
  onStart?.(child.pid!);
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, output, pid: child.pid! })));
}

/** What `ps` and /proc show of a live process: its command line and (same user only) its environment. */
function processText(pid: number): string {
  const read = (what: string) => { try { return fs.readFileSync(`/proc/${pid}/${what}`, 'utf8'); } catch { return ''; } };
  return `${read('cmdline')}\n${read('environ')}`;
}

function assertNoSecret(text: string, where: string): void {
  assert.ok(!text.includes(SECRET) && !text.includes(encodeURIComponent(SECRET)), `${where} shows the password:\n${text.slice(0, 2000)}`);
}

const nosInProcess = nosCaptured;

test('bad password sources exit 2 naming the file, never a password', async () => {
  const dir = tempDir();
  const missing = await nosInProcess(['worker', '--queue', 'redis://127.0.0.1:1', '--queue-password-file', path.join(dir, 'nope')]);
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /--queue-password-file .*nope: cannot read it/);
  const empty = path.join(dir, 'empty');
  fs.writeFileSync(empty, '\n');
  assert.match((await nosInProcess(['worker', '--queue', 'redis://127.0.0.1:1', '--queue-password-file', empty])).stderr, /the file is empty/);
  const file = path.join(dir, 'pw');
  fs.writeFileSync(file, `${SECRET}\n`);
  const twice = await nosInProcess(['search', '--protocol', 'fake', '--queue', 'redis://:other-secret@127.0.0.1:1', '--queue-password-file', file, '--out', path.join(dir, 'x')]);
  assert.equal(twice.code, 2);
  assert.match(twice.stderr, /--queue redis:\/\/:\*\*\*@127\.0\.0\.1:1 has a password already; give it once/);
  assert.ok(!twice.stderr.includes('other-secret'));
  assert.match((await nosInProcess(['search', '--protocol', 'fake', '--queue-password-file', file, '--out', path.join(dir, 'y')])).stderr, /--queue-password-file needs --queue/);
});

const found = findRedisServer();
describe('with a real redis-server that needs a password', { skip: found.bin ? false : found.reason }, () => {
  let server: RedisServerFixture;
  before(async () => { server = await startRedisServer({ password: SECRET }); });
  after(async () => { await server?.dispose(); });

  test('a worker (NOS_REDIS_PASSWORD) and a search (--queue-password-file, then --resume with the variable) never show it', { timeout: 120_000 }, async () => {
    const dir = tempDir();
    const file = path.join(dir, 'redis-password');
    fs.writeFileSync(file, `${SECRET}\n`, { mode: 0o600 });
    const pidDir = fs.mkdtempSync(path.join(dir, 'pids-'));
    const protocol = path.join(dir, 'fake.json');
    fs.writeFileSync(protocol, JSON.stringify({ name: 'fake', sleepMs: 300, pidDir }));
    const withSecret = { ...process.env, NOS_REDIS_PASSWORD: SECRET };
    const worker = await spawnQueueWorker(server.url, ['--concurrency', '2'], withSecret);
    try {
      const out = path.join(dir, 'run');
      const seen: string[] = [];
      let searchPid = 0;
      // While they run: the search's and the worker's command lines, and the job processes' command lines and environment.
      const poll = setInterval(() => {
        if (searchPid) seen.push(processText(searchPid));
        seen.push(fs.readFileSync(`/proc/${worker.child.pid}/cmdline`, 'utf8'));
        // Only the finished .pid files: a job writes `<job>.pid.tmp-<pid>` first and renames it (read, it may be gone).
        for (const f of fs.readdirSync(pidDir).filter((name) => name.endsWith('.pid'))) {
          seen.push(processText(Number(fs.readFileSync(path.join(pidDir, f), 'utf8'))));
        }
      }, 50);
      const search = await nos(['search', '--queue', server.url, '--queue-password-file', file, '--protocol', protocol, '--budget', '6',
        '--strategy', 'random', '--space', 'small', '--out', out, '--no-progress'], process.env, (pid) => { searchPid = pid; }).finally(() => clearInterval(poll));
      assert.equal(search.code, 0, search.output);
      assert.ok(seen.length > 10 && fs.readdirSync(pidDir).length > 0, 'the processes were looked at while they ran');
      for (const text of seen) assertNoSecret(text, 'a running process');
      assertNoSecret(search.output, 'nos search output');
      // Every file of the folder, those in its subfolders (rule-trees/) too.
      for (const f of fs.readdirSync(out, { recursive: true }) as string[]) {
        if (fs.statSync(path.join(out, f)).isFile()) assertNoSecret(fs.readFileSync(path.join(out, f), 'utf8'), `${f} in the search folder`);
      }

      const resumed = await nos(['search', '--resume', '--out', out, '--budget', '8', '--no-progress'], withSecret);
      assert.equal(resumed.code, 0, resumed.output);
      assertNoSecret(resumed.output, 'nos search --resume output');
      assert.equal(readLedger(path.join(out, 'ledger.jsonl')).records.filter((r) => r.type === 'result').length, 8);

      const wrong = await nos(['search', '--queue', server.url, '--protocol', 'fake', '--out', path.join(dir, 'wrong'), '--no-progress'],
        { ...process.env, NOS_REDIS_PASSWORD: 'wrong-password-1234' });
      assert.equal(wrong.code, 1, wrong.output);
      assert.match(wrong.output, /cannot reach Redis at redis:\/\/:\*\*\*@127\.0\.0\.1:\d+ \(WRONGPASS/);
      assert.ok(!wrong.output.includes('wrong-password-1234'), wrong.output);
    } finally {
      await worker.stop();
    }
    assertNoSecret(worker.output(), 'nos worker output');
  });
});
