import type { Readable } from 'node:stream';
import { createReadStream } from 'node:fs';
import { createHash } from 'node:crypto';
import { Parser, type ReadEntry } from 'tar';
import { SnapgovError } from '../errors.js';
import { ManifestError, parseManifest, sha256Hex } from '../core/manifest.js';
import { pathProblem } from '../core/paths.js';
import { validatorFor } from '../schema.js';
import { HashTable } from '../store/hash-table.js';
import { LOOSE_MIN, ObjectWriter, type ObjectIndex, type StagedObjects } from '../store/objects.js';
import type { StoreLayout } from '../store/layout.js';
import type { Metadata } from '../store/snapshots.js';
import { writeAllSync } from '../util/fsx.js';
import { MEMBER } from './format.js';

const MAX_HEADER = 64 << 10;
const MAX_METADATA = 16 << 20;
const MAX_MANIFEST = 512 << 20;
const HEX64 = /^[0-9a-f]{64}$/;
const LINK_TYPES = ['SymbolicLink', 'Link', 'CharacterDevice', 'BlockDevice', 'FIFO', 'Directory'];

export interface ImportedArchive {
  id: string;
  manifest: Buffer;
  metadata: Metadata;
  staged: StagedObjects;
  objectsInArchive: number;
}

const unsafe = (m: string) => new SnapgovError('ARCHIVE_UNSAFE', m, 'this archive was not written by `snapgov export` or was tampered with; nothing was imported');
const invalid = (m: string) => new SnapgovError('ARCHIVE_INVALID', m, 'the archive is damaged or incomplete; export the snapshot again; nothing was imported');
const notExport = (m: string) => new SnapgovError('NOT_AN_EXPORT', m, 'pass a file written by `snapgov export REF -o FILE.tar`');

function parseJson(buf: Buffer, what: string, err: (m: string) => SnapgovError): unknown {
  try {
    return JSON.parse(buf.toString('utf8'));
  } catch {
    throw err(`${what} is not JSON`);
  }
}

/**
 * Reads an export archive member by member without ever extracting it: only regular files with
 * the exact expected names, in the expected order, are accepted; every size is checked against
 * the manifest before its bytes are read, and every byte is hashed. New objects are staged in the
 * store's tmp/ folder; the caller commits them. All handlers are synchronous, so members are
 * processed strictly in archive order.
 */
