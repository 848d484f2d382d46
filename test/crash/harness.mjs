#!/usr/bin/env node
// Crash injection: runs each mutating command on a generated workspace and kills it with SIGKILL,
// at a random moment or at a named step boundary (SNAPGOV_FAULT), then checks that every snapshot
// still verifies with --read-data, that the audit log verifies, that re-running the command reaches
// the intended end state, and for rollback that every file is either its old or its new content.
//   npm run test:crash -- --trials 200 [--commands create,rollback] [--seed 7] [--json FILE]
import { spawn, spawnSync } from 'node:child_process';
import { createHash, generateKeyPairSync } from 'node:crypto';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { seededRandom } from '../../dist/core/rehearsal.js';

const BIN = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'bin', 'snapgov');
export const COMMANDS = ['create', 'rollback', 'prune', 'gc', 'import', 'sign', 'rehearse', 'promote', 'push', 'pull'];
/** Named step boundaries the code exposes (src/util/fault.ts), per command. */
const FAULTS = {
  rollback: ['rollback-remove:1', 'rollback-stage:1', 'rollback-stage:40', 'rollback-rename:1', 'rollback-rename:40'],
  prune: ['prune-remove:1', 'prune-remove:3', 'gc-delete:1', 'gc-delete:5'],
  gc: ['gc-delete:1', 'gc-delete:3'],
  rehearse: ['rollback-rename:1', 'rollback-stage:20'],
  create: ['create-publish:1'],
  promote: ['promote-decision:1', 'promote-pin:1'],
};

const sha = (b) => createHash('sha256').update(b).digest('hex');

function sg(cwd, args, env = {}) {
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1', ...env }, input: '' });
  return { code: r.status ?? 128, stdout: r.stdout, stderr: r.stderr };
}
const json = (cwd, args, env) => {
  const r = sg(cwd, ['--json', ...args], env);
  return { ...r, doc: r.code === 0 || r.stdout.trim().startsWith('{') ? JSON.parse(r.stdout) : null };
};

/** Starts the command and SIGKILLs it after `delayMs` (or lets a fault point kill it). */
function runKilled(cwd, args, delayMs, env = {}) {
  return new Promise((resolve) => {
    const started = Date.now();
    const p = spawn(process.execPath, [BIN, ...args], { cwd, env: { ...process.env, NO_COLOR: '1', ...env }, stdio: 'ignore' });
    const timer = delayMs === null ? null : setTimeout(() => p.kill('SIGKILL'), delayMs);
    p.on('exit', (code, signal) => {
      if (timer) clearTimeout(timer);
      resolve({ killed: signal === 'SIGKILL', code, ms: Date.now() - started });
    });
  });
}

/** A small tree with nested folders, an executable, a symlink, empty and large files. */
function writeTree(root, r, round) {
  for (let i = 0; i < 300; i++) {
    const p = join(root, `d${i % 6}`, `s${i % 3}`, `f${i}.txt`);
    mkdirSync(dirname(p), { recursive: true });
    writeFileSync(p, `file ${i} round ${i % 7 === 0 ? round : 0}\n`.repeat(1 + Math.floor(r() * 50)));
  }
  writeFileSync(join(root, 'empty'), '');
  writeFileSync(join(root, 'big.bin'), Buffer.alloc((2 << 20) + round, round & 0xff));
  mkdirSync(join(root, 'bin'), { recursive: true });
  writeFileSync(join(root, 'bin', 'run.sh'), `#!/bin/sh\necho ${round}\n`, { mode: 0o755 });
  rmSync(join(root, 'link'), { force: true });
  symlinkSync(round % 2 ? 'empty' : 'big.bin', join(root, 'link'));
}

function workspace(r) {
  const ws = mkdtempSync(join(tmpdir(), 'snapgov-crash-'));
  writeTree(ws, r, 0);
  must(sg(ws, ['init', '--no-index']), 'init');
  return ws;
}

function must(res, what) {
  if (res.code !== 0) throw new Error(`${what} failed (${res.code}): ${res.stderr.trim().split('\n').pop()}`);
  return res;
}

