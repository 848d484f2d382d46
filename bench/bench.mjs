#!/usr/bin/env node
// snapgov benchmark: every figure beside its baselines, measured side by side in one run.
//   npm run bench [-- --trees medium,small,history] [--scale 0.1] [--pairs 5] [--keep]
//   npm run bench -- --trees million     (1,000,000 files: peak memory of create, verify, rollback --dry-run, prune)
//   npm run bench -- --only rollback     (the rollback and restore rows alone, with the snapshots they need)
//   npm run bench -- --trees fleet       (push and pull of the 1 GiB tree through a local docker-registry, beside curl)
// Baselines: restic and borg when installed (apt-get install restic borgbackup), sha256sum, tar,
// rsync (apt-get install rsync); peak memory needs GNU time (apt-get install time).
import { spawn, spawnSync } from 'node:child_process';
import { createServer } from 'node:net';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { changeOnePercent, generate } from './gen.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const BIN = join(here, '..', 'bin', 'snapgov');
const args = process.argv.slice(2);
const opt = (name, def) => {
  const i = args.indexOf(`--${name}`);
  return i === -1 ? def : args[i + 1];
};
const trees = opt('trees', 'medium,small,history').split(',');
const scale = Number(opt('scale', '1'));
const keep = args.includes('--keep');
const onlyRollback = opt('only', null) === 'rollback';
const WORK = join(here, 'work');

const has = (cmd) => spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
const tools = { restic: has('restic'), borg: has('borg'), rsync: has('rsync'), gnuTime: existsSync('/usr/bin/time') };
for (const [t, ok] of Object.entries(tools)) if (!ok) console.log(`note: ${t} is not installed; its figures are skipped (apt-get install ${t === 'borg' ? 'borgbackup' : t === 'gnuTime' ? 'time' : t})`);

const env = { ...process.env, RESTIC_PASSWORD: 'bench', BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK: 'yes', BORG_RELOCATED_REPO_ACCESS_IS_OK: 'yes', NO_COLOR: '1' };

/** Runs a command, returns seconds (and peak RSS in MB when measured with GNU time). */
function timed(cmd, argv, cwd, { rss = false } = {}) {
  const full = rss && tools.gnuTime ? ['/usr/bin/time', ['-f', '__RSS__%M', cmd, ...argv]] : [cmd, argv];
  const t0 = process.hrtime.bigint();
  const r = spawnSync(full[0], full[1], { cwd, env, encoding: 'utf8', maxBuffer: 1 << 30 });
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  if (r.status !== 0) throw new Error(`${cmd} ${argv.join(' ')} failed (${r.status}): ${r.stderr.slice(-2000)}`);
  const m = /__RSS__(\d+)/.exec(r.stderr ?? '');
  return { s, rssMb: m ? Number(m[1]) / 1024 : null, stdout: r.stdout };
}

/**
 * The conditions of a timed command, the same for both sides: every dirty page written out
 * (`sync`, so no command pays to flush what an earlier one wrote: snapgov's durability barrier
 * would otherwise flush other tools' writes too), then either the page cache dropped (cold: as
 * root; false where that is refused) or the given folders read once (warm: the VM evicts idle pages).
 */
function condition(mode, dirs) {
  spawnSync('sync');
  if (mode === 'warm') {
    for (const d of dirs) spawnSync('sh', ['-c', 'tar -cf - . | cat > /dev/null'], { cwd: d });
    return true;
  }
  try {
    writeFileSync('/proc/sys/vm/drop_caches', '3\n');
    return true;
  } catch {
    return false;
  }
}
const warm = (dir) => condition('warm', [dir]);

/**
 * Timing noise on this VM is 20–50%: the rollback rows time the sides alternately, `PAIRS` times,
 * and keep medians. Which side runs first rotates every round: timed by hand, the first of two
 * alternating commands came out slower, whichever it was.
 */
