import { parentPort, workerData } from 'node:worker_threads';
import { asBuffer, makeScanner, type WorkerInit, type WorkerReply, type WorkerRequest } from './pool.js';
import { statPaths } from '../files/stat-pass.js';
import { StatCache } from '../store/stat-cache.js';
import { ObjectChecker } from '../store/object-check.js';
import { TreeWriter } from '../files/tree-writer.js';
import { ObjectReadError } from '../store/objects.js';

const init = workerData as WorkerInit;
const { scanner, writer, known } = makeScanner(init);
let checker: ObjectChecker | null = null;
let treeWriter: TreeWriter | null = null;

function reply(msg: WorkerReply): void {
  parentPort!.postMessage(msg);
}

parentPort!.on('message', (req: WorkerRequest) => {
  try {
    switch (req.type) {
      case 'hash':
        reply({ type: 'hash', result: scanner.hashPaths(req.rels) });
        break;
      case 'stat':
        reply({ type: 'stat', pass: statPaths(init.root, req.rels, new StatCache(asBuffer(req.cache)), known) });
        break;
      case 'objects':
        checker ??= new ObjectChecker(init.layout);
        reply({ type: 'objects', failures: req.tasks.flatMap((t) => checker!.check(t)) });
        break;
      case 'stage':
        treeWriter ??= new TreeWriter(init.root, init.layout);
        reply({ type: 'staged', staged: treeWriter.stage(req.items) });
        break;
      case 'rename':
        treeWriter ??= new TreeWriter(init.root, init.layout);
        reply({ type: 'renamed', records: treeWriter.rename(req.pairs, new Set(req.replaceDirs)) });
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
    reply({ type: 'error', message: err.message, code: err.code ?? null, path: err.path ?? null, objectHash: e instanceof ObjectReadError ? e.hash : null });
  }
});
