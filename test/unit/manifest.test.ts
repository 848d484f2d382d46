import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { createHash } from 'node:crypto';
import { ManifestMemo, modeFromStat, parseManifest, serializeManifest, snapshotIdOf, type Entry } from '../../src/core/manifest.js';
import { comparePaths } from '../../src/core/paths.js';

const H = (c: string) => c.repeat(64);
const file = (path: string, extra: Partial<Entry> = {}): Entry => ({ path, type: 'file', mode: '0644', size: 1, sha256: H('a'), ...extra }) as Entry;
/** Manifest order (the scanner gets it from the walk, see walk.test.ts). */
const sortEntries = (es: Entry[]) => es.sort((a, b) => comparePaths(a.path, b.path));

describe('serializeManifest', () => {
  it('is one entry per line, fixed key order, trailing newline', () => {
    const bytes = serializeManifest([file('a'), { path: 'l', type: 'symlink', target: 'a' }]);
    expect(bytes.toString()).toBe(
      `{"format":"snapgov-manifest/1","entries":[\n{"path":"a","type":"file","mode":"0644","size":1,"sha256":"${H('a')}"},\n{"path":"l","type":"symlink","target":"a"}\n]}\n`,
    );
  });

  it('gives an empty tree a stable ID', () => {
    const bytes = serializeManifest([]);
    expect(bytes.toString()).toBe('{"format":"snapgov-manifest/1","entries":[\n]}\n');
    expect(snapshotIdOf(bytes)).toBe(`sha256:${createHash('sha256').update(bytes).digest('hex')}`);
  });

  it('escapes awkward names as JSON', () => {
    const bytes = serializeManifest([file('quote"and\\back\nline')]);
    expect(parseManifest(bytes).entries[0]!.path).toBe('quote"and\\back\nline');
  });

  // The manifest is written a few thousand lines at a time into a buffer sized from the paths:
  // held here to its plain definition (each entry's JSON, keys in order, joined by ",\n").
  const plain = (es: Entry[]) =>
    Buffer.from(`{"format":"snapgov-manifest/1","entries":[\n${es.map((e) => JSON.stringify(e.type === 'file' ? { path: e.path, type: e.type, mode: e.mode, size: e.size, sha256: e.sha256 } : { path: e.path, type: e.type, target: e.target })).join(',\n')}${es.length ? '\n' : ''}]}\n`);
  const many = (n: number, name: (i: number) => string) => sortEntries(Array.from({ length: n }, (_, i) => file(name(i), { size: i * 7919 })));
  it.each([
    ['one entry', many(1, (i) => `f${i}`)],
    ['4,095 entries (one short of a chunk)', many(4095, (i) => `d/f${i}`)],
    ['4,096 entries (exactly a chunk)', many(4096, (i) => `d/f${i}`)],
    ['4,097 entries (one past a chunk)', many(4097, (i) => `d/f${i}`)],
    ['10,000 entries with the largest sizes', sortEntries(Array.from({ length: 10_000 }, (_, i) => file(`f${i}`, { size: Number.MAX_SAFE_INTEGER - i })))],
    // Bigger than the paths' length says: multi-byte UTF-8 and escapes grow the buffer.
    ['5,000 names of CJK characters', many(5000, (i) => `${'\u6587\u4ef6'.repeat(20)}${i}\u{1f4c1}`)],
    ['5,000 names needing escapes', many(5000, (i) => `${'"\\\u0001'.repeat(10)}${i}`)],
    ['symlinks with long targets', sortEntries(Array.from({ length: 5000 }, (_, i): Entry => ({ path: `l${i}`, type: 'symlink', target: `${'\u00e9'.repeat(50)}${i}` })))],
  ] as [string, Entry[]][])('writes %s exactly as each entry\'s JSON joined', (_what, es) => {
    expect(serializeManifest(es).equals(plain(es))).toBe(true);
  });
});