const PAIRS = Number(opt('pairs', '5'));
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
function alternated(fns) {
  const times = fns.map(() => []);
  for (let i = 0; i < PAIRS; i++) for (let k = 0; k < fns.length; k++) {
    const j = (i + k) % fns.length;
    times[j].push(fns[j]());
  }
  return { medians: times.map(median), runs: `median of ${PAIRS}` };
}
function paired(a, b) {
  const { medians, runs } = alternated([a, b]);
  return { a: medians[0], b: medians[1], runs };
}
const f = (x) => (x === undefined ? '—' : `${x.toFixed(2)} s`);

// Run as the installed command (npm links bin/snapgov; a shell or cron job executes it), not as
// `node bin/snapgov`: its shell part decides what Node starts with (see bin/snapgov).
const sg = (argv, cwd, o) => timed(BIN, argv, cwd, o);

/** The generated tree of a kind, reused between runs at the same scale (generating takes minutes). */
function generatedTree(kind) {
  const dir = join(WORK, kind);
  const src = join(dir, 'tree');
  const marker = join(dir, 'generated.json');
  if (existsSync(marker) && JSON.parse(readFileSync(marker, 'utf8')).scale === scale) return { dir, src, gen: JSON.parse(readFileSync(marker, 'utf8')) };
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(src, { recursive: true });
  console.log(`generating ${kind} tree (scale ${scale}) ...`);
  const gen = { scale, ...generate(kind, src, scale) };
  writeFileSync(marker, JSON.stringify(gen));
  return { dir, src, gen };
}

const rows = [];
function row(tree, op, snapgov, base, target, note = '') {
  rows.push({ tree, op, snapgov, ...base, target, note });
}
/** The create rows, left out with --only rollback (whose creates only make the snapshots it needs). */
const createRow = (...a) => (onlyRollback ? undefined : row(...a));

