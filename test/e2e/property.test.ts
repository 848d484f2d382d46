import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { chmodSync, lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { run, runJson, sha256, tempDir } from '../helpers/cli.js';

type Node = { kind: 'file'; data: Uint8Array; exec: boolean } | { kind: 'link'; target: string };

/** Name pieces with spaces, accents, CJK, Greek and punctuation; never `.` or `..` alone. */
const name = fc.array(fc.constantFrom('a', 'b', 'ü', '日', '本', ' ', '-', '_', 'é', 'Ω', 'x1', '.cfg', '(2)'), { minLength: 1, maxLength: 5 }).map((p) => p.join(''));
const node: fc.Arbitrary<Node> = fc.oneof(
  fc.record({ kind: fc.constant('file' as const), data: fc.uint8Array({ maxLength: 3000 }), exec: fc.boolean() }),
  fc.record({ kind: fc.constant('file' as const), data: fc.constant(new Uint8Array(0)), exec: fc.constant(false) }),
  fc.record({ kind: fc.constant('link' as const), target: fc.oneof(name, name.map((n) => `../${n}`), fc.constant('dangling/target')) }),
);
/** A tree: paths up to eight folders deep. Later entries that clash with earlier ones are dropped. */
const tree = fc.array(fc.tuple(fc.array(name, { minLength: 1, maxLength: 8 }), node), { minLength: 1, maxLength: 25 });

function write(root: string, entries: [string[], Node][]): Record<string, string> {
  const want: Record<string, string> = {};
  const dirs = new Set<string>();
  for (const [segments, n] of entries) {
    const path = segments.join('/');
    const parents = segments.slice(0, -1).map((_, i) => segments.slice(0, i + 1).join('/'));
    // a path that is already a file, or below a file, or a folder already: skip
    if (want[path] !== undefined || dirs.has(path) || parents.some((p) => want[p] !== undefined)) continue;
    parents.forEach((p) => dirs.add(p));
    const abs = join(root, path);
    mkdirSync(dirname(abs), { recursive: true });
    if (n.kind === 'link') {
      symlinkSync(n.target, abs);
      want[path] = `link:${n.target}`;
    } else {
      writeFileSync(abs, n.data);
      chmodSync(abs, n.exec ? 0o755 : 0o644);
      want[path] = `file:${n.exec ? 'x' : '-'}:${sha256(Buffer.from(n.data))}`;
    }
  }
  return want;
}

/** The managed tree as the user sees it (store folders and config left out). */
function state(root: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (dir: string, rel: string) => {
    for (const n of readdirSync(dir)) {
      if (!rel && ['snapshots', 'metadata', 'rehearsal', 'snapgov.json'].includes(n)) continue;
      const p = join(dir, n);
      const r = rel ? `${rel}/${n}` : n;
      const st = lstatSync(p);
      if (st.isSymbolicLink()) out[r] = `link:${readlinkSync(p)}`;
      else if (st.isDirectory()) walk(p, r);
      else out[r] = `file:${st.mode & 0o100 ? 'x' : '-'}:${sha256(readFileSync(p))}`;
    }
  };
  walk(root, '');
  return out;
}

function clear(root: string): void {
  for (const n of readdirSync(root)) if (!['snapshots', 'metadata', 'rehearsal', 'snapgov.json'].includes(n)) rmSync(join(root, n), { recursive: true, force: true });
}

describe('property: random trees round-trip byte for byte', () => {
  it('create -> replace the tree -> rollback gives back exactly the first tree', () => {
    fc.assert(
      fc.property(tree, tree, (first, second) => {
        const ws = tempDir();
        expect(run(ws, ['init', '--no-index']).code).toBe(0);
        const want = write(ws, first);
        const a = runJson<{ id: string; files: number }>(ws, ['create']);
        expect(a.code, a.stderr).toBe(0);
        expect(a.doc.files).toBe(Object.keys(want).length);
        clear(ws);
        write(ws, second);
        expect(runJson(ws, ['create']).code).toBe(0);
        const rb = runJson<{ verified: boolean }>(ws, ['rollback', a.doc.id, '--yes']);
        expect(rb.code, rb.stderr).toBe(0);
        expect(state(ws)).toEqual(want);
        expect(runJson(ws, ['verify', a.doc.id, '--read-data', '--worktree']).code).toBe(0);
        rmSync(ws, { recursive: true, force: true });
      }),
      { numRuns: 12, seed: 20261122 },
    );
  }, 300_000);
});
