import { parentPort, workerData } from 'node:worker_threads';
import { makeScanner, type WorkerInit, type WorkerReply, type WorkerRequest } from './pool.js';

const { scanner, writer } = makeScanner(workerData as WorkerInit);

function reply(msg: WorkerReply): void {
  parentPort!.postMessage(msg);
}

parentPort!.on('message', (req: WorkerRequest) => {
  try {
    switch (req.type) {
      case 'hash':
        reply({ type: 'hash', result: scanner.hashPaths(req.rels) });
        break;
      case 'objects':
        reply({ type: 'objects', results: req.tasks.map((t) => scanner.checkObject(t)) });
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
