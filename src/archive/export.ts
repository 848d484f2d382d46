import { closeSync, constants, fsyncSync, openSync, renameSync, rmSync } from 'node:fs';
import { basename, dirname } from 'node:path';
import { Header } from 'tar';
import { SnapgovError } from '../errors.js';
import type { FileEntry } from '../core/manifest.js';
import type { StoreLayout } from '../store/layout.js';
import { ObjectReadError, ObjectReader, type ObjectIndex } from '../store/objects.js';
import { loadManifest, readManifestBytes, type Metadata } from '../store/snapshots.js';
import { tempName, writeAllSync } from '../util/fsx.js';
import { EXPORT_FORMAT, MEMBER } from './format.js';

const BLOCK = 512;
const ZERO = Buffer.alloc(BLOCK * 2);

class TarWriter {
  private pos = 0;
  constructor(private readonly fd: number) {}

  private write(b: Buffer): void {
    writeAllSync(this.fd, b);
    this.pos += b.length;
  }

  member(path: string, size: number, mtime: Date, body: (write: (chunk: Buffer) => void) => void): void {
    const h = new Header({ path, mode: 0o444, uid: 0, gid: 0, size, mtime, type: 'File', uname: '', gname: '' });
    const block = Buffer.alloc(BLOCK);
    h.encode(block, 0);
    this.write(block);
    let written = 0;
    body((chunk) => {
      written += chunk.length;
      this.write(chunk);
    });
    if (written !== size) throw new Error(`tar member ${path}: wrote ${written} of ${size} bytes`);
    const pad = (BLOCK - (size % BLOCK)) % BLOCK;
    if (pad) this.write(ZERO.subarray(0, pad));
  }

  end(): void {
    this.write(ZERO);
  }
}

/**
 * Ends a stream that failed part-way with a block that is no tar header (its checksum is wrong),
 * so tar reports the archive as damaged instead of taking a cut at a member boundary for its end;
 * snapgov import refuses it too (it also counts the members against the header).
 */
function abortStream(fd: number): void {
  const block = Buffer.alloc(512, 0x20);
  block.write('snapgov export aborted: this archive is incomplete\n');
  try {
    writeAllSync(fd, block);
  } catch {
    // the reader has gone: nothing more to tell it
  }
}

export interface ExportStats {
  objects: number;
  bytes: number;
}

/**
 * Writes one snapshot as a plain ustar archive: the header, the manifest's exact bytes, the
 * metadata, then each object once, re-hashed as it is read so a damaged store is never exported.
 * Written to a temporary name and renamed, so FILE is never half-written.
 */
export function writeExport(layout: StoreLayout, objects: ObjectIndex, meta: Metadata, out: string): ExportStats {
  const manifestBytes = readManifestBytes(layout, meta.id);
  const entries = loadManifest(layout, meta.id).entries;
  const unique = new Map<string, FileEntry>();
  for (const e of entries) if (e.type === 'file' && !unique.has(e.sha256)) unique.set(e.sha256, e);
  const hashes = [...unique.keys()].sort();
  const bytes = hashes.reduce((s, h) => s + unique.get(h)!.size, 0);
  const header = Buffer.from(JSON.stringify({ format: EXPORT_FORMAT, id: meta.id, objects: hashes.length, bytes, toolVersion: meta.toolVersion }, null, 2) + '\n');
  const metaBytes = Buffer.from(JSON.stringify(meta, null, 2) + '\n');
  const mtime = new Date(meta.time);

  const toStdout = out === '-';
  const tmp = toStdout ? null : tempName(dirname(out), basename(out));
  const fd = toStdout ? 1 : openSync(tmp!, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600);
  const reader = new ObjectReader(layout);
  try {
    const tar = new TarWriter(fd);
    tar.member(MEMBER.header, header.length, mtime, (w) => w(header));
    tar.member(MEMBER.manifest, manifestBytes.length, mtime, (w) => w(manifestBytes));
    tar.member(MEMBER.metadata, metaBytes.length, mtime, (w) => w(metaBytes));
    for (const hash of hashes) {
      const loc = objects.get(hash);
      if (!loc) throw new SnapgovError('STORE_CORRUPT', `cannot export ${meta.id}: object ${hash} (${unique.get(hash)!.path}) is missing`, 'run `snapgov verify --read-data` on this snapshot');
      // To stdout nothing can be taken back: a large (loose) object is read and checked once before
      // its first byte goes out (packed ones are checked in memory anyway), so no damaged byte is
      // sent; a failure then ends the stream without tar's end marker, which import and tar report.
      if (toStdout && loc.pack === null) reader.read(hash, loc, () => undefined);
      tar.member(`${MEMBER.objectsDir}${hash}`, unique.get(hash)!.size, mtime, (w) => reader.read(hash, loc, w));
    }
    tar.end();
    if (!toStdout) fsyncSync(fd);
    reader.close();
  } catch (e) {
    reader.close();
    if (!toStdout) {
      closeSync(fd);
      rmSync(tmp!, { force: true });
    } else abortStream(fd);
    if (e instanceof ObjectReadError) throw new SnapgovError('STORE_CORRUPT', `cannot export ${meta.id}: ${e.message}`, 'run `snapgov verify --read-data` to find every damaged object');
    throw e;
  }
  if (!toStdout) {
    closeSync(fd);
    renameSync(tmp!, out);
  }
  return { objects: hashes.length, bytes };
}
