// The direction of imports (docs/architecture.md), checked on the sources: a folder imports only
// from folders ranked below it, so no two concepts depend on each other.
import { describe, expect, it } from 'vitest';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';

const SRC = resolve(import.meta.dirname, '../../src');

/** Low to high; a module may import from its own folder and from any lower rank. */
const RANKS: Record<string, number> = {
  errors: 0,
  util: 1, schema: 1,
  core: 2, output: 2,
  config: 3,
  store: 4,
  files: 5,
  pool: 6,
  scan: 7, signing: 7,
  snapshot: 8, verify: 8, archive: 8, remote: 8,
  governance: 9,
  rollback: 10,
  rehearsal: 11,
  commands: 12,
  cli: 13,
};

/** A top-level file is its own concept (`errors.ts`, `./errors.js` → errors); anything else belongs to its folder. */
function concept(file: string): string {
  const parts = relative(SRC, file).split(sep);
  return parts.length === 1 ? parts[0]!.replace(/\.(c?ts|c?js)$/, '') : parts[0]!;
}

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((d) => (d.isDirectory() ? sources(join(dir, d.name)) : /\.c?ts$/.test(d.name) ? [join(dir, d.name)] : []));
}

const imports = sources(SRC).flatMap((file) =>
  [...readFileSync(file, 'utf8').matchAll(/(?:from|import)\s*\(?\s*'(\.[^']+)'/g)].map((m) => ({
    file: relative(SRC, file),
    from: concept(file),
    to: concept(resolve(dirname(file), m[1]!)),
  })),
);

describe('architecture', () => {
  it('finds the imports it checks', () => {
    expect(imports.length).toBeGreaterThan(200);
    expect(imports.some((i) => i.from === 'commands' && i.to === 'store')).toBe(true);
  });

  it('ranks every concept', () => {
    const unranked = [...new Set(imports.flatMap((i) => [i.from, i.to]))].filter((c) => RANKS[c] === undefined);
    expect(unranked, 'add new folders to RANKS and to docs/architecture.md').toEqual([]);
  });

  it('imports only downwards', () => {
    const upward = imports.filter((i) => i.from !== i.to && RANKS[i.to]! >= RANKS[i.from]!).map((i) => `${i.file} imports ${i.to}`);
    expect(upward).toEqual([]);
  });
});