/** Every managed file as {path: "file:<mode>:<sha>" | "link:<target>"}, ignoring the store and rollback temp files. */
function treeState(ws) {
  const out = {};
  const walk = (dir, rel) => {
    for (const n of readdirSync(dir)) {
      if (!rel && ['snapshots', 'metadata', 'rehearsal', 'snapgov.json'].includes(n)) continue;
      const p = join(dir, n);
      const r = rel ? `${rel}/${n}` : n;
      const st = lstatSync(p);
      if (st.isDirectory()) walk(p, r);
      else if (st.isSymbolicLink()) out[r] = `link:${readlinkSync(p)}`;
      else out[r] = `file:${st.mode & 0o100 ? 'x' : '-'}:${sha(readFileSync(p))}`;
    }
  };
  walk(ws, '');
  return out;
}

function storeState(ws) {
  const out = {};
  const walk = (dir, rel) => {
    if (!existsSync(dir)) return;
    for (const n of readdirSync(dir)) {
      const p = join(dir, n);
      const r = `${rel}/${n}`;
      if (r.startsWith('snapshots/locks') || r.startsWith('snapshots/cache') || r.startsWith('metadata/audit') || r.startsWith('rehearsal')) continue;
      if (lstatSync(p).isDirectory()) walk(p, r);
      else out[r] = sha(readFileSync(p));
    }
  };
  walk(join(ws, 'snapshots'), 'snapshots');
  walk(join(ws, 'metadata'), 'metadata');
  return out;
}

const snapshotIds = (ws) => json(ws, ['list']).doc.snapshots.map((s) => s.id).sort();

/** What must hold after any kill: the store verifies byte for byte, and so does the audit chain. */
function invariants(ws, failures) {
  const v = json(ws, ['verify', '--all', '--read-data', '--lock-wait', '10s']);
  if (v.code !== 0 && !(v.code === 2 && /no snapshots yet/.test(v.stderr))) failures.push(`verify --all --read-data exit ${v.code}: ${JSON.stringify(v.doc?.snapshots?.filter((s) => !s.ok) ?? v.stderr).slice(0, 400)}`);
  const a = sg(ws, ['audit', 'verify']);
  if (a.code !== 0) failures.push(`audit verify exit ${a.code}: ${a.stdout.slice(0, 300)}`);
}

