// Starts the bundled CLI (CommonJS chunks in dist/bundle/) with V8 code caches made by the build.
// A command is a short, fresh process that runs most of its code once: without a cache, V8 parses
// each chunk and compiles every function on its first call, some 30 ms of a rollback (see
// docs/performance.md). Node 20 can cache compiled code only for scripts, not ES modules, hence
// CommonJS chunks run here as scripts.
//
// A cache is used only when the SHA-256 of the source it was made from matches the chunk (V8 itself
// checks no more than the source's length) and V8 accepts it (same V8 version and flags); otherwise
// the chunk compiles as usual. Caches sit beside the chunks and are written only by the build's
// training runs (scripts/code-cache.mjs), never by a user's command.
import { createHash } from 'node:crypto';
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { createRequire, isBuiltin } from 'node:module';
import { dirname, join, relative } from 'node:path';
import { Script } from 'node:vm';

/** What became of a chunk's cache: used, refused by V8, made from another source, or absent. */
export type CacheUse = 'used' | 'rejected' | 'stale' | 'none';

type Wrapped = (exports: unknown, require: NodeJS.Require, module: { exports: unknown }, filename: string, dirname: string) => void;

const DIGEST_BYTES = 32;
export const CACHE_SUFFIX = '.v8cache';

function sha256(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}

function readCache(file: string, digest: Buffer): Buffer | 'stale' | undefined {
  let bytes: Buffer;
  try {
    bytes = readFileSync(file + CACHE_SUFFIX);
  } catch {
    return undefined;
  }
  return bytes.length > DIGEST_BYTES && digest.equals(bytes.subarray(0, DIGEST_BYTES)) ? bytes.subarray(DIGEST_BYTES) : 'stale';
}

/** Loads the chunks in one folder as Node loads CommonJS modules, each with its code cache when it has a good one. */
export class ChunkLoader {
  /** Per chunk loaded (its path relative to the folder), what became of its cache. */
  readonly uses = new Map<string, CacheUse>();
  private readonly modules = new Map<string, { exports: unknown }>();
  private readonly scripts: { file: string; digest: Buffer; script: Script }[] = [];

  /** `trace` is told of every chunk loaded and every package a chunk requires. */
  constructor(
    private readonly dir: string,
    private readonly trace?: (line: string) => void,
  ) {}

  /** The exports of `file` (relative to the folder), which is run on its first load. */
  load(file: string): unknown {
    const path = join(this.dir, file);
    const known = this.modules.get(path);
    if (known) return known.exports; // a cycle or a second require: the (partial) exports, as Node does
    const source = readFileSync(path, 'utf8');
    const digest = sha256(source);
    const cache = readCache(path, digest);
    const cachedData = cache instanceof Buffer ? cache : undefined;
    // The same wrapper as Node's, on the first line, so line numbers in stack traces stay true.
    const script = new Script(`(function (exports, require, module, __filename, __dirname) {${source}\n})`, { filename: path, cachedData });
    const use: CacheUse = cachedData ? (script.cachedDataRejected ? 'rejected' : 'used') : cache === 'stale' ? 'stale' : 'none';
    this.uses.set(file, use);
    this.trace?.(`load ${file} (code cache: ${use})`);
    this.scripts.push({ file: path, digest, script });
    const module = { exports: {} as unknown };
    this.modules.set(path, module);
    const outside = createRequire(path);
    const require = ((id: string) => {
      if (id.startsWith('./')) return this.load(relative(this.dir, join(dirname(path), id)));
      if (!isBuiltin(id)) this.trace?.(`require ${id}`);
      return outside(id);
    }) as NodeJS.Require;
    require.resolve = outside.resolve;
    (script.runInThisContext() as Wrapped)(module.exports, require, module, path, dirname(path));
    return module.exports;
  }

  /** Writes the code cache of every chunk loaded, with what V8 has compiled of it by now. */
  writeCaches(): void {
    for (const { file, digest, script } of this.scripts) {
      const tmp = `${file}${CACHE_SUFFIX}.${process.pid}.tmp`;
      writeFileSync(tmp, Buffer.concat([digest, script.createCachedData()]));
      renameSync(tmp, file + CACHE_SUFFIX);
    }
  }
}

/** The CLI: bin/snapgov calls this. SNAPGOV_TRACE_LOAD=1 lists on stderr what is loaded and whether its cache was used. */
export function main(): void {
  const trace = process.env.SNAPGOV_TRACE_LOAD === '1' ? (line: string) => process.stderr.write(`snapgov: ${line}\n`) : undefined;
  const loader = new ChunkLoader(join(__dirname, 'bundle'), trace);
  // The build's training runs (scripts/code-cache.mjs); at exit, V8 has compiled what the command used.
  if (process.env.SNAPGOV_WRITE_CODE_CACHE === '1') process.on('exit', () => loader.writeCaches());
  loader.load('cli.js');
}
