import { Worker } from 'node:worker_threads';
import { availableParallelism } from 'node:os';
import { TreeScanner, type ObjectCheck, type ObjectTask, type ScanBatch } from './scanner.js';
import { discardStaged, ObjectWriter, type StagedObjects } from '../store/objects.js';
import { HashTable, type SharedHashTable } from '../store/hash-table.js';
import { StatCache } from '../store/stat-cache.js';
import type { StoreLayout } from '../store/layout.js';

export interface WorkerInit {
  root: string;
  layout: StoreLayout;
  /** Objects already in the store, when new content is to be staged; null for read-only scans. */
  known: SharedHashTable | null;
  cache: SharedArrayBuffer;
}

export type WorkerRequest = { type: 'scan'; batch: number; rels: string[] } | { type: 'objects'; batch: number; tasks: ObjectTask[] } | { type: 'finish' } | { type: 'discard' };

export type WorkerReply =
  | { type: 'scan'; batch: number; result: ScanBatch }
  | { type: 'objects'; batch: number; results: ObjectCheck[] }
  | { type: 'finished'; staged: StagedObjects | null }
  | { type: 'error'; message: string; code: string | null; path: string | null };

/** Below this many paths, starting threads costs more than it saves. */
const PARALLEL_MIN_PATHS = 2000;
const SCAN_BATCH = 512;
const OBJECT_BATCH_BYTES = 8 << 20;

/** Builds the scanner a thread (or the main thread) uses, from the shared init data. */
export function makeScanner(init: WorkerInit): { scanner: TreeScanner; writer: ObjectWriter | null } {
  const known = init.known ? HashTable.fromShared(init.known) : null;
  const writer = known ? new ObjectWriter(init.layout.tmp, (h) => known.has(h)) : null;
  return { scanner: new TreeScanner(init.root, init.layout, writer, StatCache.fromShared(init.cache), known), writer };
}

function toError(r: Extract<WorkerReply, { type: 'error' }>): Error {
  const e = new Error(r.message) as NodeJS.ErrnoException;
  if (r.code) e.code = r.code;
  if (r.path) e.path = r.path;
  return e;
}

function threadCount(): number {
  return Math.max(1, Math.min(4, availableParallelism()));
}

/**
 * Hands requests to worker threads one at a time as each finishes the previous one (so uneven
 * work balances), then asks each to finish and collects what they staged. On the first error the
 * rest is abandoned and everything staged is discarded.
 */
async function runOnWorkers(requests: WorkerRequest[], init: WorkerInit, onReply: (r: WorkerReply) => void): Promise<StagedObjects[]> {
  const workerUrl = new URL('./worker.js', import.meta.url);
  const workers = Array.from({ length: Math.min(threadCount(), requests.length) }, () => new Worker(workerUrl, { workerData: init }));
  const staged: StagedObjects[] = [];
  let next = 0;
  let failure: Error | null = null;
  await Promise.all(
    workers.map(
      (w) =>
        new Promise<void>((resolve) => {
          const send = () => w.postMessage(failure === null && next < requests.length ? requests[next++]! : ({ type: failure ? 'discard' : 'finish' } as WorkerRequest));
          w.on('message', (msg: WorkerReply) => {
            if (msg.type === 'error') {
              failure ??= toError(msg);
              w.postMessage({ type: 'discard' } as WorkerRequest);
            } else if (msg.type === 'finished') {
              if (msg.staged) staged.push(msg.staged);
              void w.terminate().then(() => resolve());
            } else {
              onReply(msg);
              send();
            }
          });
          w.on('error', (e) => {
            failure ??= e;
            resolve();
          });
          send();
        }),
    ),
  );
  if (failure) {
    for (const s of staged) discardStaged(s);
    throw failure;
  }
  return staged;
}

function asBuffer(u: Uint8Array): Buffer {
  return Buffer.isBuffer(u) ? u : Buffer.from(u.buffer, u.byteOffset, u.byteLength);
}

/** Scans paths (in batches, in order) on worker threads, or inline for small trees. */
export async function scanPaths(rels: readonly string[], init: WorkerInit): Promise<{ batches: ScanBatch[]; batchSize: number; staged: StagedObjects }> {
  const batches: ScanBatch[] = [];
  if (rels.length < PARALLEL_MIN_PATHS) {
    const { scanner, writer } = makeScanner(init);
    try {
      batches.push(scanner.scan(rels));
    } catch (e) {
      writer?.discard();
      throw e;
    }
    return { batches, batchSize: rels.length, staged: mergeStaged(writer ? [writer.finish()] : []) };
  }
  const requests: WorkerRequest[] = [];
  for (let i = 0; i * SCAN_BATCH < rels.length; i++) requests.push({ type: 'scan', batch: i, rels: rels.slice(i * SCAN_BATCH, (i + 1) * SCAN_BATCH) });
  const parts = await runOnWorkers(requests, init, (r) => {
    if (r.type !== 'scan') return;
    r.result.records = asBuffer(r.result.records);
    batches[r.batch] = r.result;
  });
  return { batches, batchSize: SCAN_BATCH, staged: mergeStaged(parts) };
}

export async function checkObjects(tasks: readonly ObjectTask[], init: WorkerInit, onResult: (r: ObjectCheck) => void): Promise<void> {
  const total = tasks.reduce((s, t) => s + Math.max(t.loc.size, 1 << 20), 0);
  if (total < 32 << 20) {
    const { scanner } = makeScanner(init);
    for (const t of tasks) onResult(scanner.checkObject(t));
    return;
  }
  const requests: WorkerRequest[] = [];
  let cur: ObjectTask[] = [];
  let bytes = 0;
  for (const t of tasks) {
    cur.push(t);
    bytes += Math.max(t.loc.size, 1 << 20);
    if (bytes >= OBJECT_BATCH_BYTES || cur.length >= 1024) {
      requests.push({ type: 'objects', batch: requests.length, tasks: cur });
      cur = [];
      bytes = 0;
    }
  }
  if (cur.length) requests.push({ type: 'objects', batch: requests.length, tasks: cur });
  await runOnWorkers(requests, init, (r) => {
    if (r.type === 'objects') for (const x of r.results) onResult(x);
  });
}

function mergeStaged(parts: StagedObjects[]): StagedObjects {
  const out: StagedObjects = { packs: [], loose: [], newBytes: 0, newObjects: 0 };
  for (const p of parts) {
    out.packs.push(...p.packs);
    out.loose.push(...p.loose);
    out.newBytes += p.newBytes;
    out.newObjects += p.newObjects;
  }
  return out;
}