/** Per command: a prepared workspace, the command to interrupt, and the checks of its end state. */
const SCENARIOS = {
  create(r) {
    const ws = workspace(r);
    must(sg(ws, ['create']), 'first create');
    writeTree(ws, r, 1);
    const want = treeState(ws);
    return {
      ws,
      args: ['create', '--lock-wait', '10s'],
      after(failures) {
        const v = json(ws, ['verify', '--worktree']);
        if (v.code !== 0) failures.push(`after re-running create, verify --worktree exit ${v.code}`);
        if (JSON.stringify(treeState(ws)) !== JSON.stringify(want)) failures.push('create changed the live tree');
      },
    };
  },
  rollback(r) {
    const ws = workspace(r);
    const a = must(json(ws, ['create']), 'create A').doc.id;
    const oldTree = treeState(ws);
    writeTree(ws, r, 3);
    rmSync(join(ws, 'd5'), { recursive: true });
    writeFileSync(join(ws, 'added.txt'), 'only in B\n');
    must(json(ws, ['create']), 'create B');
    const newTree = treeState(ws);
    return {
      ws,
      args: ['rollback', a, '--yes', '--lock-wait', '10s'],
      killed(failures) {
        // every file is the content of B (before) or of A (after), never anything else
        for (const [path, state] of Object.entries(treeState(ws))) {
          if (/\.snapgov-tmp-/.test(path)) continue;
          if (state !== oldTree[path] && state !== newTree[path]) failures.push(`after the kill, ${path} is neither its old nor its new content`);
        }
      },
      after(failures) {
        if (JSON.stringify(treeState(ws)) !== JSON.stringify(oldTree)) failures.push('after re-running rollback, the tree is not the target');
        if (json(ws, ['verify', a, '--worktree']).code !== 0) failures.push('after re-running rollback, verify --worktree fails');
        if (existsSync(join(ws, 'snapshots', 'rollback-journal.json'))) failures.push('the rollback journal is still there');
      },
    };
  },
  prune(r) {
    const ws = workspace(r);
    for (let i = 1; i <= 6; i++) {
      writeTree(ws, r, 10 + i);
      must(sg(ws, ['create', '--time', `2026-01-0${i}T00:00:00Z`]), `create ${i}`);
    }
    const plan = must(json(ws, ['prune', '2', '--dry-run']), 'prune --dry-run').doc;
    const keep = plan.keep.map((k) => k.id).sort();
    return {
      ws,
      args: ['prune', '2', '--lock-wait', '10s'],
      after(failures) {
        if (JSON.stringify(snapshotIds(ws)) !== JSON.stringify(keep)) failures.push('after re-running prune, the kept snapshots differ from the plan');
        const gc = json(ws, ['gc', '--dry-run']).doc;
        if (!gc || gc.objectsDeleted !== 0 || gc.orphanManifests !== 0) failures.push(`garbage left after re-running prune: ${JSON.stringify(gc)}`);
      },
    };
  },
  gc(r) {
    const ws = workspace(r);
    const ids = [];
    for (let i = 1; i <= 4; i++) {
      writeTree(ws, r, 20 + i);
      ids.push(must(json(ws, ['create']), `create ${i}`).doc.id);
    }
    // what an interrupted create or prune leaves: objects and manifests without metadata
    for (const id of ids.slice(0, 2)) rmSync(join(ws, 'metadata', `${id.slice(7)}.json`));
    const keep = ids.slice(2).sort();
    return {
      ws,
      args: ['gc', '--lock-wait', '10s'],
      after(failures) {
        if (JSON.stringify(snapshotIds(ws)) !== JSON.stringify(keep)) failures.push('gc changed the set of snapshots');
        const gc = json(ws, ['gc', '--dry-run']).doc;
        if (!gc || gc.objectsDeleted !== 0 || gc.orphanManifests !== 0 || gc.bytesFreed !== 0) failures.push(`garbage left after re-running gc: ${JSON.stringify(gc)}`);
      },
    };
  },
  import(r) {
    const src = workspace(r);
    const id = must(json(src, ['create']), 'create').doc.id;
    const tar = join(src, '..', `${src.split('/').pop()}.tar`);
    must(sg(src, ['export', id, '-o', tar]), 'export');
    const ws = workspace(r);
    writeTree(ws, r, 30);
    must(sg(ws, ['create']), 'create in target');
    return {
      ws,
      extra: [src, tar],
      args: ['import', tar, '--lock-wait', '10s'],
      after(failures) {
        if (!snapshotIds(ws).includes(id)) failures.push('after re-running import, the snapshot is not in the store');
      },
    };
  },
  sign(r) {
    const ws = workspace(r);
    const id = must(json(ws, ['create']), 'create').doc.id;
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const key = join(ws, '..', `${ws.split('/').pop()}.key`);
    const pub = `${key}.pub`;
    writeFileSync(key, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
    writeFileSync(pub, publicKey.export({ type: 'spki', format: 'pem' }));
    return {
      ws,
      extra: [key, pub],
      args: ['sign', id, '--sigstore-key', key, '--lock-wait', '10s'],
      after(failures) {
        const v = json(ws, ['verify', id, '--require-signature', '--key', pub]);
        if (v.code !== 0) failures.push(`after re-running sign, verify --require-signature exit ${v.code}`);
      },
    };
  },
  promote(r) {
    const ws = workspace(r);
    const keyPair = (name) => {
      const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
      const key = join(ws, '..', `${ws.split('/').pop()}.${name}.key`);
      writeFileSync(key, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
      writeFileSync(`${key}.pub`, publicKey.export({ type: 'spki', format: 'pem' }));
      return key;
    };
    const reviewer = keyPair('reviewer');
    const operator = keyPair('operator');
    const cfg = JSON.parse(readFileSync(join(ws, 'snapgov.json'), 'utf8'));
    writeFileSync(join(ws, 'snapgov.json'), JSON.stringify({ ...cfg, principals: { rita: { sigstoreKeys: [`${reviewer}.pub`] }, ci: { sigstoreKeys: [`${operator}.pub`] } }, roles: { reviewer: ['rita'], approver: ['rita'], operator: ['ci'] }, environments: { staging: { requires: [{ role: 'reviewer' }] } } }));
    const id = must(json(ws, ['create']), 'create').doc.id;
    must(sg(ws, ['approve', id, '--env', 'staging', '--role', 'reviewer', '--sigstore-key', reviewer]), 'approve');
    return {
      ws,
      extra: [reviewer, `${reviewer}.pub`, operator, `${operator}.pub`],
      args: ['promote', id, '--env', 'staging', '--run-id', 'crash-1', '--sigstore-key', operator, '--lock-wait', '10s'],
      after(failures) {
        const h = json(ws, ['env', 'history', 'staging']);
        const pins = h.doc?.pins ?? [];
        if (pins.length !== 1 || pins[0].snapshot !== id) failures.push(`after re-running promote, staging has ${pins.length} pin(s)`);
        for (const p of pins) if (!existsSync(join(ws, 'metadata', 'decisions', `${p.decision.slice(7)}.sigstore.json`))) failures.push(`pin ${p.seq} has no decision file`);
      },
    };
  },
  push(r) {
    const ws = workspace(r);
    const id = must(json(ws, ['create']), 'create').doc.id;
    const remote = `oci://${registry.host}/crash/push${++repos}:prod`;
    return {
      ws,
      args: ['push', id, remote, '--lock-wait', '10s'],
      after(failures) {
        // what the push left is a snapshot another store can pull and verify byte for byte
        const other = workspace(r);
        const p = json(other, ['pull', remote]);
        if (p.code !== 0 || p.doc?.id !== id) failures.push(`after re-running push, pull exit ${p.code}: ${p.stderr.trim().split('\n').pop()}`);
        else if (sg(other, ['verify', id, '--read-data']).code !== 0) failures.push('the pushed snapshot does not verify after a pull');
        rmSync(other, { recursive: true, force: true });
      },
    };
  },
  pull(r) {
    const src = workspace(r);
    const id = must(json(src, ['create']), 'create').doc.id;
    const remote = `oci://${registry.host}/crash/pull${++repos}:prod`;
    must(sg(src, ['push', id, remote]), 'push');
    const ws = workspace(r);
    writeTree(ws, r, 40);
    must(sg(ws, ['create']), 'create in target');
    return {
      ws,
      extra: [src],
      args: ['pull', remote, '--lock-wait', '10s'],
      after(failures) {
        if (!snapshotIds(ws).includes(id)) failures.push('after re-running pull, the snapshot is not in the store');
      },
    };
  },
  rehearse(r) {
    const ws = workspace(r);
    must(sg(ws, ['create']), 'create');
    const tree = treeState(ws);
    const store = storeState(ws);
    return {
      ws,
      args: ['rehearse', '--scenario', 'artifact-bitflip', '--scenario', 'tree-wiped', '--seed', '3'],
      after(failures) {
        if (JSON.stringify(treeState(ws)) !== JSON.stringify(tree)) failures.push('the live tree changed');
        if (JSON.stringify(storeState(ws)) !== JSON.stringify(store)) failures.push("the store's snapshots changed");
        const left = readdirSync(join(ws, 'rehearsal')).filter((n) => n.startsWith('.sandbox-'));
        if (left.length) failures.push(`sandboxes left behind: ${left.join(', ')}`);
      },
    };
  },
};

/** A docker-registry on loopback for push and pull, started once by runTrials when they are asked for. */
const registry = { host: '', stop: () => undefined };
let repos = 0;
async function startRegistry() {
  const dir = mkdtempSync(join(tmpdir(), 'snapgov-crash-registry-'));
  const port = await new Promise((ok) => {
    const srv = createServer();
    srv.listen(0, '127.0.0.1', () => {
      const { port: p } = srv.address();
      srv.close(() => ok(p));
    });
  });
  registry.host = `127.0.0.1:${port}`;
  writeFileSync(join(dir, 'config.yml'), `version: 0.1\nlog: {level: error}\nstorage: {filesystem: {rootdirectory: ${join(dir, 'data')}}}\nhttp: {addr: "${registry.host}", secret: crash}\n`);
  const child = spawn('docker-registry', ['serve', join(dir, 'config.yml')], { stdio: 'ignore' });
  for (let i = 0; i < 100; i++) {
    const up = await fetch(`http://${registry.host}/v2/`).then(() => true, () => false);
    if (up) break;
    await new Promise((ok) => setTimeout(ok, 100));
  }
  registry.stop = () => {
    child.kill('SIGTERM');
    rmSync(dir, { recursive: true, force: true });
  };
}

/** How long an uninterrupted run takes (the median of three), so random kills land inside it. */
async function calibrate(cmd, r) {
  const times = [];
  for (let i = 0; i < 3; i++) {
    const s = SCENARIOS[cmd](r);
    times.push((await runKilled(s.ws, s.args, null)).ms);
    cleanup(s);
  }
  return times.sort((a, b) => a - b)[1];
}

function cleanup(s) {
  for (const p of [s.ws, ...(s.extra ?? [])]) rmSync(p, { recursive: true, force: true });
}

export async function runTrials({ trials, commands = COMMANDS, seed = 1, log = () => undefined }) {
  const r = seededRandom(seed);
  const results = Object.fromEntries(commands.map((c) => [c, { trials: 0, killed: 0, faultPoints: 0, finished: 0, failures: [] }]));
  if (commands.includes('push') || commands.includes('pull')) await startRegistry();
  try {
    return await trialsWith(r, results, { trials, commands, seed, log });
  } finally {
    registry.stop();
  }
}

async function trialsWith(r, results, { trials, commands, seed, log }) {
  const durations = {};
  for (const c of commands) durations[c] = await calibrate(c, r);

  for (let i = 0; i < trials; i++) {
    const cmd = commands[i % commands.length];
    const res = results[cmd];
    const round = Math.floor(i / commands.length);
    const faults = FAULTS[cmd] ?? [];
    // Every other trial of a command with named steps dies at the next of them in turn; the others at a random moment.
    const fault = faults.length && round % 2 === 1 ? faults[Math.floor(round / 2) % faults.length] : null;
    const s = SCENARIOS[cmd](r);
    // Start-up (loading the CLI) is most of a short run: kills land in its second half and a little beyond.
    const delay = fault ? null : Math.round(durations[cmd] * (0.45 + 0.65 * r()));
    const failures = [];
    try {
      const k = await runKilled(s.ws, s.args, delay, fault ? { SNAPGOV_FAULT: fault } : {});
      res.trials++;
      if (k.killed) fault ? res.faultPoints++ : res.killed++;
      else res.finished++;
      if (k.killed) s.killed?.(failures);
      invariants(s.ws, failures);
      const again = sg(s.ws, s.args);
      if (again.code !== 0) failures.push(`re-running ${cmd} exit ${again.code}: ${again.stderr.trim().split('\n').pop()}`);
      s.after(failures);
      invariants(s.ws, failures);
    } catch (e) {
      failures.push(`harness: ${e.message}`);
    }
    const what = fault ? `fault ${fault}` : `kill after ${delay} ms`;
    if (failures.length) res.failures.push({ trial: i, what, failures, workspace: s.ws });
    else cleanup(s);
    log(`${cmd.padEnd(8)} #${String(i).padStart(4)} ${what.padEnd(28)} ${failures.length ? `FAIL: ${failures.join('; ')}` : 'ok'}`);
  }
  return { seed, trials, durations, results, failures: Object.values(results).reduce((n, x) => n + x.failures.length, 0) };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const opt = (name, def) => {
    const i = args.indexOf(`--${name}`);
    return i === -1 ? def : args[i + 1];
  };
  const summary = await runTrials({
    trials: Number(opt('trials', '21')),
    commands: opt('commands', COMMANDS.join(',')).split(','),
    seed: Number(opt('seed', String(Date.now() % 100000))),
    log: (line) => console.log(line),
  });
  console.log('\n| command | trials | killed at random | killed at a named step | finished first | failures |');
  console.log('|---|---:|---:|---:|---:|---:|');
  for (const [c, x] of Object.entries(summary.results)) console.log(`| ${c} | ${x.trials} | ${x.killed} | ${x.faultPoints} | ${x.finished} | ${x.failures.length} |`);
  console.log(`\nseed ${summary.seed}; ${summary.failures} failure(s)${summary.failures ? ' (workspaces kept for inspection: see above)' : ''}`);
  if (opt('json', null)) writeFileSync(opt('json'), JSON.stringify(summary, null, 2));
  process.exitCode = summary.failures ? 1 : 0;
}
