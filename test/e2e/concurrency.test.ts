import { describe, expect, it } from 'vitest';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { listFiles, runAsync, runJson, sampleWorkspace } from '../helpers/cli.js';

describe('several processes on one store', () => {
  it('two cron creates, a prune, a verify and a rollback at once: each finishes, the store verifies', async () => {
    const ws = sampleWorkspace();
    const ids: string[] = [];
    for (let i = 1; i <= 4; i++) {
      writeFileSync(join(ws, `notes-${i}.txt`), Buffer.alloc(1.5 * 2 ** 20, i));
      ids.push(runJson<{ id: string }>(ws, ['create', '--trigger', 'cron']).doc.id);
    }
    // the rollback targets are pinned, so the concurrent prune cannot take them away
    for (const id of ids.slice(0, 3)) expect(runJson(ws, ['pin', id]).code).toBe(0);
    writeFileSync(join(ws, 'notes-5.txt'), 'changed before the race\n');
    for (let round = 0; round < 3; round++) {
      const wait = ['--json', '--lock-wait', '60s'];
      const runs = await Promise.all([
        runAsync(ws, [...wait, 'create', '--trigger', 'cron']),
        runAsync(ws, [...wait, 'create', '--trigger', 'cron']),
        runAsync(ws, [...wait, 'prune', '3']),
        runAsync(ws, [...wait, 'verify', '--all', '--read-data']),
        runAsync(ws, [...wait, 'rollback', ids[round]!, '--yes']),
      ]);
      for (const r of runs) expect([0, 11], r.stderr).toContain(r.code);
      expect(runs.filter((r) => r.code === 0).length, runs.map((r) => r.stderr).join('\n')).toBe(5);
      const v = runJson<{ ok: boolean; snapshots: unknown[] }>(ws, ['verify', '--all', '--read-data']);
      expect(v.code, JSON.stringify(v.doc)).toBe(0);
      expect(runJson(ws, ['audit', 'verify']).code).toBe(0);
      expect(listFiles(join(ws, 'snapshots/locks'))).toEqual([]);
      expect(listFiles(join(ws, 'snapshots/tmp'))).toEqual([]);
    }
  }, 240_000);
});
