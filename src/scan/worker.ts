import { parentPort, workerData } from 'node:worker_threads';
import { FileHasher, type FileTask, type ObjectTask } from './hasher.js';
import { makeKnownLookup, ObjectWriter } from '../store/objects.js';
import type { StoreLayout } from '../store/layout.js';
import type { WorkerInit, WorkerReply, WorkerRequest } from './pool.js';

const init = workerData as WorkerInit;
const writer = init.stage ? new ObjectWriter(init.layout.tmp, makeKnownLookup(init.known)) : null;
const hasher = new FileHasher(writer, init.layout as StoreLayout);

function reply(msg: WorkerReply): void {
  parentPort!.postMessage(msg);
}

parentPort!.on('message', (req: WorkerRequest) => {
  try {
    switch (req.type) {
      case 'files':
        reply({ type: 'files', batch: req.batch, results: req.tasks.map((t: FileTask) => hasher.hashFile(t)) });
        break;
      case 'objects':
        reply({ type: 'objects', batch: req.batch, results: req.tasks.map((t: ObjectTask) => hasher.checkObject(t)) });
        break;
      case 'finish':
        reply({ type: 'finished', staged: writer ? writer.finish() : null });
        break;
      case 'discard':
        writer?.discard();
        reply({ type: 'finished', staged: null });
        break;
    }
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    reply({ type: 'error', message: err.message, code: err.code ?? null, path: err.path ?? null });
  }
});
