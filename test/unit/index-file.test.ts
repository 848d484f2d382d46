import { describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { decodeIndexFile, encodeIndexFile, indexKey, type IndexParts } from '../../dist/store/index-file.js';
import { HashTable } from '../../dist/store/hash-table.js';

const digest = (s: string) => createHash('sha256').update(s).digest();
const hex = (s: string) => digest(s).toString('hex');

/** An index of n objects as ObjectIndex builds it: loose ones (pack -1) and packed ones in two packs. */
function parts(n: number): IndexParts {
  const table = HashTable.create(n);
  for (let i = 0; i < n; i++) table.add(digest(`object ${i}`));
  const s = table.share();
  return {
    packs: [hex('pack a'), hex('pack b')],
    packBytes: [1000, 2 ** 40 + 3],
    count: n,
    hashes: new Uint8Array(s.hashes),
    slots: new Int32Array(s.slots),
    packOf: Int32Array.from({ length: n }, (_, i) => (i % 3) - 1),
    offsets: Float64Array.from({ length: n }, (_, i) => i * 4096),
    sizes: Float64Array.from({ length: n }, (_, i) => i + 1),
  };
}

/** The bytes in fresh memory, as ObjectIndex reads the file. */
const fresh = (b: Buffer) => Buffer.from(new Uint8Array(b));

describe('object index file', () => {
  const key = indexKey([hex('pack a'), hex('pack b')], [hex('object 0')]);

  it.each([0, 1, 7, 1000])('round-trips an index of %i objects', (n) => {
    const p = parts(n);
    const back = decodeIndexFile(fresh(encodeIndexFile(key, p)), key)!;
    expect(back).not.toBeNull();
    expect(back.packs).toEqual(p.packs);
    expect(back.packBytes).toEqual(p.packBytes);
    expect(back.count).toBe(n);
    expect(Buffer.from(back.hashes.subarray(0, n * 32)).equals(Buffer.from(p.hashes.subarray(0, n * 32)))).toBe(true);
    expect([...back.slots]).toEqual([...p.slots]);
    expect([...back.packOf]).toEqual([...p.packOf]);
    expect([...back.offsets]).toEqual([...p.offsets]);
    expect([...back.sizes]).toEqual([...p.sizes]);
    // The table answers lookups from the decoded arrays, in shared memory for the threads.
    expect(back.hashes.buffer).toBeInstanceOf(SharedArrayBuffer);
    const table = HashTable.fromShared({ hashes: back.hashes.buffer as SharedArrayBuffer, slots: back.slots.buffer as SharedArrayBuffer, count: back.count });
    for (let i = 0; i < n; i += 97) expect(table.find(digest(`object ${i}`))).toBe(i);
    expect(table.find(digest('absent'))).toBe(-1);
  });

  it('refuses another key, any damaged byte, a short or long file, and memory that is not aligned', () => {
    const good = encodeIndexFile(key, parts(50));
    expect(decodeIndexFile(fresh(good), indexKey([hex('pack a')], []))).toBeNull();
    for (const at of [0, 9, 45, 60, 200, good.length - 40, good.length - 1]) {
      const bad = fresh(good);
      bad[at]! ^= 1;
      expect(decodeIndexFile(bad, key), `byte ${at}`).toBeNull();
    }
    expect(decodeIndexFile(fresh(good.subarray(0, good.length - 8)), key)).toBeNull();
    expect(decodeIndexFile(fresh(Buffer.concat([good, Buffer.alloc(8)])), key)).toBeNull();
    expect(decodeIndexFile(Buffer.alloc(0), key)).toBeNull();
    const shifted = Buffer.from(new Uint8Array(good.length + 4).buffer, 4, good.length);
    good.copy(shifted);
    expect(decodeIndexFile(shifted, key)).toBeNull();
  });

  it('refuses a well-formed file whose table could not end a lookup or points outside the packs', () => {
    const full = parts(8);
    full.slots.fill(1); // every slot taken: a lookup of an absent digest would never end
    expect(decodeIndexFile(fresh(encodeIndexFile(key, full)), key)).toBeNull();
    const outside = parts(8);
    outside.slots[outside.slots.indexOf(0)] = 9; // an object number past the count
    expect(decodeIndexFile(fresh(encodeIndexFile(key, outside)), key)).toBeNull();
    const pack = parts(8);
    pack.packOf[3] = 2; // only packs 0 and 1 exist
    expect(decodeIndexFile(fresh(encodeIndexFile(key, pack)), key)).toBeNull();
  });

  it('keys the store by its names, in any order, and by which of them are packs', () => {
    const a = hex('a');
    const b = hex('b');
    const c = hex('c');
    expect(indexKey([a, b], [c]).equals(indexKey([b, a], [c]))).toBe(true);
    expect(indexKey([a], [b, c]).equals(indexKey([a], [c, b]))).toBe(true);
    expect(indexKey([a, b], [c]).equals(indexKey([a], [b, c]))).toBe(false);
    expect(indexKey([a, b], [c]).equals(indexKey([a, b], []))).toBe(false);
    expect(indexKey([a, b], []).equals(indexKey([a, b, c], []))).toBe(false);
  });
});
