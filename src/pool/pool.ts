import { createRequire } from 'node:module';
import type { Worker } from 'node:worker_threads';
import { availableParallelism } from 'node:os';
import { TreeScanner, type ScanBatch } from '../files/scanner.js';
import type { StatPass } from '../files/stat-pass.js';
import { ObjectChecker, type ObjectFailure, type ObjectTask } from '../store/object-check.js';
import type { StageItem, Staged } from '../files/tree-writer.js';
import { discardStaged, ObjectReadError, ObjectWriter, type StagedObjects } from '../store/objects.js';
import { HashTable, type SharedHashTable } from '../store/hash-table.js';
import type { StoreLayout } from '../store/layout.js';

export interface WorkerInit {
  root: string;
  layout: StoreLayout;
  /** Objects already in the store, when new content is to be staged; null for read-only work. */
  known: SharedHashTable | null;
}

export type WorkerRequest =
  | { type: 'hash'; rels: string[] }
  | { type: 'stat'; rels: string[]; cache: Uint8Array }
  | { type: 'objects'; tasks: ObjectTask[] }
  | { type: 'stage'; items: StageItem[] }
  | { type: 'rename'; pairs: Staged[]; replaceDirs: string[] }
  | { type: 'finish' }
  | { type: 'discard' };

export type WorkerReply =
  | { type: 'hash'; result: ScanBatch }
  | { type: 'stat'; pass: StatPass }
  | { type: 'objects'; failures: ObjectFailure[] }
  | { type: 'staged'; staged: Staged[] }
  | { type: 'renamed'; records: Uint8Array }
  | { type: 'finished'; staged: StagedObjects | null }
  | { type: 'error'; message: string; code: string | null; path: string | null; objectHash: string | null };

/** Builds the scanner a thread (or the main thread) uses, from the shared init data. */
export function makeScanner(init: WorkerInit): { scanner: TreeScanner; writer: ObjectWriter | null; known: HashTable | null } {
  const known = init.known ? HashTable.fromShared(init.known) : null;
  const writer = known ? new ObjectWriter(init.layout.tmp, (h) => known.has(h)) : null;
  return { scanner: new TreeScanner(init.root, writer), writer, known };
}

function toError(r: Extract<WorkerReply, { type: 'error' }>): Error {
  // A damaged object stays one across the thread boundary (rollback refuses the target on it).
  if (r.objectHash !== null) return new ObjectReadError(r.message, r.objectHash);
  const e = new Error(r.message) as NodeJS.ErrnoException;
  if (r.code) e.code = r.code;
  if (r.path) e.path = r.path;
  return e;
}

// worker_threads is loaded when the first thread starts (about 1 ms; most commands start none).
const require = createRequire(import.meta.url);

interface Slot {
  worker: Worker;
  pending: { resolve: (r: WorkerReply) => void; reject: (e: Error) => void }[];
}

/**
 * Worker threads that take requests as they come. Each request goes to an idle thread, or starts a
 * new one (up to `threads`), or else to the thread with the fewest outstanding requests; a thread
 * answers in order. close() asks each thread to finish (or to discard what it staged) and returns
 * the staged objects.
 */
export class WorkerPool {
  private readonly slots: Slot[] = [];
  private failure: Error | null = null;

  constructor(
    private readonly init: WorkerInit,
    private readonly threads = Math.max(1, Math.min(4, availableParallelism())),
  ) {}

  private start(): Slot {
    const { Worker } = require('node:worker_threads') as typeof import('node:worker_threads');
    const slot: Slot = { worker: new Worker(new URL('./worker.js', import.meta.url), { workerData: this.init }), pending: [] };
    slot.worker.on('message', (msg: WorkerReply) => {
      const p = slot.pending.shift();
      if (msg.type === 'error') {
        const e = toError(msg);
        this.failure ??= e;
        p?.reject(e);
      } else p?.resolve(msg);
    });
    slot.worker.on('error', (e) => {
      this.failure ??= e;
      for (const p of slot.pending.splice(0)) p.reject(e);
    });
    this.slots.push(slot);
    return slot;
  }