// Phase 1 (create, verify) runs on every tree before phase 2 (rollback), whose mass deletions slow
// file creation on this filesystem for minutes afterwards (see the performance notes).
const states = [];
for (const tree of trees.filter((t) => t === 'medium' || t === 'small')) {
  const { dir, src, gen } = generatedTree(tree);
  // Reset every store, and the tree to its generated state.
  changeOnePercent(src, gen.paths, 'reset');
  for (const d of ['sg', 'restic', 'borg', 'tar', 'rsync-copy', 'restic-cache']) rmSync(join(dir, d), { recursive: true, force: true });
  const st = join(dir, 'sg');
  for (const d of ['snapshots', 'metadata', 'rehearsal']) mkdirSync(join(st, d), { recursive: true });
  writeFileSync(join(src, 'snapgov.json'), JSON.stringify({ version: 1, index: tree === 'medium' ? { path: 'artifacts/index.json' } : null, store: { snapshots: join(st, 'snapshots'), metadata: join(st, 'metadata'), rehearsal: join(st, 'rehearsal') } }));
  const restic = ['-r', join(dir, 'restic'), '--cache-dir', join(dir, 'restic-cache'), '--quiet'];
  const borgRepo = join(dir, 'borg');
  if (tools.restic) timed('restic', [...restic, 'init'], dir);
  if (tools.borg) timed('borg', ['init', '-e', 'none', borgRepo], dir);
  let borgN = 0;
  const baselines = (first = false) => {
    const b = {};
    if (onlyRollback && !first) return b;
    if (tools.restic) (warm(src), (b.restic = timed('restic', [...restic, 'backup', '.'], src).s));
    if (tools.borg && !onlyRollback) (warm(src), (b.borg = timed('borg', ['create', `${borgRepo}::s${borgN++}`, '.'], src).s));
    return b;
  };
  console.log(`\n== ${tree}: ${gen.files} files, ${(gen.bytes / 2 ** 30).toFixed(2)} GiB`);

  warm(src);
  const first = sg(['create', '-q'], src, { rss: true });
  const b1 = baselines(true);
  if (!onlyRollback) {
    warm(src);
    mkdirSync(join(dir, 'tar'), { recursive: true });
    b1.plain = timed('tar', ['-cf', join(dir, 'tar', 'tree.tar'), '.'], src).s;
    b1.plainName = 'tar -cf';
    rmSync(join(dir, 'tar'), { recursive: true, force: true });
  }
  createRow(tree, 'first create', first.s, b1, { ratio: 0.6, of: 'restic' }, `peak ${first.rssMb?.toFixed(0) ?? '?'} MB`);

  warm(src);
  const same = sg(['create', '-q'], src, { rss: true });
  const b2 = baselines();
  if (tools.rsync) {
    timed('rsync', ['-a', '--delete', `${src}/`, join(dir, 'rsync-copy')], dir);
    warm(src);
    b2.plain = timed('rsync', ['-a', '--delete', `${src}/`, join(dir, 'rsync-copy')], dir).s;
    b2.plainName = 'rsync no-op';
    // rsync-copy now holds the unchanged tree: the reference for the rollback comparison below
  }
  createRow(tree, 'create, unchanged', same.s, b2, { ratio: 0.5, of: 'min' }, `peak ${same.rssMb?.toFixed(0) ?? '?'} MB`);

  const changed = changeOnePercent(src, gen.paths, 1);
  warm(src);
  const delta = sg(['create', '-q'], src, { rss: true });
  const b3 = baselines();
  createRow(tree, `create, 1% changed (${changed} files)`, delta.s, b3, { ratio: 0.5, of: 'min' }, `peak ${delta.rssMb?.toFixed(0) ?? '?'} MB`);

  if (!onlyRollback) {
    warm(join(st, 'snapshots'));
    const ver = sg(['verify', '--all', '--read-data', '-q'], src, { rss: true });
    const b4 = {};
    if (tools.restic) (warm(join(dir, 'restic')), (b4.restic = timed('restic', [...restic, 'check', '--read-data'], dir).s));
    warm(src);
    b4.plain = timed('sh', ['-c', 'find . -type f -print0 | xargs -0 sha256sum > /dev/null'], src).s;
    b4.plainName = 'sha256sum';
    row(tree, 'verify --read-data', ver.s, b4, { ratio: 0.5, of: 'plain', also: { ratio: 0.7, of: 'restic' } }, `peak ${ver.rssMb?.toFixed(0) ?? '?'} MB`);
  }
  states.push({ tree, dir, src, st, gen, restic });
}

const canDropCaches = condition('cold', []);
if (!canDropCaches) console.log('note: the page cache cannot be dropped here (needs root): the cold rows are skipped');
const MODES = canDropCaches ? ['cold', 'warm'] : ['warm'];

