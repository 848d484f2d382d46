import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { mergeSorted, sortRecords, STAT_RECORD, StatCache, writeRecord } from '../../src/store/stat-cache.js';

/** One record per [inode, tag]: the tag (the hash's first byte) tells which input a record came from. */
function records(list: [number, number][]): Buffer {
  const b = Buffer.alloc(list.length * STAT_RECORD);
  list.forEach(([ino, tag], k) => writeRecord(b, k * STAT_RECORD, { ino, size: 1, mtimeMs: 0, ctimeMs: 0, mode: 0o100644 }, Buffer.alloc(32, tag)));
  return b;
}
function read(b: Buffer): [number, number][] {
  const out: [number, number][] = [];
  for (let at = 0; at < b.length; at += STAT_RECORD) out.push([b.readDoubleLE(at), b[at + 40]!]);
  return out;
}

describe('sortRecords', () => {
  it.each([
    ['sorted by inode across buffers', [[[5, 1], [2, 1]], [[9, 2], [1, 2]]], [[1, 2], [2, 1], [5, 1], [9, 2]]],
    ['one record per inode, the first given wins', [[[7, 1], [3, 1]], [[7, 2], [3, 2]]], [[3, 1], [7, 1]]],
    ['inodes of 2^32 and more (64-bit file systems)', [[[2 ** 40, 1], [2 ** 32, 1], [5, 1]], [[2 ** 40, 2]]], [[5, 1], [2 ** 32, 1], [2 ** 40, 1]]],
    ['nothing', [[]], []],
  ] as [string, [number, number][][], [number, number][]][])('%s', (_name, parts, want) => {
    expect(read(sortRecords(parts.map(records)))).toEqual(want);
  });

  it('drops what keep refuses', () => {
    expect(read(sortRecords([records([[3, 1], [1, 2], [2, 3]])], (b, at) => b[at + 40] !== 2))).toEqual([[2, 3], [3, 1]]);
  });

  it('sorts a large shuffled set like a plain comparison sort', () => {
    const list: [number, number][] = Array.from({ length: 50_000 }, (_, k) => [(k * 7919) % 50_021, k % 200]);
    const want = [...list].map((x, k) => [x, k] as const).sort((a, b) => a[0][0] - b[0][0] || a[1] - b[1]).map(([x]) => x);
    const dedup = want.filter((x, k) => k === 0 || x[0] !== want[k - 1]![0]);
    expect(read(sortRecords([records(list)]))).toEqual(dedup);
  });
});

describe('StatCache.keep', () => {
  const at = (ino: number, mtimeMs: number, ctimeMs: number) => ({ ino, size: 1, mtimeMs, ctimeMs, mode: 0o100644 });
  function cache(list: [number, number, number][]): StatCache {
    const b = Buffer.from(new SharedArrayBuffer(list.length * STAT_RECORD));
    list.forEach(([ino, m, c], k) => writeRecord(b, k * STAT_RECORD, at(ino, m, c), Buffer.alloc(32, ino)));
    return new StatCache(b);
  }
  it.each([
    ['all used and settled: everything, in order', [[1, 0, 0], [2, 0, 0], [3, 0, 0]], [1, 1, 1], [1, 2, 3]],
    ['unused records go', [[1, 0, 0], [2, 0, 0], [3, 0, 0], [4, 0, 0]], [1, 0, 1, 1], [1, 3, 4]],
    ['a recent mtime or ctime goes', [[1, 0, 0], [2, 100, 0], [3, 0, 100], [4, 0, 0]], [1, 1, 1, 1], [1, 4]],
    ['the limit itself is too recent', [[1, 99, 0], [2, 50, 50]], [1, 1], [2]],
    ['none used', [[1, 0, 0]], [0], []],
    ['empty cache', [], [], []],
  ] as [string, [number, number, number][], number[], number[]][])('%s', (_name, list, used, want) => {
    expect(read(cache(list).keep(Uint8Array.from(used), 99)).map(([ino]) => ino)).toEqual(want);
  });
});

describe('mergeSorted', () => {
  it.each([
    ['interleaved', [[1, 1], [4, 1]], [[2, 2], [3, 2], [9, 2]], [[1, 1], [2, 2], [3, 2], [4, 1], [9, 2]]],
    ['a shared inode keeps the first buffer\'s record', [[2, 1], [5, 1]], [[2, 2], [5, 2], [6, 2]], [[2, 1], [5, 1], [6, 2]]],
    ['one side empty', [], [[3, 2]], [[3, 2]]],
    ['both empty', [], [], []],
  ] as [string, [number, number][], [number, number][], [number, number][]][])('%s', (_name, a, b, want) => {
    expect(read(mergeSorted(records(a), records(b)))).toEqual(want);
  });

  it('agrees with a record-by-record merge on random inputs', () => {
    const sortedUnique = fc.uniqueArray(fc.integer({ min: 1, max: 60 }), { maxLength: 25 }).map((xs) => xs.sort((x, y) => x - y));
    fc.assert(
      fc.property(sortedUnique, sortedUnique, (xs, ys) => {
        const want = [...new Set([...xs, ...ys])].sort((x, y) => x - y).map((ino) => [ino, xs.includes(ino) ? 1 : 2]);
        expect(read(mergeSorted(records(xs.map((i) => [i, 1])), records(ys.map((i) => [i, 2]))))).toEqual(want);
      }),
      { numRuns: 500 },
    );
  });
});