  request(req: WorkerRequest): Promise<WorkerReply> {
    if (this.failure) return Promise.reject(this.failure);
    const least = this.slots.reduce<Slot | null>((a, b) => (a === null || b.pending.length < a.pending.length ? b : a), null);
    const slot = least !== null && (least.pending.length === 0 || this.slots.length >= this.threads) ? least : this.start();
    return this.send(slot, req);
  }

  private send(slot: Slot, req: WorkerRequest): Promise<WorkerReply> {
    return new Promise((resolve, reject) => {
      slot.pending.push({ resolve, reject });
      slot.worker.postMessage(req);
    });
  }

  /** Finishes every thread; on failure (or when asked) discards what was staged and throws. */
  async close(discard = false): Promise<StagedObjects[]> {
    const staged: StagedObjects[] = [];
    const drop = discard || this.failure !== null;
    await Promise.all(
      this.slots.map(async (s) => {
        try {
          const r = await this.send(s, { type: drop ? 'discard' : 'finish' });
          if (r.type === 'finished' && r.staged) staged.push(r.staged);
        } catch {
          // the error is already recorded in this.failure
        }
        await s.worker.terminate();
      }),
    );
    if (this.failure) {
      for (const st of staged) discardStaged(st);
      throw this.failure;
    }
    return staged;
  }
}

/**
 * Consecutive runs of `items` of about `maxBytes` each (and at most `maxItems`): work for the
 * threads in pieces of similar cost, so no thread is left with all the large items at the end.
 */
export function batches<T>(items: readonly T[], weightOf: (t: T) => number, maxBytes: number, maxItems = Infinity): T[][] {
  const out: T[][] = [];
  let cur: T[] = [];
  let bytes = 0;
  for (const t of items) {
    cur.push(t);
    bytes += weightOf(t);
    if (bytes >= maxBytes || cur.length >= maxItems) {
      out.push(cur);
      cur = [];
      bytes = 0;
    }
  }
  if (cur.length) out.push(cur);
  return out;
}

export function asBuffer(u: Uint8Array): Buffer {
  return Buffer.isBuffer(u) ? u : Buffer.from(u.buffer, u.byteOffset, u.byteLength);
}

/** Below this many bytes to re-read, threads cost more than they save. */
const OBJECT_PARALLEL_MIN = 32 << 20;
const OBJECT_BATCH = 8 << 20;

/**
 * Object checks (ObjectChecker tasks) on worker threads, or on this thread when `bytes`, all they
 * will re-read, is little: requests may come as the work turns up (a pull's downloads).
 */
export class ObjectChecks {
  private readonly pool: WorkerPool | null;
  private readonly inline: ObjectChecker | null;

  constructor(layout: StoreLayout, bytes: number) {
    this.pool = bytes >= OBJECT_PARALLEL_MIN ? new WorkerPool({ root: layout.objects, layout, known: null }) : null;
    this.inline = this.pool ? null : new ObjectChecker(layout);
  }

  async run(tasks: ObjectTask[]): Promise<ObjectFailure[]> {
    if (this.inline) return tasks.flatMap((t) => this.inline!.check(t));
    const r = await this.pool!.request({ type: 'objects', tasks });
    return r.type === 'objects' ? r.failures : [];
  }

  async close(): Promise<void> {
    await this.pool?.close();
  }
}

/**
 * Re-hashes stored objects (verify --read-data): one task per pack or loose object, in requests of
 * about OBJECT_BATCH bytes each (a whole pack, or many single objects). `weightOf` gives a task's
 * size in bytes.
 */
export async function checkObjects(tasks: readonly ObjectTask[], weightOf: (t: ObjectTask) => number, layout: StoreLayout, onFailure: (f: ObjectFailure) => void): Promise<void> {
  const checks = new ObjectChecks(layout, tasks.reduce((s, t) => s + weightOf(t), 0));
  const settled = await Promise.allSettled(batches(tasks, weightOf, OBJECT_BATCH).map(async (batch) => (await checks.run(batch)).forEach(onFailure)));
  await checks.close();
  const failed = settled.find((s) => s.status === 'rejected');
  if (failed) throw (failed as PromiseRejectedResult).reason;
}