for (const { tree, dir, src, st, gen, restic } of states) {
  // ---- rollback, with fixed snapshots: s0 is the generated tree, and the 1% change (seed 1) makes
  // the tree of the third snapshot. snapgov rolls the changed tree back to s0; rsync repairs the
  // same change from a copy of s0 (rsync-copy), plainly and with --fsync (durable, as snapgov is).
  const ids = JSON.parse(sg(['--json', 'list'], src).stdout).snapshots.map((x) => x.id);
  const s0 = ids[ids.length - 1];
  const copy = `${join(dir, 'rsync-copy')}/`;
  const store = join(st, 'snapshots');
  for (const mode of MODES) {
    let rbRss = 0;
    const rollbackOnce = () => {
      changeOnePercent(src, gen.paths, 1);
      condition(mode, [src, store]);
      const r = sg(['rollback', s0, '--yes', '-q'], src, { rss: true });
      rbRss = Math.max(rbRss, r.rssMb ?? 0);
      return r.s;
    };
    const rsyncOnce = (extra) => () => {
      if (!tools.rsync) return NaN;
      changeOnePercent(src, gen.paths, 1);
      condition(mode, [src, copy]);
      return timed('rsync', ['-a', '--delete', ...extra, copy, `${src}/`], dir).s;
    };
    const { medians: [sgS, plainS, durableS], runs } = alternated([rollbackOnce, rsyncOnce([]), rsyncOnce(['--fsync'])]);
    const b5 = tools.rsync ? { plain: plainS, plainName: 'rsync -a --delete' } : {};
    row(tree, `rollback after 1% changed, ${mode}`, sgS, b5, { ratio: 2, of: 'plain' }, `${runs}; rsync -a --delete --fsync ${f(durableS)} (${(sgS / durableS).toFixed(2)}×); peak ${rbRss.toFixed(0)} MB`);
  }

  const dry = paired(
    () => (condition('warm', [src, store]), sg(['rollback', s0, '--dry-run', '-q'], src).s),
    () => NaN,
  );
  row(tree, 'rollback --dry-run, unchanged tree, warm', dry.a, {}, { ratio: Infinity, of: 'none', seconds: tree === 'medium' ? 0.5 : undefined }, dry.runs);

  // ---- full restore into the emptied tree, beside restic's restore into an empty folder and, cold,
  // the read of the store's data files (objects and packs) with cat: the floor of any restore.
  const snaps = tools.restic ? JSON.parse(timed('restic', [...restic, 'snapshots', '--json'], dir).stdout) : [];
  for (const mode of MODES) {
    let fullRss = 0;
    const full = paired(
      () => {
        for (const name of readdirSync(src)) if (name !== 'snapgov.json') rmSync(join(src, name), { recursive: true, force: true });
        condition(mode, [store]);
        const r = sg(['rollback', s0, '--yes', '-q'], src, { rss: true });
        fullRss = Math.max(fullRss, r.rssMb ?? 0);
        return r.s;
      },
      () => {
        if (!tools.restic) return NaN;
        rmSync(join(dir, 'restic-restore'), { recursive: true, force: true });
        condition(mode, [join(dir, 'restic')]);
        return timed('restic', [...restic, 'restore', snaps[0].id, '--target', join(dir, 'restic-restore')], dir).s;
      },
    );
    rmSync(join(dir, 'restic-restore'), { recursive: true, force: true });
    const base = tools.restic ? { restic: full.b } : {};
    if (mode === 'cold') {
      // Two floors: reading the store's bytes (cat), and making the same tree durably with plain
      // tools (cp -a of a copy of the snapshot's tree, then syncfs).
      const copyTo = join(dir, 'cp-floor');
      const floor = paired(
        () => (condition('cold', []), timed('sh', ['-c', 'find objects packs -type f -exec cat {} + > /dev/null'], store).s),
        () => {
          rmSync(copyTo, { recursive: true, force: true });
          condition('cold', []);
          return timed('sh', ['-c', `cp -a '${copy}' '${copyTo}' && sync -f '${copyTo}'`], dir).s;
        },
      );
      rmSync(copyTo, { recursive: true, force: true });
      row(tree, 'full restore (rollback of an empty tree), cold', full.a, { ...base, plain: floor.a, plainName: 'cat of the store' }, { ratio: 1.3, of: 'plain', also: { ratio: 0.7, of: 'restic' } }, `${full.runs}; the tree made durably with cp -a + sync -f ${f(floor.b)}: ${(full.a / floor.b).toFixed(2)}×; peak ${fullRss.toFixed(0)} MB`);
    } else {
      row(tree, 'full restore (rollback of an empty tree), warm', full.a, base, { ratio: 0.7, of: 'restic' }, `${full.runs}; peak ${fullRss.toFixed(0)} MB`);
    }
  }

  // ---- rehearsal of the 1 GiB tree, all scenarios, beside a plain `cp -a` restore of the same tree
  if (tree === 'medium' && !onlyRollback) {
    warm(join(st, 'snapshots'));
    const t0 = process.hrtime.bigint();
    const r = spawnSync(BIN, ['--json', 'rehearse', s0, '--seed', '1'], { cwd: src, env, encoding: 'utf8', maxBuffer: 1 << 30 });
    const total = Number(process.hrtime.bigint() - t0) / 1e9;
    const rep = JSON.parse(r.stdout);
    const mean = (k) => rep.scenarios.reduce((n, x) => n + x.phases[k], 0) / rep.scenarios.length / 1000;
    warm(src);
    const cp = timed('cp', ['-a', src, join(dir, 'cp-copy')], dir).s;
    rmSync(join(dir, 'cp-copy'), { recursive: true, force: true });
    const phases = ['restore', 'inject', 'detect', 'rollback', 'verify', 'gates'].map((k) => `${k} ${mean(k).toFixed(2)} s`).join(', ');
    row(tree, `rehearse, ${rep.scenarios.length} scenarios (${rep.ok ? 'passed' : 'FAILED'}): total`, total, {}, { ratio: Infinity, of: 'none' }, `mean per scenario: ${phases}`);
    row(tree, 'rehearse: restore phase (mean)', mean('restore'), { plain: cp, plainName: 'cp -a' }, { ratio: null, of: 'plain' }, '');
    row(tree, 'rehearse: recovery (slowest scenario)', rep.totals.maxRecoveryMs / 1000, {}, { ratio: Infinity, of: 'none' }, `SLA ${rep.sla.recoverySeconds} s`);
  }
  rmSync(join(dir, 'rsync-copy'), { recursive: true, force: true });
  if (!keep) for (const d of ['sg', 'restic', 'borg', 'restic-cache']) rmSync(join(dir, d), { recursive: true, force: true });
}

