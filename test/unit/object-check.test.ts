// The check of a blob a pull downloaded (ObjectChecker's 'staged' task): one read that hashes the
// whole file against its digest and each packed object against its record.
import { describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { storeLayout } from '../../src/store/layout.js';
import { ObjectChecker } from '../../src/store/object-check.js';
import { encodePackIndex, type PackEntry } from '../../src/store/pack.js';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** A pack of `objects` back to back (with `gap` bytes between them), its index and trailer. */
function pack(objects: Buffer[], gap = 0): { bytes: Buffer; entries: PackEntry[] } {
  const parts: Buffer[] = [];
  const entries: PackEntry[] = [];
  let at = 0;
  for (const o of objects) {
    entries.push({ hash: sha(o), offset: at, length: o.length });
    parts.push(o, Buffer.alloc(gap, 0xaa));
    at += o.length + gap;
  }
  return { bytes: Buffer.concat([...parts, encodePackIndex(entries)]), entries };
}

// Objects larger than the checker's 1 MiB first buffer and its 4 MiB window, so that objects straddle reads.
const objects = [Buffer.alloc(100, 1), Buffer.alloc(3 << 20, 2), Buffer.alloc(10, 3), Buffer.alloc(2 << 20, 4), Buffer.alloc(0), Buffer.alloc(700 << 10, 5)];
const good = pack(objects);
const gapped = pack(objects, 1 << 20);
const large = Buffer.alloc(9 << 20, 7);

const cases: [string, Buffer, string, number, PackEntry[] | null, string | null][] = [
  ['a whole pack', good.bytes, sha(good.bytes), good.bytes.length, good.entries, null],
  ['a pack with gaps between its objects', gapped.bytes, sha(gapped.bytes), gapped.bytes.length, gapped.entries, null],
  ['a large object', large, sha(large), large.length, null, null],
  ['an empty object', Buffer.alloc(0), sha(Buffer.alloc(0)), 0, null, null],
  ['a large object that hashes to something else', large, sha(Buffer.alloc(9 << 20, 8)), large.length, null, 'OBJECT_CORRUPT'],
  ['a large object cut short', large.subarray(0, 5 << 20), sha(large), large.length, null, 'OBJECT_SIZE_MISMATCH'],
  ['a large object with bytes past its size', Buffer.concat([large, Buffer.alloc(1)]), sha(large), large.length, null, 'OBJECT_CORRUPT'],
  ['a pack with one object changed (its digest made to match)', (() => {
    const b = Buffer.from(good.bytes);
    b[(3 << 20) + 100 - 1] = 9;
    return b;
  })(), '', 0, good.entries, 'OBJECT_CORRUPT'],
  ['a pack whose own index is not the one read before', Buffer.concat([...objects, encodePackIndex(good.entries.slice(0, 5))]), '', 0, good.entries, 'OBJECT_CORRUPT'],
  ['a pack cut inside an object', good.bytes.subarray(0, 1 << 20), sha(good.bytes), good.bytes.length, good.entries, 'OBJECT_SIZE_MISMATCH'],
];

describe('ObjectChecker: a downloaded blob', () => {
  const dir = mkdtempSync(join(tmpdir(), 'snapgov-check-'));
  const checker = new ObjectChecker(storeLayout({ dirs: { snapshots: join(dir, 's'), metadata: join(dir, 'm'), rehearsal: join(dir, 'r') } }));
  it.each(cases)('%s', (_, bytes, digest, size, entries, failure) => {
    const file = join(dir, 'blob');
    writeFileSync(file, bytes);
    // An empty digest: the file's own hash and length, so that only the objects can fail.
    const got = checker.check({ kind: 'staged', file, digest: digest || sha(bytes), size: digest ? size : bytes.length, entries });
    expect(got.map((f) => f.code)).toEqual(failure ? [failure] : []);
  });
});