describe('parseManifest', () => {
  const good = serializeManifest([file('a'), file('b/c', { mode: '0755' })]);

  it('round-trips canonical bytes', () => {
    expect(serializeManifest(parseManifest(good).entries).equals(good)).toBe(true);
  });

  const bad: [string, string, RegExp][] = [
    ['not JSON', 'nope', /not JSON/],
    ['wrong format', '{"format":"x","entries":[]}', /not a snapgov-manifest/],
    ['parent traversal', serializeManifest([file('../etc/passwd')]).toString(), /unsafe path.*".." path segment/],
    ['absolute path', serializeManifest([file('/etc/passwd')]).toString(), /absolute path/],
    ['dot segment', serializeManifest([file('a/./b')]).toString(), /"\." path segment/],
    ['NUL in path', serializeManifest([file('a\u0000b')]).toString(), /NUL/],
    ['empty segment', serializeManifest([file('a//b')]).toString(), /empty path segment/],
    ['duplicate', serializeManifest([file('a'), file('a')]).toString(), /duplicate path/],
    ['unsorted', serializeManifest([file('b'), file('a')]).toString(), /not sorted/],
    ['below a file', serializeManifest([file('a'), file('a/b')]).toString(), /lies below/],
    ['bad digest', serializeManifest([file('a', { sha256: 'xyz' } as Partial<Entry>)]).toString(), /bad sha256/],
    ['negative size', serializeManifest([file('a', { size: -1 } as Partial<Entry>)]).toString(), /bad size/],
    ['huge size', serializeManifest([file('a', { size: 2 ** 60 } as Partial<Entry>)]).toString(), /bad size/],
    ['bad mode', serializeManifest([file('a', { mode: '0777' } as unknown as Partial<Entry>)]).toString(), /bad mode/],
    ['unknown type', '{"format":"snapgov-manifest/1","entries":[\n{"path":"a","type":"fifo"}\n]}\n', /unknown type/],
    ['extra whitespace', good.toString().replace('"entries":[', '"entries": ['), /not canonical/],
    ['missing trailing newline', good.toString().trimEnd(), /not canonical/],
    ['extra key', good.toString().replace('"type":"file"', '"type":"file","x":1'), /not canonical/],
  ];
  it.each(bad)('rejects %s', (_name, text, message) => {
    expect(() => parseManifest(Buffer.from(text))).toThrow(message);
  });
});

describe('modeFromStat', () => {
  it.each([
    [0o100644, '0644'],
    [0o100600, '0644'],
    [0o100755, '0755'],
    [0o100700, '0755'],
    [0o100655, '0644'],
  ])('%o -> %s', (mode, expected) => expect(modeFromStat(mode)).toBe(expected));
});

describe('parseManifest line by line', () => {
  const two = serializeManifest([file('a'), file('b')]).toString();
  it.each([
    ['two entries on one line', two.replace('},\n{', '},{'), /not canonical|not JSON/],
    ['a missing comma', two.replace('},\n{', '}\n{'), /not canonical/],
    ['a trailing comma on the last entry', two.replace('}\n]}', '},\n]}'), /not canonical|not JSON/],
    ['an escaped character written differently', serializeManifest([file('a\u00e9')]).toString().replace('a\u00e9', 'a\\u00e9'), /not canonical/],
    ['a raw control character in a path', serializeManifest([file('a')]).toString().replace('"path":"a"', '"path":"a\u0001"'), /not JSON|not canonical/],
    ['uppercase hex digest', serializeManifest([file('a')]).toString().replace('a'.repeat(64), 'A'.repeat(64)), /bad sha256|not canonical/],
    ['a size with a leading zero', serializeManifest([file('a')]).toString().replace('"size":1', '"size":01'), /not JSON/],
  ])('rejects %s', (_n, text, message) => {
    expect(() => parseManifest(Buffer.from(text))).toThrow(message);
  });

  it('accepts escaped quotes, backslashes and newlines in names', () => {
    const names = ['q"uote', 'back\\slash', 'new\nline', 'tab\there', 'ünï ℂødé 😀'];
    const bytes = serializeManifest(sortEntries(names.map((n) => file(n))));
    expect(parseManifest(bytes).entries.map((e) => e.path).sort()).toEqual([...names].sort());
  });
});

describe('parseManifest: entries below other entries', () => {
  it.each([
    [['a', 'a-b', 'a.c', 'a/x'], true],
    [['a', 'a-b', 'a/b/c'], true],
    [['a/b', 'a/b!', 'a/b/c'], true],
    [['a/b', 'a/c', 'a/d/e'], false],
    [['ab', 'a/b'].sort(), false],
    [['a', 'ab/c', 'b'], false],
    [['x/a', 'x/a b/c', 'x/a/b'], true],
  ])('%j conflicts: %s', (paths, conflict) => {
    const bytes = serializeManifest(sortEntries(paths.map((p) => file(p))));
    if (conflict) expect(() => parseManifest(bytes)).toThrow(/lies below/);
    else expect(parseManifest(bytes).entries).toHaveLength(paths.length);
  });
});

