// A manifest as changes from another: applied to the base it gives back the new manifest byte for
// byte, and anything that does not hash to the ID is refused.
import { describe, expect, it } from 'vitest';
import { applyManifestDelta, manifestDelta, type ManifestDelta } from '../../src/core/manifest-delta.js';
import { serializeManifest, snapshotIdOf, type Entry } from '../../src/core/manifest.js';

const file = (path: string, n: number, mode: '0644' | '0755' = '0644'): Entry => ({ path, type: 'file', mode, size: n, sha256: String(n % 10).repeat(64) });
const link = (path: string, target: string): Entry => ({ path, type: 'symlink', target });
const BASE = `sha256:${'b'.repeat(64)}`;
const base = [file('a', 1), file('b/c', 2), link('b/d', 'c'), file('e', 3), file('z\uFFFD', 5), file('z\u{1F600}', 4)];

const cases: [string, Entry[], number][] = [
  ['nothing changed', base, 0],
  ['a file changed', [file('a', 7), ...base.slice(1)], 1],
  ['a mode changed', [base[0]!, base[1]!, base[2]!, file('e', 3, '0755'), ...base.slice(4)], 1],
  ['a file removed and one added', [...base.slice(0, 3), file('f', 9), ...base.slice(4)], 2],
  ['a symlink turned into a file', [base[0]!, base[1]!, file('b/d', 8), ...base.slice(3)], 1],
  ['paths past the BMP (code point order)', [...base.slice(0, 5), file('z\u{1F5FF}', 6), base[5]!], 1],
  ['everything removed', [], base.length],
];

describe('manifest delta', () => {
  it.each(cases)('%s', (_, to, changes) => {
    const delta = manifestDelta(BASE, base, to);
    expect(delta.remove.length + delta.put.length).toBe(changes);
    const bytes = serializeManifest(to);
    expect(applyManifestDelta(base, delta, snapshotIdOf(bytes))?.equals(bytes)).toBe(true);
  });

  const to = [file('a', 7), ...base.slice(1)];
  const id = snapshotIdOf(serializeManifest(to));
  const good = manifestDelta(BASE, base, to);
  it.each<[string, ManifestDelta]>([
    ['a changed entry left out', { ...good, put: [] }],
    ['another size', { ...good, put: [file('a', 8)] }],
    ['a path removed that stays', { ...good, remove: ['e'] }],
    ['entries out of order', { ...manifestDelta(BASE, base, [...to.slice(0, 3), file('f', 9), ...to.slice(3)]), put: [file('f', 9), file('a', 7)] }],
  ])('refuses a delta with %s', (_, delta) => {
    expect(applyManifestDelta(base, delta, id)).toBeNull();
  });
});
