import { describe, expect, it } from 'vitest';
import { lineHash, verifyChain } from '../../src/core/audit-chain.js';
import { checkIndex, resolvePointer } from '../../src/core/index-check.js';
import type { IndexConfig } from '../../src/config/config.js';
import type { Entry } from '../../src/core/manifest.js';
import { decodePackTrailer, encodePackIndex, packIndexValid, PACK_RECORD, PACK_TRAILER, readU64 } from '../../src/store/pack.js';

function chain(n: number): string[] {
  const lines: string[] = [];
  let prev: string | null = null;
  for (let i = 1; i <= n; i++) {
    const line = JSON.stringify({ seq: i, action: 'create', prev });
    lines.push(line);
    prev = lineHash(line);
  }
  return lines;
}

describe('verifyChain', () => {
  const good = chain(4);
  const head = { seq: 4, hash: lineHash(good[3]!) };
  const edited = [...good];
  edited[1] = edited[1]!.replace('create', 'prune');
  const cases: [string, string[], typeof head | null, boolean, RegExp | null][] = [
    ['intact', good, head, true, null],
    ['empty', [], null, true, null],
    ['edited line', edited, head, false, /previous-line hash/],
    ['deleted middle line', [good[0]!, good[2]!, good[3]!], head, false, /sequence number/],
    ['reordered', [good[0]!, good[2]!, good[1]!, good[3]!], head, false, /sequence number/],
    ['truncated tail', good.slice(0, 3), head, false, /removed from the end/],
    ['garbage line', [good[0]!, 'nonsense', good[2]!, good[3]!], head, false, /not JSON/],
    ['head mismatch', good, { seq: 4, hash: lineHash('other') }, false, /head hash/],
  ];
  it.each(cases)('%s', (_n, lines, h, ok, msg) => {
    const r = verifyChain(lines, h);
    expect(r.ok).toBe(ok);
    if (msg) expect(r.problems.map((p) => p.message).join('\n')).toMatch(msg);
  });
});

describe('resolvePointer', () => {
  const doc = { a: { 'b/c': [10, 20], 'x~y': 1 } };
  it.each([
    ['', doc],
    ['/a/b~1c/1', 20],
    ['/a/x~0y', 1],
    ['/a/missing', undefined],
    ['/a/b~1c/01', undefined],
  ])('%j', (p, v) => expect(resolvePointer(doc, p)).toEqual(v));
});

describe('checkIndex', () => {
  const cfg: IndexConfig = { path: 'artifacts/index.json', entries: '/artifacts', pathField: 'path', digestField: 'sha256', relativeTo: 'index', schema: null };
  const tree = new Map<string, Entry>([
    ['artifacts/a.yaml', { path: 'artifacts/a.yaml', type: 'file', mode: '0644', size: 1, sha256: 'a'.repeat(64) }],
    ['artifacts/link', { path: 'artifacts/link', type: 'symlink', target: 'a.yaml' }],
    ['top.txt', { path: 'top.txt', type: 'file', mode: '0644', size: 1, sha256: 'b'.repeat(64) }],
  ]);
  const run = (doc: unknown, c: IndexConfig = cfg) => checkIndex(doc, c, (p) => tree.get(p));
  it.each([
    ['consistent', { artifacts: [{ path: 'a.yaml', sha256: 'a'.repeat(64) }] }, []],
    ['sha256: prefix accepted', { artifacts: [{ path: 'a.yaml', sha256: `sha256:${'A'.repeat(64)}` }] }, []],
    ['no digest is fine', { artifacts: [{ path: 'a.yaml' }] }, []],
    ['missing artifact', { artifacts: [{ path: 'gone.yaml' }] }, ['ARTIFACT_MISSING']],
    ['digest mismatch', { artifacts: [{ path: 'a.yaml', sha256: 'c'.repeat(64) }] }, ['ARTIFACT_DIGEST_MISMATCH']],
    ['malformed digest', { artifacts: [{ path: 'a.yaml', sha256: 'nope' }] }, ['INDEX_ENTRY_INVALID']],
    ['escaping path', { artifacts: [{ path: '../../etc/passwd' }] }, ['INDEX_PATH_UNSAFE']],
    ['absolute path', { artifacts: [{ path: '/etc/passwd' }] }, ['INDEX_PATH_UNSAFE']],
    ['entry without path', { artifacts: [{ name: 'x' }, 'str'] }, ['INDEX_ENTRY_INVALID', 'INDEX_ENTRY_INVALID']],
    ['symlink artifact', { artifacts: [{ path: 'link' }] }, ['ARTIFACT_NOT_FILE']],
    ['no entry array', { items: [] }, ['INDEX_NO_ENTRIES']],
    ['parent of index dir is allowed', { artifacts: [{ path: '../top.txt' }] }, []],
  ])('%s', (_n, doc, codes) => expect(run(doc).problems.map((p) => p.code)).toEqual(codes));

  it('resolves paths from the workspace root when configured', () => {
    expect(run([{ path: 'top.txt' }], { ...cfg, entries: '', relativeTo: 'workspace' }).problems).toEqual([]);
  });
  it('counts artifacts', () => expect(run({ artifacts: [{ path: 'a.yaml' }, { path: 'a.yaml' }] }).artifacts).toBe(2));
});

