// Makes the bundle's V8 code caches (see src/launch.cts): runs the built CLI on a throw-away
// workspace with SNAPGOV_WRITE_CODE_CACHE=1, through the commands whose start-up people wait for
// (create, status, verify, rollback). Each run starts from the caches the previous one wrote and
// adds what it compiled, so the caches end up holding every function any of the runs needed.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const bin = join(root, 'bin', 'snapgov');
const ws = mkdtempSync(join(tmpdir(), 'snapgov-code-cache-'));

function snapgov(...args) {
  const r = spawnSync(process.execPath, [bin, ...args], { cwd: ws, encoding: 'utf8', input: '', env: { ...process.env, SNAPGOV_WRITE_CODE_CACHE: '1', NO_COLOR: '1' } });
  if (r.status !== 0) throw new Error(`training run \`snapgov ${args.join(' ')}\` exited ${r.status}: ${r.stderr}`);
}

try {
  const artifacts = [];
  for (let i = 0; i < 200; i++) {
    const path = `artifacts/d${i % 20}/f${i}.txt`;
    const content = `artifact ${i}\n`.repeat(1 + (i % 7));
    mkdirSync(join(ws, dirname(path)), { recursive: true });
    writeFileSync(join(ws, path), content);
    if (i % 10 === 0) artifacts.push({ path: path.slice('artifacts/'.length), sha256: createHash('sha256').update(content).digest('hex') });
  }
  writeFileSync(join(ws, 'artifacts/index.json'), JSON.stringify({ artifacts }));
  snapgov('init');
  snapgov('create', '-q');
  snapgov('status');
  snapgov('list');
  snapgov('info', 'latest');
  snapgov('verify', '--read-data');
  // A changed tree for the rollback: rewritten, removed, added and re-moded files.
  for (let i = 1; i < 20; i += 4) writeFileSync(join(ws, `artifacts/d${i}/f${i}.txt`), 'changed\n');
  unlinkSync(join(ws, 'artifacts/d2/f2.txt'));
  writeFileSync(join(ws, 'artifacts/new.txt'), 'new\n');
  chmodSync(join(ws, 'artifacts/d3/f3.txt'), 0o600);
  snapgov('status');
  snapgov('rollback', 'latest', '--dry-run');
  snapgov('rollback', 'latest', '--yes');
  snapgov('verify', '--worktree');
} finally {
  rmSync(ws, { recursive: true, force: true });
}
const made = readdirSync(join(root, 'dist', 'bundle')).filter((f) => f.endsWith('.v8cache')).length;
console.log(`made ${made} code caches in dist/bundle/`);