// ---- prune: 100 snapshots sharing a 10,000-file tree (1% of the files change between snapshots),
// pruned to the newest 20, beside `restic forget --prune` of the same history. Last, because its
// deletions slow the filesystem like the rollback rows.
if (trees.includes('history')) {
  const dir = join(WORK, 'history');
  const src = join(dir, 'tree');
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(src, { recursive: true });
  const gen = generate('history', src, scale);
  const st = join(dir, 'sg');
  for (const d of ['snapshots', 'metadata', 'rehearsal']) mkdirSync(join(st, d), { recursive: true });
  writeFileSync(join(src, 'snapgov.json'), JSON.stringify({ version: 1, index: null, store: { snapshots: join(st, 'snapshots'), metadata: join(st, 'metadata'), rehearsal: join(st, 'rehearsal') } }));
  const restic = ['-r', join(dir, 'restic'), '--cache-dir', join(dir, 'restic-cache'), '--quiet'];
  if (tools.restic) timed('restic', [...restic, 'init'], dir);
  console.log(`\n== history: 100 snapshots of ${gen.files} files, ${(gen.bytes / 2 ** 20).toFixed(0)} MiB`);
  for (let n = 0; n < 100; n++) {
    if (n > 0) changeOnePercent(src, gen.paths, 1000 + n);
    const time = new Date(Date.UTC(2026, 0, 1) + n * 3_600_000).toISOString();
    sg(['create', '-q', '--time', time], src);
    if (tools.restic) timed('restic', [...restic, 'backup', '--time', time.slice(0, 19).replace('T', ' '), '.'], src);
  }
  warm(join(st, 'snapshots'));
  const pr = sg(['prune', '--keep-last', '20', '-q'], src, { rss: true });
  const b7 = {};
  if (tools.restic) (warm(join(dir, 'restic')), (b7.restic = timed('restic', [...restic, 'forget', '--keep-last', '20', '--prune'], dir).s));
  const left = JSON.parse(sg(['--json', 'list'], src).stdout).snapshots.length;
  row('history', `prune 100 → 20 snapshots (${left} left)`, pr.s, b7, { ratio: null, of: 'restic' }, `peak ${pr.rssMb?.toFixed(0) ?? '?'} MB`);
  if (!keep) rmSync(dir, { recursive: true, force: true });
}

