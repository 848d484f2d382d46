import { describe, expect, it } from 'vitest';
import { planIsEmpty, planRollback, restoreTarget, selectedBy } from '../../src/core/rollback-plan.js';
import type { Entry } from '../../src/core/manifest.js';

const f = (path: string, sha: string, mode: '0644' | '0755' = '0644', size = 1): Entry => ({ path, type: 'file', mode, size, sha256: sha.repeat(64) });
const l = (path: string, target: string): Entry => ({ path, type: 'symlink', target });
const paths = (es: Entry[]) => es.map((e) => e.path);

describe('planRollback', () => {
  it.each([
    { name: 'identical trees', live: [f('a', '1'), l('s', 'a')], target: [f('a', '1'), l('s', 'a')], write: [], link: [], chmod: [], remove: [], bytes: 0 },
    { name: 'empty live tree (full restore)', live: [], target: [f('a', '1', '0644', 5), f('b/c', '2', '0755', 7), l('s', 'a')], write: ['a', 'b/c'], link: ['s'], chmod: [], remove: [], bytes: 12 },
    { name: 'empty target (remove all)', live: [f('a', '1'), l('s', 'a')], target: [], write: [], link: [], chmod: [], remove: ['a', 's'], bytes: 0 },
    { name: 'content change', live: [f('a', '1')], target: [f('a', '2')], write: ['a'], link: [], chmod: [], remove: [], bytes: 1 },
    { name: 'mode only', live: [f('a', '1', '0755')], target: [f('a', '1', '0644')], write: [], link: [], chmod: ['a'], remove: [], bytes: 0 },
    { name: 'content and mode', live: [f('a', '1', '0755')], target: [f('a', '2', '0644')], write: ['a'], link: [], chmod: [], remove: [], bytes: 1 },
    { name: 'file becomes symlink', live: [f('a', '1')], target: [l('a', 'x')], write: [], link: ['a'], chmod: [], remove: [], bytes: 0 },
    { name: 'symlink becomes file', live: [l('a', 'x')], target: [f('a', '1')], write: ['a'], link: [], chmod: [], remove: [], bytes: 1 },
    { name: 'symlink re-pointed', live: [l('a', 'x')], target: [l('a', 'y')], write: [], link: ['a'], chmod: [], remove: [], bytes: 0 },
    { name: 'file becomes folder', live: [f('a', '1')], target: [f('a/b', '1')], write: ['a/b'], link: [], chmod: [], remove: ['a'], bytes: 1 },
    { name: 'folder becomes file', live: [f('a/b', '1'), f('a/c', '1')], target: [f('a', '1')], write: ['a'], link: [], chmod: [], remove: ['a/b', 'a/c'], bytes: 1 },
    { name: 'interleaved', live: [f('a', '1'), f('c', '1'), f('e', '1')], target: [f('b', '1'), f('c', '2'), f('d', '1')], write: ['b', 'c', 'd'], link: [], chmod: [], remove: ['a', 'e'], bytes: 3 },
  ])('$name', ({ live, target, write, link, chmod, remove, bytes }) => {
    const p = planRollback(live, target);
    expect(paths(p.write)).toEqual(write);
    expect(paths(p.link)).toEqual(link);
    expect(paths(p.chmod)).toEqual(chmod);
    expect(paths(p.remove)).toEqual(remove);
    expect(p.bytes).toBe(bytes);
    expect(planIsEmpty(p)).toBe(write.length + link.length + chmod.length + remove.length === 0);
  });

  it('turns any tree into any other (randomized)', () => {
    let seed = 7;
    const rnd = (n: number) => (seed = (seed * 1103515245 + 12345) % 2 ** 31) % n;
    const tree = (): Entry[] => {
      const out: Entry[] = [];
      for (const name of ['a', 'b', 'c', 'd', 'e', 'f']) {
        const k = rnd(4);
        if (k === 1) out.push(f(name, String(rnd(3)), rnd(2) ? '0755' : '0644'));
        if (k === 2) out.push(l(name, `t${rnd(2)}`));
      }
      return out;
    };
    for (let i = 0; i < 500; i++) {
      const live = tree();
      const target = tree();
      const p = planRollback(live, target);
      // apply the plan to a map and compare
      const state = new Map(live.map((e) => [e.path, e]));
      for (const e of p.remove) state.delete(e.path);
      for (const e of [...p.write, ...p.link]) state.set(e.path, e);
      for (const e of p.chmod) state.set(e.path, e);
      expect([...state.values()].sort((x, y) => (x.path < y.path ? -1 : 1))).toEqual(target);
    }
  });
});

describe('selectedBy', () => {
  it.each([
    { paths: ['a'], path: 'a', hit: true },
    { paths: ['a'], path: 'a/b/c', hit: true },
    { paths: ['a'], path: 'ab', hit: false },
    { paths: ['a/b'], path: 'a', hit: false },
    { paths: ['a/b'], path: 'a/bc', hit: false },
    { paths: ['x', 'a/b'], path: 'a/b/c', hit: true },
    { paths: [], path: 'a', hit: false },
  ])('$paths selects $path: $hit', ({ paths: sel, path, hit }) => {
    expect(selectedBy(sel)(path)).toBe(hit);
  });
});

describe('restoreTarget', () => {
  it.each([
    { name: 'one file back', live: [f('a', '2'), f('b', '2')], snap: [f('a', '1'), f('b', '1')], paths: ['a'], target: ['a:1', 'b:2'], missing: [] },
    { name: 'a folder: its extra files go, its lost ones come back', live: [f('d/new', '2'), f('d/x', '2'), f('z', '2')], snap: [f('d/x', '1'), f('d/y', '1'), f('z', '1')], paths: ['d'], target: ['d/x:1', 'd/y:1', 'z:2'], missing: [] },
    { name: 'a deleted file', live: [f('b', '2')], snap: [f('a', '1'), f('b', '1')], paths: ['a'], target: ['a:1', 'b:2'], missing: [] },
    { name: 'a live file where the snapshot has a folder above the path', live: [f('a', '2'), f('b', '2')], snap: [f('a/x', '1')], paths: ['a/x'], target: ['a/x:1', 'b:2'], missing: [] },
    { name: 'a live folder where the snapshot has a file', live: [f('a/x', '2'), f('a/y', '2')], snap: [f('a', '1')], paths: ['a'], target: ['a:1'], missing: [] },
    { name: 'a path the snapshot lacks', live: [f('a', '2')], snap: [f('a', '1')], paths: ['a', 'nope'], target: ['a:1'], missing: ['nope'] },
    { name: 'a prefix that is not a folder boundary', live: [f('ab', '2')], snap: [f('a', '1'), f('ab', '1')], paths: ['a'], target: ['a:1', 'ab:2'], missing: [] },
    { name: 'symlinks', live: [l('s', 'x')], snap: [l('s', 'y')], paths: ['s'], target: ['s:y'], missing: [] },
  ])('$name', ({ live, snap, paths: sel, target, missing }) => {
    const r = restoreTarget(live, snap, sel);
    expect(r.target.map((e) => `${e.path}:${e.type === 'file' ? e.sha256[0] : e.target}`)).toEqual(target);
    expect(r.missing).toEqual(missing);
  });
});