describe('parseManifest with a memo of the previous manifest', () => {
  const base = ['a', 'b/1', 'b/2', 'c', 'd'].map((p) => file(p));
  const bytes = (entries: Entry[]) => serializeManifest(entries);
  it.each([
    ['identical', base, 5],
    ['one changed', base.map((e) => (e.path === 'b/2' ? file('b/2', { size: 9 }) : e)), 4],
    ['one inserted', sortEntries([...base, file('b/15')]), 5],
    ['one removed', base.filter((e) => e.path !== 'b/1'), 4],
    ['first and last changed', base.map((e, i) => (i === 0 || i === 4 ? file(e.path, { sha256: H('b') }) : e)), 3],
    ['nothing shared', ['x', 'y'].map((p) => file(p)), 0],
  ])('%s: parses like a fresh parse and reuses the entries of identical lines', (_name, next, shared) => {
    const memo = new ManifestMemo();
    const first = parseManifest(bytes(base), memo).entries;
    const second = parseManifest(bytes(next as Entry[]), memo).entries;
    expect(second).toEqual(parseManifest(bytes(next as Entry[])).entries);
    expect(second.filter((e) => first.includes(e)).length).toBe(shared);
  });

  it('agrees with a fresh parse, and shares every identical line, after random edits of a long manifest', () => {
    const base300 = Array.from({ length: 300 }, (_, i) => file(`p${String(i).padStart(4, '0')}`, { size: i }));
    const edit = fc.record({ kind: fc.constantFrom('change', 'remove', 'insert'), at: fc.integer({ min: 0, max: 299 }) });
    fc.assert(
      fc.property(fc.array(edit, { maxLength: 12 }), fc.array(edit, { maxLength: 12 }), (edits1, edits2) => {
        const apply = (from: Entry[], edits: { kind: string; at: number }[]) => {
          const next = new Map(from.map((e) => [e.path, e]));
          for (const { kind, at } of edits) {
            const path = `p${String(at).padStart(4, '0')}`;
            if (kind === 'change' && next.has(path)) next.set(path, file(path, { size: 10_000 + at }));
            if (kind === 'remove') next.delete(path);
            if (kind === 'insert') next.set(`${path}-new`, file(`${path}-new`));
          }
          return sortEntries([...next.values()]);
        };
        const memo = new ManifestMemo();
        let prevEntries = parseManifest(bytes(base300), memo).entries;
        for (const next of [apply(base300, edits1), apply(apply(base300, edits1), edits2)]) {
          const got = parseManifest(bytes(next), memo).entries;
          expect(got).toEqual(next);
          const byPath = new Map(prevEntries.map((e) => [e.path, e]));
          const identical = next.filter((e) => JSON.stringify(byPath.get(e.path)) === JSON.stringify(e)).length;
          expect(got.filter((e) => prevEntries.includes(e)).length).toBe(identical);
          prevEntries = got;
        }
      }),
      { numRuns: 200 },
    );
  });

  it('still refuses a manifest whose lines are all known but out of order or duplicated', () => {
    const memo = new ManifestMemo();
    parseManifest(bytes(base), memo);
    const text = bytes(base).toString();
    const lines = text.split('\n');
    const swapped = [lines[0], lines[2], lines[1], ...lines.slice(3)].join('\n');
    expect(() => parseManifest(Buffer.from(swapped), memo)).toThrow(/sorted/);
    const dup = [lines[0], lines[1], lines[1], ...lines.slice(2)].join('\n');
    expect(() => parseManifest(Buffer.from(dup), memo)).toThrow(/duplicate/);
    // known lines reused as a run after a new entry they lie below
    const below = bytes([file('a'), file('b'), file('b/1'), file('b/2'), file('c'), file('d')]);
    expect(() => parseManifest(below, memo)).toThrow(/lies below/);
  });
});

describe('parseManifest of manifests larger than one decoded chunk (1 MiB)', () => {
  // 20,000 lines of about 130 bytes: three chunks, two ASCII ones and a last one that is not (a
  // stretch of names with "é": split line by line in the buffer).
  const big = sortEntries(Array.from({ length: 20_000 }, (_, i) => file(`dir-${String(i).padStart(5, '0')}/${i >= 19_000 && i < 19_050 ? 'caf\u00e9' : 'file'}-${i}.bin`, { size: i })));
  const bytes = serializeManifest(big);

  it('parses every entry, without and with a memo', () => {
    expect(bytes.length).toBeGreaterThan(2.2 * (1 << 20));
    expect(parseManifest(bytes).entries).toEqual(big);
    const memo = new ManifestMemo();
    parseManifest(serializeManifest(big.slice(100)), memo);
    expect(parseManifest(bytes, memo).entries).toEqual(big);
  });

  it('finds a line out of order on either side of a chunk boundary', () => {
    const text = bytes.toString('latin1');
    const cut = text.lastIndexOf('\n', 1 << 20) + 1; // the first line of the second chunk
    const before = text.lastIndexOf('\n', cut - 2) + 1;
    const after = text.indexOf('\n', cut) + 1;
    const swapped = text.slice(0, before) + text.slice(cut, after) + text.slice(before, cut) + text.slice(after);
    expect(() => parseManifest(Buffer.from(swapped, 'latin1'))).toThrow(/not sorted/);
  });
});