// ---- scale: 1,000,000 small files; each command's peak memory against 1.5 GB (GNU time needed)
if (trees.includes('million')) {
  const { dir, src, gen } = generatedTree('million');
  changeOnePercent(src, gen.paths, 'reset');
  const st = join(dir, 'sg');
  rmSync(st, { recursive: true, force: true });
  for (const d of ['snapshots', 'metadata', 'rehearsal']) mkdirSync(join(st, d), { recursive: true });
  writeFileSync(join(src, 'snapgov.json'), JSON.stringify({ version: 1, index: null, store: { snapshots: join(st, 'snapshots'), metadata: join(st, 'metadata'), rehearsal: join(st, 'rehearsal') } }));
  console.log(`\n== million: ${gen.files} files, ${(gen.bytes / 2 ** 20).toFixed(0)} MiB`);
  const limit = { ratio: Infinity, of: 'none' };
  const mem = (label, argv) => {
    warm(src);
    const r = sg(argv, src, { rss: true });
    row('million', label, r.s, {}, limit, `peak ${r.rssMb?.toFixed(0) ?? '?'} MB (target < 1536 MB)`);
    return r;
  };
  mem('create', ['create', '-q']);
  changeOnePercent(src, gen.paths, 1);
  mem('create, 1% changed', ['create', '-q']);
  mem('verify --all --read-data', ['verify', '--all', '--read-data', '-q']);
  const first = JSON.parse(sg(['--json', 'list'], src).stdout).snapshots.at(-1).id;
  mem('rollback --dry-run (1% differs)', ['rollback', first, '--dry-run', '-q']);
  mem('prune 1', ['prune', '1', '-q']);
  if (!keep) rmSync(st, { recursive: true, force: true });
}

