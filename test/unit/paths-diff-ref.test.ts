import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { anySurrogate, comparePaths, pathProblem, sortPaths } from '../../src/core/paths.js';
import { diffEntries } from '../../src/core/diff.js';
import { resolveRef } from '../../src/core/ref.js';
import type { Entry } from '../../src/core/manifest.js';
import { parseDuration } from '../../src/util/duration.js';

describe('pathProblem', () => {
  it.each([
    ['a', null],
    ['a/b c/ü.txt', null],
    ['.hidden', null],
    ['a..b', null],
    ['', 'empty path'],
    ['/abs', 'absolute path'],
    ['../x', '".." path segment'],
    ['a/../../x', '".." path segment'],
    ['./x', '"." path segment'],
    ['a/', 'empty path segment (leading, trailing or double slash)'],
    ['a//b', 'empty path segment (leading, trailing or double slash)'],
    ['..', '".." path segment'],
    ['a/..', '".." path segment'],
    ['.', '"." path segment'],
    ['a/./b', '"." path segment'],
    ['a/.', '"." path segment'],
    ['..a/b.', null],
    ['a/.b/..c', null],
    ['a\\b', null],
    ['a\0b', 'path contains a NUL character'],
    ['\uD800', 'path is not valid Unicode'],
  ])('%j -> %j', (p, expected) => expect(pathProblem(p)).toBe(expected));

});

const f = (path: string, sha: string, mode: '0644' | '0755' = '0644'): Entry => ({ path, type: 'file', mode, size: 1, sha256: sha.repeat(64) });
const l = (path: string, target: string): Entry => ({ path, type: 'symlink', target });

describe('diffEntries', () => {
  it.each([
    { name: 'identical', from: [f('a', '1')], to: [f('a', '1')], added: [], removed: [], modified: [], kinds: [] },
    { name: 'added and removed', from: [f('a', '1')], to: [f('b', '1')], added: ['b'], removed: ['a'], modified: [], kinds: [] },
    { name: 'content', from: [f('a', '1')], to: [f('a', '2')], added: [], removed: [], modified: ['a'], kinds: ['content'] },
    { name: 'mode', from: [f('a', '1')], to: [f('a', '1', '0755')], added: [], removed: [], modified: ['a'], kinds: ['mode'] },
    { name: 'file to symlink', from: [f('a', '1')], to: [l('a', 'x')], added: [], removed: [], modified: ['a'], kinds: ['type'] },
    { name: 'symlink target', from: [l('a', 'x')], to: [l('a', 'y')], added: [], removed: [], modified: ['a'], kinds: ['target'] },
    { name: 'empty to tree', from: [], to: [f('a', '1'), f('b', '1')], added: ['a', 'b'], removed: [], modified: [], kinds: [] },
    { name: 'interleaved', from: [f('a', '1'), f('c', '1'), f('e', '1')], to: [f('b', '1'), f('c', '2'), f('d', '1')], added: ['b', 'd'], removed: ['a', 'e'], modified: ['c'], kinds: ['content'] },
  ])('$name', ({ from, to, added, removed, modified, kinds }) => {
    const d = diffEntries(from, to);
    expect(d.added).toEqual(added);
    expect(d.removed).toEqual(removed);
    expect(d.modified).toEqual(modified);
    expect(d.changes.map((c) => c.kind)).toEqual(kinds);
  });
});

describe('resolveRef', () => {
  const snaps = [
    { id: `sha256:aaaa1111${'0'.repeat(56)}`, time: '2026-01-01T00:00:00Z' },
    { id: `sha256:aaaa2222${'0'.repeat(56)}`, time: '2026-01-02T00:00:00Z' },
    { id: `sha256:bbbb3333${'0'.repeat(56)}`, time: '2026-01-03T00:00:00Z' },
  ];
  it.each([
    ['latest', 2],
    ['latest~0', 2],
    ['latest~2', 0],
    ['bbbb', 2],
    ['sha256:aaaa2', 1],
    ['AAAA1111', 0],
    [snaps[1]!.id, 1],
  ])('%s -> #%i', (ref, i) => expect(resolveRef(ref, snaps)).toBe(snaps[i]));

  it.each([
    ['latest~3', 'REF_UNKNOWN'],
    ['aaaa', 'REF_AMBIGUOUS'],
    ['cccc', 'REF_UNKNOWN'],
    ['abc', 'REF_UNKNOWN'],
    ['HEAD', 'REF_UNKNOWN'],
    ['tag:x', 'REF_UNKNOWN'],
  ])('%s fails with %s', (ref, code) => expect(() => resolveRef(ref, snaps)).toThrow(expect.objectContaining({ code })));

  it('says the store is empty', () => expect(() => resolveRef('latest', [])).toThrow(/no snapshots yet/));

  describe('with safety snapshots, tags and the live pointer', () => {
    const t = (d: number) => `2026-02-0${d}T00:00:00Z`;
    const h = [
      { id: `sha256:1111${'0'.repeat(60)}`, time: t(1), meta: { trigger: 'manual', tags: ['v1', 'beef'] } },
      { id: `sha256:2222${'0'.repeat(60)}`, time: t(2), meta: { trigger: 'cron', tags: ['v2'] } },
      { id: `sha256:3333${'0'.repeat(60)}`, time: t(3), meta: { trigger: 'pre-rollback', tags: [] } },
      { id: `sha256:4444${'0'.repeat(60)}`, time: t(4), meta: { trigger: 'manual', tags: ['v1'] } },
      { id: `sha256:5555${'0'.repeat(60)}`, time: t(5), meta: { trigger: 'pre-rollback', tags: [] } },
    ];
    it.each([
      ['latest', 3, null],
      ['latest~1', 1, null],
      ['latest~2', 0, null],
      ['live', 4, h[4]!.id],
      ['live', 0, h[0]!.id],
      ['v1', 3, null],
      ['tag:v2', 1, null],
      ['tag:beef', 0, null],
      ['3333', 2, null],
    ] as const)('%s -> #%i (live %s)', (ref, i, live) => expect(resolveRef(ref, h, { live })).toBe(h[i]));

    it.each([
      ['latest~3', null, /only 3 snapshot/],
      ['live', null, /no snapshot is recorded as live/],
      ['live', `sha256:${'9'.repeat(64)}`, /not in the store/],
      ['beef', null, /no snapshot matches beef/],
      ['nope', null, /no snapshot has that tag/],
    ] as const)('%s (live %s) fails', (ref, live, msg) => expect(() => resolveRef(ref, h, { live })).toThrow(msg));
  });
});

