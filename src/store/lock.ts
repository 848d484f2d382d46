import { existsSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { SnapgovError } from '../errors.js';
import { validate } from '../schema.js';
import { ensureDir } from '../util/fsx.js';
import { progress } from '../util/progress.js';

export type LockKind = 'exclusive' | 'shared';

interface LockInfo {
  kind: LockKind;
  pid: number;
  host: string;
  machineId: string;
  bootId: string;
  startTime: string;
  time: string;
  command: string;
}

function readOr(path: string, fallback: string): string {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch {
    return fallback;
  }
}

/** The machine's identity comes from the kernel, not from a hostname someone can set (kopia #1087). */
function machineId(): string {
  return readOr('/etc/machine-id', readOr('/var/lib/dbus/machine-id', `host:${hostname()}`));
}

function bootId(): string {
  return readOr('/proc/sys/kernel/random/boot_id', 'unknown');
}

/** Field 22 of /proc/PID/stat: start time in clock ticks since boot; guards against PID reuse. */
function processStartTime(pid: number): string | null {
  const stat = readOr(`/proc/${pid}/stat`, '');
  if (!stat) return null;
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return fields[19] ?? null;
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** A lock is stale only when its owner is provably gone: same machine, and a reboot, a dead PID or a reused PID. */
export function isStale(info: LockInfo, self = { machineId: machineId(), bootId: bootId() }): boolean {
  if (info.machineId !== self.machineId) return false;
  if (info.bootId !== self.bootId) return true;
  if (!pidAlive(info.pid)) return true;
  const st = processStartTime(info.pid);
  return st !== null && info.startTime !== 'unknown' && st !== info.startTime;
}

export class StoreLock {
  private released = false;
  constructor(
    readonly file: string,
    readonly kind: LockKind,
  ) {}

  /** Re-checked before destructive steps: a lock file someone removed is a lock we no longer hold. */
  assertHeld(): void {
    if (this.released || !existsSync(this.file)) {
      throw new SnapgovError('LOCKED', 'the store lock was removed while this command held it', 'another process broke the lock; run the command again');
    }
  }

  release(): void {
    if (this.released) return;
    this.released = true;
    rmSync(this.file, { force: true });
  }
}

interface Held {
  file: string;
  info: LockInfo | null;
  order: string;
}

const activeLocks = new Set<StoreLock>();

/** Releases every lock this process holds; called on exit and on interruption. */
export function releaseAllLocks(): void {
  for (const l of activeLocks) l.release();
  activeLocks.clear();
}

function orderKey(time: string, file: string): string {
  return `${time}|${file}`;
}

async function readLock(file: string): Promise<LockInfo | null> {
  try {
    const doc: unknown = JSON.parse(readFileSync(file, 'utf8'));
    return (await validate('lock', doc)).ok ? (doc as LockInfo) : null;
  } catch {
    return null;
  }
}

const ENTERING = /^\.enter-.+\.json$/;
/** How long a claimant waits for another to finish choosing its place before counting it as a holder. */
const ENTER_WAIT_MS = 2000;

/**
 * Each holder owns a uniquely named file in locks/, so breaking a stale lock removes exactly that
 * holder's file and can never steal a fresh one. Conflicts (exclusive vs anything, shared vs
 * exclusive) are settled by age: the younger claim withdraws and waits.
 *
 * Age is Lamport's bakery: a claimant announces itself (`.enter-*`), takes a time later than every
 * lock it can see, publishes its lock, and only then compares; whoever compares first waits for
 * the announced to publish. Without that, a claim whose time was read before a rival published but
 * which itself published after the rival looked would seem older to both, and both would hold.
 */
export async function acquireLock(locksDir: string, kind: LockKind, opts: { waitMs: number; command: string }): Promise<StoreLock> {
  ensureDir(locksDir);
  const self = { machineId: machineId(), bootId: bootId() };
  const deadline = Date.now() + opts.waitMs;
  for (;;) {
    const id = `${process.pid}-${randomBytes(4).toString('hex')}`;
    const announce = (time: string): LockInfo => ({ kind, pid: process.pid, host: hostname(), ...self, startTime: processStartTime(process.pid) ?? 'unknown', time, command: opts.command });
    const entering = join(locksDir, `.enter-${id}.json`);
    publish(entering, announce(new Date().toISOString()));
    const time = laterThanAll(await readHolders(locksDir));
    const name = `${kind}-${time.replace(/[:.]/g, '')}-${id}.json`;
    const file = join(locksDir, name);
    try {
      publish(file, announce(time));
    } finally {
      rmSync(entering, { force: true });
    }
    const mine = orderKey(time, name);
    const blockers: Held[] = await stillChoosing(locksDir, self);
    for (const held of await readHolders(locksDir)) {
      if (held.file === file) continue;
      if (held.info === null) {
        // Unreadable lock: written by something else or damaged. Treat as held; the hint names it.
        blockers.push(held);
        continue;
      }
      if (kind === 'shared' && held.info.kind === 'shared') continue;
      if (isStale(held.info, self)) {
        rmSync(held.file, { force: true });
        continue;
      }
      if (held.order < mine) blockers.push(held);
    }
    if (blockers.length === 0) {
      const lock = new StoreLock(file, kind);
      activeLocks.add(lock);
      return lock;
    }
    rmSync(file, { force: true });
    if (Date.now() >= deadline) {
      const b = blockers[0]!;
      const who = b.info ? `${b.info.command} (pid ${b.info.pid} on ${b.info.host}, since ${b.info.time})` : `an unreadable lock file ${b.file}`;
      throw new SnapgovError('LOCKED', `the store is locked by ${who}`, opts.waitMs > 0 ? 'it is still running; wait longer with --lock-wait, or check the process' : `wait for it with --lock-wait 5m; if its process is gone on another host, remove ${b.file}`, { lockFile: b.file });
    }
    const b = blockers[0]!;
    progress(b.info ? `waiting for the lock held by ${b.info.command} (pid ${b.info.pid} on ${b.info.host}, since ${b.info.time})…` : `waiting for the lock ${b.file}…`, false);
    await sleep(50 + Math.floor(Math.random() * 150));
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

function publish(file: string, info: LockInfo): void {
  const tmp = join(dirname(file), `.${basename(file)}.tmp`);
  writeFileSync(tmp, JSON.stringify(info));
  renameSync(tmp, file);
}

async function readHolders(locksDir: string): Promise<Held[]> {
  const held: Held[] = [];
  for (const name of readdirSync(locksDir)) {
    if (name.startsWith('.') || !name.endsWith('.json')) continue;
    const file = join(locksDir, name);
    const info = await readLock(file);
    held.push({ file, info, order: info ? orderKey(info.time, name) : '' });
  }
  return held;
}

/** Now, or just after the latest visible claim: a clock behind another's never makes a claim older. */
function laterThanAll(held: readonly Held[]): string {
  let t = Date.now();
  for (const h of held) if (h.info) t = Math.max(t, Date.parse(h.info.time) + 1);
  return new Date(t).toISOString();
}

/**
 * Waits (briefly) until every other announced claimant has published its lock; stale announcements
 * are removed. One still choosing after that (a stopped process) counts as a holder: going ahead
 * without its time could let both hold.
 */
async function stillChoosing(locksDir: string, self: { machineId: string; bootId: string }): Promise<Held[]> {
  const until = Date.now() + ENTER_WAIT_MS;
  for (;;) {
    const choosing: Held[] = [];
    for (const name of readdirSync(locksDir)) {
      if (!ENTERING.test(name)) continue;
      const file = join(locksDir, name);
      const info = await readLock(file);
      if (info !== null && isStale(info, self)) rmSync(file, { force: true });
      else choosing.push({ file, info, order: '' });
    }
    if (choosing.length === 0 || Date.now() >= until) return choosing;
    await sleep(2);
  }
}
