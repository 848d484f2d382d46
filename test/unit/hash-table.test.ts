import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { HashTable } from '../../src/store/hash-table.js';

/** 32-byte digests, some equal, many sharing their first four bytes (the same slot) or all but their last byte. */
const digest = fc.oneof(
  fc.uint8Array({ minLength: 32, maxLength: 32 }),
  fc.tuple(fc.constantFrom(0, 7, 255), fc.uint8Array({ minLength: 28, maxLength: 28 })).map(([a, rest]) => Uint8Array.from([a, a, a, a, ...rest])),
  fc.integer({ min: 0, max: 3 }).map((last) => Uint8Array.from({ length: 32 }, (_, k) => (k === 31 ? last : 9))),
);

describe('HashTable', () => {
  it('finds exactly the digests added, at any offset of the buffer they come from, each once', () => {
    fc.assert(
      fc.property(fc.array(digest, { maxLength: 60 }), fc.array(digest, { maxLength: 20 }), fc.integer({ min: 0, max: 7 }), (added, probes, pad) => {
        // The digests sit at an odd offset of one buffer, as in a pack index or a stat cache record.
        const buf = Buffer.concat([Buffer.alloc(pad, 0xee), ...added.map((d) => Buffer.from(d))]);
        const table = HashTable.create(added.length);
        const model = new Map<string, number>();
        added.forEach((_, k) => {
          const hex = buf.toString('hex', pad + k * 32, pad + k * 32 + 32);
          const i = table.add(buf, pad + k * 32);
          if (!model.has(hex)) model.set(hex, model.size);
          expect(i).toBe(model.get(hex));
        });
        expect(table.count).toBe(model.size);
        for (const [hex, i] of model) {
          expect(table.hexAt(i)).toBe(hex);
          expect(table.find(Buffer.from(hex, 'hex'))).toBe(i);
        }
        for (const p of probes) expect(table.find(Buffer.from(p))).toBe(model.get(Buffer.from(p).toString('hex')) ?? -1);
        // Shared with a thread: the same answers from the shared memory.
        const shared = HashTable.fromShared(table.share());
        for (const [hex, i] of model) expect(shared.find(Buffer.from(hex, 'hex'))).toBe(i);
        for (const p of probes) expect(shared.has(Buffer.from(p))).toBe(model.has(Buffer.from(p).toString('hex')));
      }),
    );
  });

  it.each([
    ['differs only in the last byte', 31],
    ['differs only in the first byte after the slot bytes', 4],
    ['differs only in the first byte', 0],
  ])('tells apart two digests that %s', (_name, at) => {
    const a = Buffer.alloc(32, 5);
    const b = Buffer.from(a);
    b[at] = 6;
    const table = HashTable.create(1);
    table.add(a);
    expect(table.find(a)).toBe(0);
    expect(table.find(b)).toBe(-1);
  });
});