// ---- fleet: push and pull of the 10k-file / 1 GiB tree through a docker-registry on loopback,
// beside curl moving the same number of bytes as one blob to and from the same registry; then the
// bytes an incremental push and pull move after a 1% change, against the bytes that changed.
async function freePort() {
  return new Promise((ok) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => ok(port));
    });
  });
}
if (trees.includes('fleet') && has('docker-registry') && has('curl')) {
  const { dir, src, gen } = generatedTree('medium');
  changeOnePercent(src, gen.paths, 'reset');
  const st = join(dir, 'sg-fleet');
  const regDir = join(dir, 'registry');
  for (const d of [st, regDir, join(dir, 'host')]) rmSync(d, { recursive: true, force: true });
  for (const d of ['snapshots', 'metadata', 'rehearsal']) mkdirSync(join(st, d), { recursive: true });
  writeFileSync(join(src, 'snapgov.json'), JSON.stringify({ version: 1, index: null, store: { snapshots: join(st, 'snapshots'), metadata: join(st, 'metadata'), rehearsal: join(st, 'rehearsal') } }));
  mkdirSync(regDir, { recursive: true });
  const host = `127.0.0.1:${await freePort()}`;
  writeFileSync(join(regDir, 'config.yml'), `version: 0.1\nlog: {level: error}\nstorage: {filesystem: {rootdirectory: ${join(regDir, 'data')}}}\nhttp: {addr: "${host}", secret: bench}\n`);
  const reg = spawn('docker-registry', ['serve', join(regDir, 'config.yml')], { stdio: 'ignore' });
  try {
    for (let i = 0; i < 100 && spawnSync('curl', ['-sf', `http://${host}/v2/`]).status !== 0; i++) spawnSync('sleep', ['0.1']);
    console.log(`\n== fleet: ${gen.files} files, ${(gen.bytes / 2 ** 30).toFixed(2)} GiB, registry ${host}`);
    sg(['create', '-q'], src);
    const remote = `oci://${host}/bench/tree:prod`;
    // The sides alternate PAIRS times (medians kept): every push goes to a new repository (nothing
    // there to skip), every pull into a new store; curl uploads to a new repository too.
    const pushedOnce = JSON.parse(sg(['--json', 'push', remote], src).stdout).pushes[0];
    const blob = join(dir, 'one-blob.bin');
    spawnSync('sh', ['-c', `head -c ${pushedOnce.blobs.uploadedBytes} /dev/urandom > '${blob}'`]);
    const digest = `sha256:${spawnSync('sha256sum', [blob], { encoding: 'utf8' }).stdout.split(' ')[0]}`;
    let n = 0;
    let blobRepo = '';
    const seconds = (fn) => {
      const t = process.hrtime.bigint();
      fn();
      return Number(process.hrtime.bigint() - t) / 1e9;
    };
    const push = paired(
      () => (warm(join(st, 'snapshots')), seconds(() => sg(['push', `oci://${host}/bench/push${++n}`, '-q'], src))),
      () => (warm(dir), (blobRepo = `bench/blob${++n}`), timed('sh', ['-c', `loc=$(curl -sfi -X POST http://${host}/v2/${blobRepo}/blobs/uploads/ | tr -d '\\r' | sed -n 's/^[Ll]ocation: //p') && curl -sf -T '${blob}' -H 'Content-Type: application/octet-stream' "$loc&digest=${digest}"`], dir).s),
    );
    row('fleet', `first push (${(pushedOnce.blobs.uploadedBytes / 2 ** 20).toFixed(0)} MiB in ${pushedOnce.blobs.uploaded} blobs)`, push.a, { plain: push.b, plainName: 'curl -T, one blob' }, { ratio: 1.5, of: 'plain' }, push.runs);
    // full pull into an empty store, beside curl downloading the one blob (made durable, as the pull is)
    let pulled;
    const pull = paired(
      () => {
        const h = join(dir, `host-${++n}`);
        mkdirSync(h, { recursive: true });
        sg(['init', '--no-index', '-q'], h);
        condition('warm', []);
        const s2 = seconds(() => (pulled = JSON.parse(sg(['--json', 'pull', remote], h).stdout)));
        rmSync(h, { recursive: true, force: true });
        return s2;
      },
      () => {
        condition('warm', []);
        const s2 = timed('sh', ['-c', `curl -sf -o '${join(dir, 'one-blob.out')}' http://${host}/v2/${blobRepo}/blobs/${digest} && sync -f '${join(dir, 'one-blob.out')}'`], dir).s;
        rmSync(join(dir, 'one-blob.out'), { force: true });
        return s2;
      },
    );
    row('fleet', `full pull into an empty store (${(pulled.downloadedBytes / 2 ** 20).toFixed(0)} MiB)`, pull.a, { plain: pull.b, plainName: 'curl, one blob + sync' }, { ratio: 1.5, of: 'plain' }, pull.runs);
    rmSync(blob, { force: true });
    const hostWs = join(dir, 'host');
    mkdirSync(hostWs, { recursive: true });
    sg(['init', '--no-index', '-q'], hostWs);
    sg(['pull', remote, '-q'], hostWs);
    for (const f of [blob, join(dir, 'one-blob.out')]) rmSync(f, { force: true });
    // 1% changed: what the push uploads and the pull downloads, against the bytes that changed
    changeOnePercent(src, gen.paths, 1);
    const created = JSON.parse(sg(['--json', 'create'], src).stdout);
    const changedBytes = created.newBytes;
    // The snapshot's own manifest (one line per file) travels with every push and pull of a new snapshot.
    const manifestBytes = statSync(join(st, 'snapshots/manifests', `${created.id.slice(7)}.json`)).size;
    const t2 = process.hrtime.bigint();
    const inc = JSON.parse(sg(['--json', 'push', remote], src).stdout).pushes[0];
    const incS = Number(process.hrtime.bigint() - t2) / 1e9;
    rows.push({ tree: 'fleet', op: `push after 1% changed (${created.newObjects} objects, ${(changedBytes / 1024).toFixed(0)} KiB)`, snapgov: incS, target: { of: 'bytes', ratio: 3 }, bytes: { moved: inc.blobs.uploadedBytes, changed: changedBytes }, note: `packs reused ${inc.packs.reused}, new ${inc.packs.written}; of it the new snapgov manifest ${(manifestBytes / 1024).toFixed(0)} KiB, which travels whole once (its digest is the ID): without it ${((inc.blobs.uploadedBytes - manifestBytes) / changedBytes).toFixed(2)}×` });
    const t3 = process.hrtime.bigint();
    const incPull = JSON.parse(sg(['--json', 'pull', remote], hostWs).stdout);
    const incPullS = Number(process.hrtime.bigint() - t3) / 1e9;
    rows.push({ tree: 'fleet', op: 'pull after 1% changed, onto the previous snapshot', snapgov: incPullS, target: { of: 'bytes', ratio: 3 }, bytes: { moved: incPull.downloadedBytes, changed: changedBytes }, note: `${incPull.newObjects} new objects; the ${(manifestBytes / 1024).toFixed(0)} KiB manifest rebuilt from its delta against the previous snapshot (the rest: the config, the newest pack indexes, the objects)` });
  } finally {
    reg.kill('SIGTERM');
    if (!keep) for (const d of [st, regDir, join(dir, 'host')]) rmSync(d, { recursive: true, force: true });
  }
}