describe('pack index', () => {
  const entries = [
    { hash: '1'.repeat(64), offset: 0, length: 10 },
    { hash: '2'.repeat(64), offset: 10, length: 0 },
    { hash: '3'.repeat(64), offset: 10, length: 5 },
  ];
  it('round-trips', () => {
    const idx = encodePackIndex(entries);
    const size = 15 + idx.length;
    const count = decodePackTrailer(idx.subarray(idx.length - PACK_TRAILER), size);
    expect(count).toBe(3);
    expect(packIndexValid(idx, 3, 15)).toBe(true);
    const decoded = [0, 1, 2].map((i) => ({ hash: idx.toString('hex', i * PACK_RECORD, i * PACK_RECORD + 32), offset: readU64(idx, i * PACK_RECORD + 32), length: readU64(idx, i * PACK_RECORD + 40) }));
    expect(decoded).toEqual(entries);
  });
  it('rejects an index pointing past the data or overlapping', () => {
    const idx = encodePackIndex(entries);
    expect(packIndexValid(idx, 3, 14)).toBe(false);
    const overlap = encodePackIndex([entries[0]!, { hash: '4'.repeat(64), offset: 5, length: 1 }]);
    expect(packIndexValid(overlap, 2, 100)).toBe(false);
  });
  it.each([
    ['zero', '0000000000000000', 0],
    ['high bits of each 32-bit half', '0000008080808080', 0x80_8080_8080],
    ['a byte of 0xff in every place', '00000000ffffffff', 0xffff_ffff],
    ['2^32', '0000000100000000', 2 ** 32],
    ['the largest exact number', '001fffffffffffff', Number.MAX_SAFE_INTEGER],
  ])('reads a u64 field: %s', (_name, hex, want) => {
    // At an odd offset of a larger buffer, as inside a pack index.
    const buf = Buffer.concat([Buffer.from('aa', 'hex'), Buffer.from(hex, 'hex'), Buffer.from('bb', 'hex')]);
    expect(readU64(buf, 1)).toBe(want);
    expect(readU64(buf, 1)).toBe(Number(buf.readBigUInt64BE(1)));
  });
  it('refuses to read a u64 past the end of the buffer', () => {
    expect(() => readU64(Buffer.alloc(8), 1)).toThrow(RangeError);
    expect(() => readU64(Buffer.alloc(8), -1)).toThrow(RangeError);
  });
  it('rejects a bad trailer', () => {
    expect(decodePackTrailer(Buffer.alloc(PACK_TRAILER), 100)).toBeNull();
    const idx = encodePackIndex(entries);
    expect(decodePackTrailer(idx.subarray(idx.length - PACK_TRAILER), 20)).toBeNull();
  });
});
