// The object index saved in the store's cache folder: used while the store holds exactly the
// packs and loose objects it was made from, rebuilt otherwise, and never trusted by verify.
import { describe, expect, it } from 'vitest';
import { copyFileSync, existsSync, readFileSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { listFiles, runJson, sampleWorkspace, tempDir } from '../helpers/cli.js';

const INDEX = join('snapshots', 'cache', 'object-index');

interface Rollback {
  to: string;
  verified: boolean;
}

describe('saved object index', () => {
  it('is saved by a command that loads the objects, and an outdated, damaged or cut one changes nothing', () => {
    const ws = sampleWorkspace({ 'big.bin': Buffer.alloc(2 << 20, 7) }); // a loose object besides the pack
    const v1 = runJson<{ id: string }>(ws, ['create']).doc.id;
    writeFileSync(join(ws, 'note.txt'), 'v2\n');
    const v2 = runJson<{ id: string }>(ws, ['create']).doc.id;
    expect(existsSync(join(ws, INDEX))).toBe(true);
    const keep = join(tempDir(), 'saved');
    copyFileSync(join(ws, INDEX), keep); // made before v2's pack was committed: outdated now

    const cases: [string, () => void][] = [
      ['outdated', () => copyFileSync(keep, join(ws, INDEX))],
      ['damaged', () => {
        const b = readFileSync(join(ws, INDEX));
        b[b.length >> 1]! ^= 0xff;
        writeFileSync(join(ws, INDEX), b);
      }],
      ['cut short', () => truncateSync(join(ws, INDEX), 100)],
      ['current', () => undefined],
    ];
    for (const [what, spoil] of cases) {
      spoil();
      for (const to of [v1, v2]) {
        const r = runJson<Rollback>(ws, ['rollback', to, '--yes']);
        expect(r.code, `${what}: ${r.stderr}`).toBe(0);
        expect(r.doc, what).toMatchObject({ to, verified: true });
      }
      // The command rebuilt it (or found it current): the next one reads it as it is.
      expect(readFileSync(join(ws, INDEX)).length, what).toBeGreaterThan(100);
    }
    expect(runJson(ws, ['verify', '--all', '--read-data']).code).toBe(0);
    expect(listFiles(ws)).toContain('note.txt');
  });

  it('does not hide a damaged pack from verify', () => {
    const ws = sampleWorkspace();
    const id = runJson<{ id: string }>(ws, ['create']).doc.id;
    runJson(ws, ['rollback', id, '--yes']); // saves the index of the sound store
    const pack = listFiles(join(ws, 'snapshots', 'packs')).find((f) => f.endsWith('.pack'))!;
    const file = join(ws, 'snapshots', 'packs', pack);
    truncateSync(file, readFileSync(file).length - 8); // its trailer gone: the pack index cannot be read
    const v = runJson<{ ok: boolean; packs?: unknown }>(ws, ['verify', '--all']);
    expect(v.code).toBe(1);
    expect(JSON.stringify(v.doc)).toMatch(/has no valid trailer/);
  });
});