// ---- report
function check(r, t) {
  if (t.of === 'bytes') {
    const ratio = r.bytes.moved / r.bytes.changed;
    return { text: `${(r.bytes.moved / 1024).toFixed(0)} KiB moved = ${ratio.toFixed(2)}× the changed bytes (target ≤ ${t.ratio}×)`, ok: ratio <= t.ratio };
  }
  if (t.of === 'none') return t.seconds === undefined ? { text: 'no target', ok: null } : { text: `${f(r.snapgov)} (target < ${t.seconds} s)`, ok: r.snapgov < t.seconds };
  const base = t.of === 'min' ? Math.min(...[r.restic, r.borg].filter((x) => x !== undefined)) : r[t.of];
  if (base === undefined || !Number.isFinite(base)) return { text: `n/a (no ${t.of})`, ok: null };
  const ratio = r.snapgov / base;
  const name = t.of === 'min' ? 'faster of restic/borg' : t.of === 'plain' ? r.plainName : t.of;
  if (t.ratio === null) return { text: `${ratio.toFixed(2)}× ${name} (no target)`, ok: null };
  return { text: `${ratio.toFixed(2)}× ${name} (target ≤ ${t.ratio}×)`, ok: ratio <= t.ratio };
}
console.log('\n| tree | operation | snapgov | restic | borg | plain tool | ratio vs target | ok | note |');
console.log('|---|---|---:|---:|---:|---:|---|---|---|');
const results = [];
for (const r of rows) {
  const checks = [check(r, r.target), ...(r.target.also ? [check(r, r.target.also)] : [])];
  const ok = checks.every((c) => c.ok !== false);
  results.push({ ...r, checks });
  console.log(`| ${r.tree} | ${r.op} | ${f(r.snapgov)} | ${f(r.restic)} | ${f(r.borg)} | ${r.plain !== undefined ? `${r.plainName} ${f(r.plain)}` : '—'} | ${checks.map((c) => c.text).join('; ')} | ${ok ? 'yes' : 'NO'} | ${r.note} |`);
}
const small = rows.find((r) => r.tree === 'small' && r.op === 'first create');
const million = rows.filter((r) => r.tree === 'million');
if (million.length) console.log(`\npeak memory at 1,000,000 files (target < 1.5 GB): ${million.map((r) => `${r.op}: ${r.note.replace(' (target < 1536 MB)', '')}`).join('; ')}`);
mkdirSync(WORK, { recursive: true });
writeFileSync(join(WORK, 'results.json'), JSON.stringify({ date: new Date().toISOString(), scale, tools, results }, null, 2));
if (small) console.log(`\npeak memory target (< 300 MB on the 100,000-file tree): ${rows.filter((r) => r.tree === 'small').map((r) => r.note).join(', ')}`);
console.log(`results written to ${join(WORK, 'results.json')}`);
