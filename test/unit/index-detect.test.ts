import { describe, expect, it } from 'vitest';
import { countArtifacts, detectIndex } from '../../src/core/index-detect.js';

const D = 'a'.repeat(64);
const has = (paths: string[]) => (p: string) => paths.includes(p);

describe('detectIndex', () => {
  const cases: { name: string; doc: unknown; index: string; files: string[]; want: Partial<ReturnType<typeof detectIndex>> }[] = [
    { name: "snapgov's default layout", doc: { artifacts: [{ path: 'a', sha256: D }] }, index: 'artifacts/index.json', files: ['artifacts/a'], want: { entries: '/artifacts', pathField: 'path', digestField: 'sha256', relativeTo: 'index', found: 1 } },
    { name: 'a top-level array', doc: [{ file: 'x/a' }], index: 'index.json', files: ['x/a'], want: { entries: '', pathField: 'file', relativeTo: 'index', found: 1 } },
    { name: 'paths relative to the workspace root', doc: { items: [{ path: 'data/a' }, { path: 'data/b' }] }, index: 'meta/index.json', files: ['data/a', 'data/b'], want: { entries: '/items', relativeTo: 'workspace', found: 2 } },
    { name: 'the array whose paths exist wins over a bigger one', doc: { tags: [{ name: 't1' }, { name: 't2' }, { name: 't3' }], files: [{ src: 'a' }] }, index: 'index.json', files: ['a'], want: { entries: '/files', pathField: 'src', found: 1 } },
    { name: 'a nested list and a digest with a prefix', doc: { data: { list: [{ location: 'a', digest: `sha256:${D}` }] } }, index: 'index.json', files: ['a'], want: { entries: '/data/list', pathField: 'location', digestField: 'digest' } },
    { name: 'keys that need escaping in a pointer', doc: { 'a/b': [{ path: 'f' }] }, index: 'index.json', files: ['f'], want: { entries: '/a~1b' } },
    { name: 'nothing found falls back to the defaults', doc: { artifacts: [] }, index: 'index.json', files: [], want: { entries: '/artifacts', pathField: 'path', relativeTo: 'index', found: 0 } },
    { name: 'not an object', doc: 'text', index: 'index.json', files: [], want: { entries: '/artifacts', found: 0 } },
    { name: 'a path escaping the workspace is not found', doc: { artifacts: [{ path: '../../etc/passwd' }] }, index: 'index.json', files: ['../../etc/passwd'], want: { found: 0 } },
  ];
  for (const c of cases) it(c.name, () => expect(detectIndex(c.doc, c.index, has(c.files))).toMatchObject(c.want));
});

describe('countArtifacts', () => {
  it('counts under the given reading only', () => {
    const doc = { list: [{ p: 'a' }, { p: 'b' }, { q: 'c' }] };
    expect(countArtifacts(doc, { path: 'i/index.json', entries: '/list', pathField: 'p', relativeTo: 'workspace' }, has(['a']))).toEqual({ artifacts: 3, found: 1 });
    expect(countArtifacts(doc, { path: 'i/index.json', entries: '/list', pathField: 'p', relativeTo: 'index' }, has(['a']))).toEqual({ artifacts: 3, found: 0 });
    expect(countArtifacts(doc, { path: 'i/index.json', entries: '/nope', pathField: 'p', relativeTo: 'index' }, has(['a']))).toEqual({ artifacts: 0, found: 0 });
  });
});