/** Reads an export from a file, or from a stream (`import -` reads standard input). */
export async function readExport(source: string | Readable, layout: StoreLayout, objects: ObjectIndex): Promise<ImportedArchive> {
  const [checkHeader, checkMetadata] = await Promise.all([validatorFor('export-header'), validatorFor('metadata')]);
  const known = HashTable.fromShared(objects.shared());
  const writer = new ObjectWriter(layout.tmp, (h) => known.has(h));
  let header: { id: string } | null = null;
  let manifest: Buffer | null = null;
  let needed: Map<string, number> | null = null;
  let metadata: Metadata | null = null;
  const seen = new Set<string>();
  let failure: Error | null = null;
  const parser = new Parser({ strict: true });
  const file = typeof source === 'string' ? source : 'standard input';
  const stream: Readable = typeof source === 'string' ? createReadStream(source) : source;
  const fail = (e: unknown) => {
    failure ??= e as Error;
    stream.unpipe(parser as unknown as NodeJS.WritableStream);
    stream.destroy();
  };

  function whole(entry: ReadEntry, limit: number, then: (buf: Buffer) => void): void {
    if (entry.size > limit) throw invalid(`member ${entry.path} declares ${entry.size} bytes, more than the ${limit} allowed`);
    const parts: Buffer[] = [];
    entry.on('data', (c: Buffer) => parts.push(c));
    entry.on('end', () => guard(() => then(Buffer.concat(parts))));
  }

  function guard(fn: () => void): void {
    if (failure) return;
    try {
      fn();
    } catch (e) {
      fail(e);
    }
  }

  function onHeader(buf: Buffer): void {
    const doc = parseJson(buf, `${file}: ${MEMBER.header}`, notExport);
    const v = checkHeader(doc);
    if (!v.ok) throw notExport(`${file}: unsupported export header (${v.errors.join('; ')})`);
    header = doc as { id: string };
  }

  function onManifest(buf: Buffer): void {
    const got = `sha256:${sha256Hex(buf)}`;
    if (got !== header!.id) throw invalid(`the manifest hashes to ${got}, not to the snapshot ID ${header!.id}`);
    const map = new Map<string, number>();
    try {
      for (const e of parseManifest(buf).entries) if (e.type === 'file') map.set(e.sha256, e.size);
    } catch (e) {
      throw unsafe(`the archive's manifest is invalid: ${(e as ManifestError).message}`);
    }
    needed = map;
    manifest = buf;
  }

  function onMetadata(buf: Buffer): void {
    const doc = parseJson(buf, 'metadata.json', invalid);
    const v = checkMetadata(doc);
    if (!v.ok) throw invalid(`metadata.json is invalid: ${v.errors.join('; ')}`);
    if ((doc as Metadata).id !== header!.id) throw invalid(`metadata.json describes ${(doc as Metadata).id}, not ${header!.id}`);
    metadata = doc as Metadata;
  }

  function stageObject(entry: ReadEntry, hash: string, size: number): void {
    const h = createHash('sha256');
    const hashBytes = Buffer.from(hash, 'hex');
    const large = size >= LOOSE_MIN && !writer.isStored(hashBytes, hash) ? writer.beginLarge() : null;
    const parts: Buffer[] = [];
    entry.on('data', (c: Buffer) =>
      guard(() => {
        h.update(c);
        if (large) writeAllSync(large.fd, c);
        else if (size < LOOSE_MIN) parts.push(c);
      }),
    );
    entry.on('end', () => {
      const got = h.digest('hex');
      if (got !== hash) {
        if (large) writer.abortLarge(large);
        return fail(invalid(`object ${hash} is corrupt in the archive (its bytes hash to ${got})`));
      }
      guard(() => {
        if (large) writer.endLarge(large, hashBytes, hash, size);
        else if (size < LOOSE_MIN) writer.addSmall(hashBytes, hash, Buffer.concat(parts));
      });
    });
  }

  function onEntry(entry: ReadEntry): void {
    const name = entry.path;
    if (seen.size === 0 && (name !== MEMBER.header || entry.type !== 'File')) {
      throw notExport(`${file} is not a snapgov export (its first member is ${JSON.stringify(name)})`);
    }
    if (entry.type !== 'File' && entry.type !== 'OldFile') {
      throw LINK_TYPES.includes(entry.type) ? unsafe(`archive member ${JSON.stringify(name)} is a ${entry.type}, not a regular file`) : invalid(`archive member ${JSON.stringify(name)} has unsupported type ${entry.type}`);
    }
    const bad = pathProblem(name);
    if (bad) throw unsafe(`archive member ${JSON.stringify(name)} has an unsafe path: ${bad}`);
    if (seen.has(name)) throw invalid(`archive member ${name} appears twice`);
    const first = seen.size === 0;
    seen.add(name);
    if (first) return whole(entry, MAX_HEADER, onHeader);
    if (name === MEMBER.manifest) return whole(entry, MAX_MANIFEST, onManifest);
    if (name === MEMBER.metadata) return whole(entry, MAX_METADATA, onMetadata);
    if (name.startsWith(MEMBER.objectsDir) && HEX64.test(name.slice(MEMBER.objectsDir.length))) {
      if (!needed) throw invalid(`object ${name} comes before the manifest`);
      const hash = name.slice(MEMBER.objectsDir.length);
      const size = (needed as Map<string, number>).get(hash);
      if (size === undefined) throw invalid(`object ${hash} is not referenced by the manifest`);
      if (entry.size !== size) throw invalid(`object ${hash} declares ${entry.size} bytes, the manifest says ${size}`);
      return stageObject(entry, hash, size);
    }
    throw invalid(`unexpected archive member ${JSON.stringify(name)}`);
  }

  parser.on('entry', (entry: ReadEntry) => {
    if (failure) return void entry.resume();
    try {
      onEntry(entry);
    } catch (e) {
      entry.resume();
      fail(e);
    }
  });

  try {
    await new Promise<void>((resolve, reject) => {
      const done = () => (failure ? reject(failure) : resolve());
      // Once its header was read, the file is an export: a tar error after it is a damaged or cut archive (exit 1), not a wrong file (exit 2).
      parser.on('error', (e: Error) => reject(failure ?? (header ? invalid(`${file} is damaged or truncated (${e.message})`) : notExport(`${file} is not a valid tar archive (${e.message})`))));
      parser.on('end', done);
      stream.on('close', () => failure && done());
      stream.on('error', (e: Error) => reject(failure ?? e));
      stream.pipe(parser as unknown as NodeJS.WritableStream);
    });
    if (!header) throw notExport(`${file} is empty or not a tar archive`);
    if (!manifest || !needed) throw invalid('the archive has no manifest.json');
    if (!metadata) throw invalid('the archive has no metadata.json');
    const missing = [...(needed as Map<string, number>).keys()].filter((h) => !seen.has(`${MEMBER.objectsDir}${h}`) && !objects.has(h));
    if (missing.length) throw invalid(`${missing.length} object(s) are missing from the archive and the store, for example ${missing[0]}`);
    return { id: (header as { id: string }).id, manifest, metadata, staged: writer.finish(), objectsInArchive: seen.size - 3 };
  } catch (e) {
    writer.discard();
    throw e;
  }
}
