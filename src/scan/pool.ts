import { Worker } from 'node:worker_threads';
import { availableParallelism } from 'node:os';
import { FileHasher, type FileResult, type FileTask, type ObjectCheck, type ObjectTask } from './hasher.js';
import { discardStaged, makeKnownLookup, ObjectWriter, type StagedObjects } from '../store/objects.js';
import type { StoreLayout } from '../store/layout.js';

export interface WorkerInit {
  layout: StoreLayout;
  known: SharedArrayBuffer;
  stage: boolean;
}

export type WorkerRequest =
  | { type: 'files'; batch: number; tasks: FileTask[] }
  | { type: 'objects'; batch: number; tasks: ObjectTask[] }
  | { type: 'finish' }
  | { type: 'discard' };

export type WorkerReply =
  | { type: 'files'; batch: number; results: FileResult[] }
  | { type: 'objects'; batch: number; results: ObjectCheck[] }
  | { type: 'finished'; staged: StagedObjects | null }
  | { type: 'error'; message: string; code: string | null; path: string | null };

/** Below this much work, starting threads costs more than it saves. */
const PARALLEL_MIN_BYTES = 32 << 20;
const PARALLEL_MIN_ITEMS = 4000;
/** Work units handed to a thread at a time: enough to amortize a message, small enough to balance. */
const BATCH_BYTES = 8 << 20;
const BATCH_ITEMS = 256;

function toError(r: Extract<WorkerReply, { type: 'error' }>): Error {
  const e = new Error(r.message) as NodeJS.ErrnoException;
  if (r.code) e.code = r.code;
  if (r.path) e.path = r.path;
  return e;
}

function batches<T>(items: readonly T[], sizeOf: (t: T) => number): T[][] {
  const out: T[][] = [];
  let cur: T[] = [];
  let bytes = 0;
  for (const it of items) {
    cur.push(it);
    bytes += sizeOf(it);
    if (cur.length >= BATCH_ITEMS || bytes >= BATCH_BYTES) {
      out.push(cur);
      cur = [];
      bytes = 0;
    }
  }
  if (cur.length) out.push(cur);
  return out;
}

function threadCount(totalBytes: number, items: number): number {
  if (totalBytes < PARALLEL_MIN_BYTES && items < PARALLEL_MIN_ITEMS) return 0;
  return Math.max(1, Math.min(4, availableParallelism()));
}

/**
 * Runs file hashing (and staging of new objects) or object checks on worker threads, each doing
 * synchronous reads into its own buffer; small jobs run on the main thread with the same code.
 */
async function runParallel<T, R>(
  kind: 'files' | 'objects',
  items: readonly T[],
  sizeOf: (t: T) => number,
  init: WorkerInit,
  onResult: (r: R) => void,
): Promise<StagedObjects[]> {
  const total = items.reduce((s, t) => s + sizeOf(t), 0);
  const threads = threadCount(total, items.length);
  if (threads === 0) {
    const writer = init.stage ? new ObjectWriter(init.layout.tmp, makeKnownLookup(init.known)) : null;
    const hasher = new FileHasher(writer, init.layout);
    try {
      for (const t of items) onResult((kind === 'files' ? hasher.hashFile(t as FileTask) : hasher.checkObject(t as ObjectTask)) as R);
    } catch (e) {
      writer?.discard();
      throw e;
    }
    return writer ? [writer.finish()] : [];
  }
  const queue = batches(items, sizeOf);
  const workerUrl = new URL('./worker.js', import.meta.url);
  const workers = Array.from({ length: Math.min(threads, queue.length) }, () => new Worker(workerUrl, { workerData: init }));
  const staged: StagedObjects[] = [];
  let next = 0;
  let failure: Error | null = null;
  await Promise.all(
    workers.map(
      (w) =>
        new Promise<void>((resolve) => {
          const send = () => {
            if (failure === null && next < queue.length) {
              const batch = next++;
              w.postMessage({ type: kind, batch, tasks: queue[batch] } as WorkerRequest);
            } else {
              w.postMessage({ type: failure ? 'discard' : 'finish' } as WorkerRequest);
            }
          };
          w.on('message', (msg: WorkerReply) => {
            if (msg.type === 'error') {
              failure ??= toError(msg);
              w.postMessage({ type: 'discard' } as WorkerRequest);
              return;
            }
            if (msg.type === 'finished') {
              if (msg.staged) staged.push(msg.staged);
              void w.terminate().then(() => resolve());
              return;
            }
            for (const r of msg.results) onResult(r as R);
            send();
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

export async function hashFiles(tasks: readonly FileTask[], sizes: ReadonlyMap<string, number>, init: WorkerInit, onResult: (r: FileResult) => void): Promise<StagedObjects> {
  const parts = await runParallel<FileTask, FileResult>('files', tasks, (t) => sizes.get(t.rel) ?? 0, init, onResult);
  return mergeStaged(parts);
}

export async function checkObjects(tasks: readonly ObjectTask[], layout: StoreLayout, onResult: (r: ObjectCheck) => void): Promise<void> {
  await runParallel<ObjectTask, ObjectCheck>('objects', tasks, (t) => Math.max(t.loc.size, 0) || 1 << 20, { layout, known: new SharedArrayBuffer(0), stage: false }, onResult);
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