describe('parseDuration', () => {
  it.each([
    ['30s', 30_000],
    ['5m', 300_000],
    ['1h30m', 5_400_000],
    ['250ms', 250],
    ['2', 2000],
    ['1d', 86_400_000],
  ])('%s -> %i ms', (t, ms) => expect(parseDuration(t)).toBe(ms));
  it.each(['', 'x', '5 minutes', '-1s', '1h 30m'])('rejects %j', (t) => expect(() => parseDuration(t)).toThrow(expect.objectContaining({ code: 'USAGE' })));
});

describe('comparePaths', () => {
  // The reference: UTF-8 byte order, which is code point order.
  const ref = (a: string, b: string) => Math.sign(Buffer.compare(Buffer.from(a), Buffer.from(b)));
  const unit = fc.constantFrom('a', 'b', '/', '-', 'é', '\uE000', '\uFFFD', '\uFFFF', '日', '\u{1F600}', '\u{10000}', '\u{10FFFF}');
  const path = fc.array(unit, { maxLength: 6 }).map((xs) => xs.join(''));

  it.each([
    ['a', 'b', -1],
    ['a', 'a', 0],
    ['a', 'a/b', -1],
    ['a-b', 'a/b', -1],
    ['\uFFFD', '\u{1F600}', -1],
    ['x\u{1F600}', 'x\uE000', 1],
    ['\u{10000}', '\u{10FFFF}', -1],
  ])('%j vs %j', (a, b, want) => {
    expect(Math.sign(comparePaths(a, b))).toBe(want);
    expect(Math.sign(comparePaths(b, a))).toBe(-want || 0);
  });

  it('agrees with UTF-8 byte order on random paths with astral characters', () => {
    fc.assert(fc.property(path, path, (a, b) => Math.sign(comparePaths(a, b)) === ref(a, b)), { numRuns: 2000 });
  });
});

describe('sortPaths', () => {
  const ref = (a: string, b: string) => Buffer.compare(Buffer.from(a), Buffer.from(b));
  const unit = fc.constantFrom('a', 'b', '/', '-', '.', 'é', '\uE000', '\uFFFD', '\u{1F600}');
  const paths = fc.array(fc.array(unit, { minLength: 1, maxLength: 5 }).map((xs) => xs.join('')));

  it.each([
    [['b', 'a'], ['a', 'b']],
    [['a/b', 'a-b', 'a.b'], ['a-b', 'a.b', 'a/b']],
    // code point order = UTF-8 byte order, not UTF-16: U+FFFD sorts before U+1F600
    [['\u{1F600}', '\uFFFD'], ['\uFFFD', '\u{1F600}']],
    [['é', 'z', 'E'], ['E', 'z', 'é']],
  ])('%j sorts to %j', (input, expected) => {
    expect(sortPaths([...input])).toEqual(expected);
  });

  it('puts random paths, with and without astral characters, in UTF-8 byte order', () => {
    fc.assert(fc.property(paths, (ps) => JSON.stringify(sortPaths([...ps])) === JSON.stringify([...ps].sort(ref))), { numRuns: 500 });
  });

  it('finds a surrogate in any chunk of a long list', () => {
    const many = Array.from({ length: 10_000 }, (_, i) => `p${i}`);
    expect(anySurrogate(many)).toBe(false);
    many[9_999] = 'x\u{1F600}';
    expect(anySurrogate(many)).toBe(true);
  });
});
