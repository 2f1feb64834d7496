// One search process per folder: a lock file naming its owner, created atomically, and taken over from a dead owner
// only by the one process that wins the claim on that owner (so two resumes racing for a stale lock never both win).
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describeFsError, InputError } from '../errors';

export const LOCK_FILE = 'search.lock';

/** A lock file's content as read: who holds it, and an identity that changes whenever the file is replaced. */
interface Owner { pid: number; start: string | null; identity: string }

/** Start time of a process (clock ticks since boot, /proc/PID/stat field 22): with the pid, it names one process. */
function processStart(pid: number): string | null {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? null;
  } catch {
    return null;
  }
}

function alive(owner: Owner): boolean {
  if (!(owner.pid > 0)) return false;
  try {
    process.kill(owner.pid, 0);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EPERM') return false; // EPERM: exists, owned by someone else
  }
  const start = owner.start === null ? null : processStart(owner.pid);
  return start === null || start === owner.start; // another start time: the pid was reused (a reboot, say)
}

/** The owner named in `file` (null when there is no such file); content from older versions is a bare pid. */
function readOwner(file: string): Owner | null {
  let fd: number;
  try {
    fd = fs.openSync(file, 'r');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
  try {
    const text = fs.readFileSync(fd, 'utf8'); // the inode and its text read through one descriptor belong together
    const identity = `${text}|${fs.fstatSync(fd).ino}`;
    let parsed: { pid?: unknown; start?: unknown } | null = null;
    try { parsed = JSON.parse(text); } catch { /* neither JSON nor a number: no owner */ }
    const pid = typeof parsed === 'number' ? parsed : Number(parsed?.pid);
    return { pid: Number.isInteger(pid) ? pid : 0, start: typeof parsed?.start === 'string' ? parsed.start : null, identity };
  } finally {
    fs.closeSync(fd);
  }
}

/** Creates `file` holding `text` only if no such file exists; the text is there from the first moment (a hard link). */
function createExclusive(file: string, text: string): boolean {
  const temp = `${file}.new-${process.pid}-${randomBytes(4).toString('hex')}`;
  try {
    fs.writeFileSync(temp, text); // inside the try: a write that fails (a full disk) leaves no temporary file
    fs.linkSync(temp, file);
    return true;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') return false;
    if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'ENOSYS' && code !== 'EOPNOTSUPP') throw e;
    // A file system without hard links: an exclusive create, whose text lands a moment after the file.
    try { fs.writeFileSync(file, text, { flag: 'wx' }); return true; } catch (e2) {
      if ((e2 as NodeJS.ErrnoException).code === 'EEXIST') return false;
      throw e2;
    }
  } finally {
    fs.rmSync(temp, { force: true });
  }
}

function claimPrefix(file: string, stale: Owner): string {
  return `${file}.takeover-${createHash('sha256').update(stale.identity).digest('hex').slice(0, 16)}-`;
}

/**
 * Replaces the lock of a dead owner with ours. The right to replace it is a claim file named after that owner's
 * lock; creating it is exclusive, so one process holds it. While a claim is held the lock can change only by its
 * owner's release, and its owner is dead: so the holder checks the lock is still the dead one, then renames its
 * claim over it. A claim left by a process that died is passed over for the next number. Returns whether we won.
 */
function takeOver(file: string, stale: Owner, mine: string): 'won' | 'lost' {
  const prefix = claimPrefix(file, stale);
  for (let n = 1; n <= 64; n++) {
    const claim = `${prefix}${n}`;
    if (createExclusive(claim, mine)) {
      if (readOwner(file)?.identity === stale.identity) {
        fs.renameSync(claim, file);
        return 'won';
      }
      fs.rmSync(claim, { force: true }); // someone took it over first
      return 'lost';
    }
    const claimant = readOwner(claim);
    if (claimant && alive(claimant)) return 'lost'; // being taken over right now by a live process
  }
  return 'lost';
}

/** Removes claims and half-made lock files that dead processes left (never a live process's). */
function removeLeftovers(dir: string): void {
  for (const name of fs.readdirSync(dir)) {
    if (!name.startsWith(`${LOCK_FILE}.`)) continue;
    const file = path.join(dir, name);
    const made = /\.new-(\d+)-[0-9a-f]+$/.exec(name);
    const owner = made ? { pid: Number(made[1]), start: null, identity: '' } : name.includes('.takeover-') ? readOwner(file) : null;
    if (owner && !alive(owner)) fs.rmSync(file, { force: true });
  }
}

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** Takes the folder's lock or throws naming the process that holds it; returns the release function. */
export function lockFolder(dir: string): () => void {
  try {
    return takeLock(dir);
  } catch (e) {
    // A folder nos cannot write, or a lock that is not a file (a folder in its place): the folder is the problem.
    if (!(e as NodeJS.ErrnoException).code) throw e;
    throw new InputError(`${dir}: cannot take the folder's lock (${LOCK_FILE}): ${describeFsError(e)}`);
  }
}

function takeLock(dir: string): () => void {
  const file = path.join(dir, LOCK_FILE);
  const mine = JSON.stringify({ pid: process.pid, start: processStart(process.pid), nonce: randomBytes(8).toString('hex') }) + '\n';
  for (let tries = 0; tries < 50; tries++) {
    if (createExclusive(file, mine)) break;
    const owner = readOwner(file);
    if (owner === null) continue; // released meanwhile: try again
    if (alive(owner)) throw new Error(`${dir}: another nos process (pid ${owner.pid}) is using this folder (a search or a transfer); wait for it or stop it first`);
    if (takeOver(file, owner, mine) === 'won') break;
    sleepSync(10); // another process is taking the dead owner's lock over: see who got it
  }
  if (readOwner(file)?.identity.startsWith(`${mine}|`) !== true) throw new Error(`${dir}: could not take ${LOCK_FILE}`);
  try { removeLeftovers(dir); } catch { /* tidiness only */ }
  return () => {
    try {
      // Only a takeover replaces the lock, and that needs us dead: what we read here stays ours until unlinked.
      if (readOwner(file)?.identity.startsWith(`${mine}|`)) fs.unlinkSync(file);
    } catch { /* already gone */ }
  };
}
