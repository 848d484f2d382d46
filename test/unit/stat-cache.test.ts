import { describe, expect, it } from 'vitest';
import { mergeSorted, sortRecords, STAT_RECORD, writeRecord } from '../../src/store/stat-cache.js';

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

describe('mergeSorted', () => {
  it.each([
    ['interleaved', [[1, 1], [4, 1]], [[2, 2], [3, 2], [9, 2]], [[1, 1], [2, 2], [3, 2], [4, 1], [9, 2]]],
    ['a shared inode keeps the first buffer\'s record', [[2, 1], [5, 1]], [[2, 2], [5, 2], [6, 2]], [[2, 1], [5, 1], [6, 2]]],
    ['one side empty', [], [[3, 2]], [[3, 2]]],
    ['both empty', [], [], []],
  ] as [string, [number, number][], [number, number][], [number, number][]][])('%s', (_name, a, b, want) => {
    expect(read(mergeSorted(records(a), records(b)))).toEqual(want);
  });
});
