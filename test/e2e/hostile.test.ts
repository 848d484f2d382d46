import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { createHash, generateKeyPairSync } from 'node:crypto';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync, statSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, relative } from 'node:path';
import { readJsonFile, REPO, run, runJson, sampleWorkspace } from '../helpers/cli.js';
import { writeTar, type Member } from '../helpers/tarball.js';

interface Case {
  id: string;
  input: { kind: string; text?: string; lines?: string[]; mutation?: string; path?: string };
  command: string[];
  exit: number;
  /** Error code on stderr, or the problem code in the report of verify (a regular expression). */
  error: string;
  message: string;
  /** Which snapshots the input itself damages: they are the only ones allowed to fail afterwards. */
  damages: 'none' | 'A' | 'B' | 'hostile' | 'all';
  /** The input is a change `audit verify` must report (a planted, changed or missing statement; a rewritten log). */
  trailDamaged?: boolean;
}

const corpus = JSON.parse(readFileSync(join(REPO, 'test/fixtures/hostile/corpus.json'), 'utf8')) as { cases: Case[] };
const sha = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

/** Every file under `dir` with its hash, skipping the subtrees named in `skip` and the lock folder. */
function files(dir: string, skip: string[] = []): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string) => {
    for (const n of readdirSync(d)) {
      const p = join(d, n);
      const rel = relative(dir, p);
      // Lock files come and go; any command that loads the objects may save the object index.
      if (skip.some((s) => rel === s || rel.startsWith(`${s}/`)) || rel.includes('snapshots/locks') || rel.endsWith('snapshots/cache/object-index')) continue;
      if (statSync(p, { throwIfNoEntry: false })?.isDirectory()) walk(p);
      else out[rel] = sha(readFileSync(p, { flag: 'r' }));
    }
  };
  walk(dir);
  return out;
}

/**
 * One prepared world, copied for every case: a workspace `ws` with snapshot A (holding a 1.5 MiB
 * model stored loose, used by A only) and snapshot B (signed with a Sigstore key), an export of A,
 * an empty second workspace `other`, and key files beside them. Governed: `other` (a reviewer)
 * approved A for staging and `ops` (the operator) promoted it there with run id r1; a checkpoint of
 * the audit log, signed by `other`, lies beside the workspace. `signer` is no principal.
 */
let base = '';
const ids = { A: '', B: '' };
beforeAll(() => {
  base = mkdtempSync(join(tmpdir(), 'snapgov-hostile-'));
  const ws = sampleWorkspace({ 'model.bin': Buffer.alloc(1536 * 1024, 7) });
  cpSync(ws, join(base, 'ws'), { recursive: true, verbatimSymlinks: true });
  const w = join(base, 'ws');
  ids.A = runJson<{ id: string }>(w, ['create']).doc.id;
  rmSync(join(w, 'model.bin'));
  writeFileSync(join(w, 'notes.txt'), 'B\n');
  ids.B = runJson<{ id: string }>(w, ['create']).doc.id;
  for (const name of ['signer', 'other', 'ops']) {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    writeFileSync(join(base, `${name}.key`), privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
    writeFileSync(join(base, `${name}.pub`), publicKey.export({ type: 'spki', format: 'pem' }));
  }
  expect(run(w, ['sign', ids.B, '--sigstore-key', join(base, 'signer.key')]).code).toBe(0);
  const cfg = readJsonFile<Record<string, unknown>>(join(w, 'snapgov.json'));
  writeFileSync(join(w, 'snapgov.json'), JSON.stringify({
    ...cfg,
    principals: { other: { sigstoreKeys: ['../other.pub'] }, ops: { sigstoreKeys: ['../ops.pub'] } },
    roles: { reviewer: ['other'], operator: ['ops'] },
    environments: { staging: { requires: [{ role: 'reviewer' }], rollbackRequires: [{ role: 'reviewer' }] }, production: { requires: [{ role: 'reviewer' }], rollbackRequires: [{ role: 'reviewer' }], after: 'staging', breakGlass: ['other'] } },
  }));
  const approved = run(w, ['approve', ids.A, '--env', 'staging', '--role', 'reviewer', '--sigstore-key', join(base, 'other.key')]);
  expect(approved.code, approved.stderr).toBe(0);
  const promoted = run(w, ['promote', ids.A, '--env', 'staging', '--run-id', 'r1', '--sigstore-key', join(base, 'ops.key')]);
  expect(promoted.code, promoted.stderr).toBe(0);
  expect(run(w, ['audit', 'checkpoint', '--sigstore-key', join(base, 'other.key'), '-o', join(base, 'checkpoint.json')]).code).toBe(0);
  expect(run(w, ['export', ids.A, '-o', join(base, 'a.tar')]).code).toBe(0);
  mkdirSync(join(base, 'other'));
  expect(run(join(base, 'other'), ['init', '--no-index']).code).toBe(0);
}, 60_000);
afterAll(() => rmSync(base, { recursive: true, force: true }));

function archiveMembers(tar: string): Member[] {
  const names = spawnSync('tar', ['-tf', tar], { encoding: 'utf8' }).stdout.trim().split('\n');
  return names.map((path) => ({ path, data: spawnSync('tar', ['-xOf', tar, path], { maxBuffer: 1 << 30 }).stdout as Buffer }));
}

const ARCHIVE: Record<string, (m: Member[]) => Member[]> = {
  traversal: (m) => [...m, { path: '../escape.txt', data: 'x' }],
  absolute: (m) => [...m, { path: '/tmp/escape.txt', data: 'x' }],
  symlink: (m) => [...m.slice(0, 3), { path: 'objects/link', type: 'SymbolicLink', linkpath: '/etc/passwd' }, ...m.slice(3)],
  hardlink: (m) => [...m.slice(0, 3), { path: 'objects/hl', type: 'Link', linkpath: '../../etc/passwd' }],
  device: (m) => [...m.slice(0, 3), { path: 'objects/dev', type: 'CharacterDevice' }],
  duplicate: (m) => [...m, m[3]!],
  'no-metadata': (m) => m.filter((x) => x.path !== 'metadata.json'),
  gigantic: (m) => [...m.slice(0, 3), { path: m[3]!.path, data: '', size: 2 ** 40 }],
};

/** Applies the case's input to a fresh copy of the world; returns the values of the placeholders (and `undo`, to put a moved store folder back). */
function prepare(c: Case, dir: string): Record<string, string> & { undo?: () => void } {
  const ws = join(dir, 'ws');
  // A folder outside the workspace holding a file: what a link may point at, and must never lose.
  mkdirSync(join(dir, 'victim'));
  writeFileSync(join(dir, 'victim', 'keep.txt'), 'not snapgov\'s to delete\n');
  const vars: Record<string, string> & { undo?: () => void } = { '{A}': ids.A, '{B}': ids.B, '{PUB}': join(dir, 'signer.pub'), '{OTHERPUB}': join(dir, 'other.pub'), '{SIGNER}': join(dir, 'signer.key'), '{OTHER}': join(dir, 'other.key'), '{OPS}': join(dir, 'ops.key'), '{CHECKPOINT}': join(dir, 'checkpoint.json') };
  const loose = (id: string) => {
    const m = readFileSync(join(ws, 'snapshots/manifests', `${id.slice(7)}.json`), 'utf8');
    const h = /"path":"model.bin".*"sha256":"([0-9a-f]{64})"/.exec(m)![1]!;
    return join(ws, 'snapshots/objects', h.slice(0, 2), h);
  };
  const i = c.input;
  switch (i.kind) {
    case 'config':
      writeFileSync(join(ws, 'snapgov.json'), i.text!);
      break;
    case 'manifest': {
      // A hostile manifest under its own, consistent ID: what a forged archive or a tampered store holds.
      const bytes = Buffer.from(`{"format":"snapgov-manifest/1","entries":[\n${i.lines!.join(',\n')}\n]}\n`);
      const id = `sha256:${sha(bytes)}`;
      writeFileSync(join(ws, 'snapshots/manifests', `${id.slice(7)}.json`), bytes);
      const md = readJsonFile<Record<string, unknown>>(join(ws, 'metadata', `${ids.B.slice(7)}.json`));
      writeFileSync(join(ws, 'metadata', `${id.slice(7)}.json`), JSON.stringify({ ...md, id, signatures: [] }));
      vars['{HOSTILE}'] = id;
      break;
    }
    case 'object': {
      const p = loose(ids.A);
      if (i.mutation === 'truncate') truncateSync(p, 1000);
      else if (i.mutation === 'zero') truncateSync(p, 0);
      else if (i.mutation === 'delete') rmSync(p);
      else {
        const b = readFileSync(p);
        b[b.length >> 1] ^= 0x10;
        writeFileSync(p, b);
      }
      break;
    }
    case 'pack':
      for (const n of readdirSync(join(ws, 'snapshots/packs'))) truncateSync(join(ws, 'snapshots/packs', n), 100);
      break;
    case 'metadata':
      writeFileSync(join(ws, 'metadata', `${ids.A.slice(7)}.json`), i.text!);
      break;
    case 'archive': {
      const tar = join(dir, 'hostile.tar');
      if (i.mutation === 'garbage') writeFileSync(tar, 'this is not a tar archive at all\n'.repeat(40));
      else writeTar(tar, ARCHIVE[i.mutation!]!(archiveMembers(join(dir, 'a.tar'))));
      vars['{ARCHIVE}'] = tar;
      break;
    }
    case 'signature': {
      const rec = readJsonFile<{ signatures: { file: string }[] }>(join(ws, 'metadata', `${ids.B.slice(7)}.json`)).signatures[0]!;
      const file = join(ws, 'metadata', rec.file);
      vars['{SIGFILE}'] = file;
      if (i.mutation === 'truncate') truncateSync(file, 40);
      if (i.mutation === 'garbage-file') {
        vars['{SIGFILE}'] = join(dir, 'garbage.sig');
        writeFileSync(vars['{SIGFILE}'], 'garbage');
      }
      break;
    }
    case 'audit': {
      const p = join(ws, 'metadata/audit.log');
      const lines = readFileSync(p, 'utf8').trimEnd().split('\n');
      if (i.mutation === 'edit') lines[1] = lines[1]!.replace('"success"', '"failure"');
      else if (i.mutation === 'delete') lines.splice(1, 1);
      else [lines[1], lines[2]] = [lines[2]!, lines[1]!];
      writeFileSync(p, `${lines.join('\n')}\n`);
      break;
    }
    case 'file':
      writeFileSync(join(ws, i.path!), i.text!);
      break;
    case 'none':
      break;
    case 'store-link': {
      // A store folder replaced by a link to the victim; the real folder is put back afterwards.
      const real = join(ws, i.path!);
      const aside = join(dir, 'aside');
      renameSync(real, aside);
      symlinkSync(join(dir, 'victim'), real);
      vars.undo = () => {
        rmSync(real);
        renameSync(aside, real);
      };
      break;
    }
    case 'output-link':
      symlinkSync(join(ws, i.path!), join(dir, 'out-link'));
      vars['{LINK}'] = join(dir, 'out-link');
      break;
    case 'governance': {
      const statements = (id: string) => join(ws, 'metadata/statements', id.slice(7));
      const approval = () => join(statements(ids.A), readdirSync(statements(ids.A))[0]!);
      const pin = join(ws, 'metadata/envs/staging/history/1.json');
      if (i.mutation === 'approval-replayed') {
        mkdirSync(statements(ids.B), { recursive: true });
        cpSync(approval(), join(statements(ids.B), basename(approval())));
      } else if (i.mutation === 'approval-truncated') truncateSync(approval(), 200);
      else if (i.mutation === 'approval-planted') writeFileSync(join(statements(ids.A), `${'e'.repeat(64)}.sigstore.json`), readFileSync(approval(), 'utf8').replace(/"sig": "[^"]*"/, '"sig": "AAAA"'));
      else if (i.mutation === 'pin-edited') writeFileSync(pin, readFileSync(pin, 'utf8').replace('"reason": null', '"reason": "edited"'));
      else if (i.mutation === 'pin-cut') rmSync(pin);
      else if (i.mutation === 'pin-planted') {
        const entry = readJsonFile<Record<string, unknown>>(pin);
        writeFileSync(join(dirname(pin), '2.json'), JSON.stringify({ ...entry, seq: 2, snapshot: ids.B, previous: ids.A, previousEntry: `sha256:${sha(readFileSync(pin))}`, runId: 'planted' }, null, 2));
      } else if (i.mutation === 'decision-deleted') rmSync(join(ws, 'metadata/decisions'), { recursive: true });
      else if (i.mutation === 'log-rewritten') {
        // Line 2 changed, and every later prev and the head recomputed: the chain holds, the checkpoint does not.
        const log = join(ws, 'metadata/audit.log');
        const recs = readFileSync(log, 'utf8').trimEnd().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
        recs[1] = { ...recs[1], reason: 'rewritten' };
        let prev: string | null = null;
        const out = recs.map((r) => {
          const text = JSON.stringify({ ...r, prev });
          prev = `sha256:${sha(text)}`;
          return text;
        });
        writeFileSync(log, `${out.join('\n')}\n`);
        writeFileSync(join(ws, 'metadata/audit.head'), `${JSON.stringify({ seq: out.length, hash: prev })}\n`);
      } else if (i.mutation !== 'none') throw new Error(`unknown governance mutation ${i.mutation}`);
      break;
    }
    case 'rehearsal-file':
      rmSync(join(ws, 'rehearsal'), { recursive: true });
      writeFileSync(join(ws, 'rehearsal'), 'a file where the rehearsal folder should be');
      break;
    default:
      throw new Error(`unknown input kind ${i.kind}`);
  }
  return vars;
}

describe('hostile and broken input (test/fixtures/hostile/corpus.json)', () => {
  it('has at least 80 cases, each with an exit code, an error code and a message pattern', () => {
    expect(corpus.cases.length).toBeGreaterThanOrEqual(80);
    expect(new Set(corpus.cases.map((c) => c.id)).size).toBe(corpus.cases.length);
  });

  it.each(corpus.cases.map((c) => [c.id, c] as const))('%s', (_id, c) => {
    const dir = mkdtempSync(join(tmpdir(), 'snapgov-hostile-case-'));
    try {
      cpSync(base, dir, { recursive: true, verbatimSymlinks: true });
      const vars = prepare(c, dir);
      const cwd = join(dir, c.input.kind === 'archive' ? 'other' : 'ws');
      const outside = files(dir, ['ws', 'other']);
      const otherStore = files(join(dir, 'other'));
      const args = c.command.map((a) => vars[a] ?? a);
      const r = run(cwd, ['--json', ...args]);
      expect(r.code, `${c.id}: ${r.stderr}`).toBe(c.exit);
      const code = new RegExp(`^(?:${c.error})$`);
      const message = new RegExp(c.message);
      if (r.stdout.trim().startsWith('{')) {
        // A check that ran and failed prints its report: the problem is named there.
        const doc = JSON.parse(r.stdout) as { snapshots?: { problems: { code: string; message: string }[]; signatures?: { reason: string }[] }[]; problems?: { message: string }[]; checkpoints?: { problem: string | null }[]; failures?: { code: string; message: string }[]; ignored?: { why: string }[]; statements?: { problem: string | null }[] };
        // verify's report; a promotion's failed conditions and the approvals it did not count; the statements approvals could not use; audit verify's problems and checkpoints
        const problems = doc.snapshots
          ? doc.snapshots.flatMap((s) => s.problems)
          : doc.failures
            ? [...doc.failures, ...(doc.ignored ?? []).map((x) => ({ code: 'IGNORED', message: x.why }))]
            : doc.statements
              ? doc.statements.flatMap((x) => (x.problem ? [{ code: 'STATEMENT', message: x.problem }] : []))
            : [...(doc.problems ?? []).map((p) => ({ code: 'AUDIT', message: p.message })), ...(doc.checkpoints ?? []).flatMap((x) => (x.problem ? [{ code: 'CHECKPOINT', message: x.problem }] : []))];
        const hits = problems.filter((p) => code.test(p.code));
        expect(hits.length, `${c.id}: ${JSON.stringify(problems).slice(0, 500)}`).toBeGreaterThan(0);
        const reasons = doc.snapshots?.flatMap((s) => (s.signatures ?? []).map((x) => x.reason)) ?? [];
        expect([...hits.map((p) => p.message), ...reasons].some((m) => message.test(m)), `${c.id}: ${JSON.stringify(hits).slice(0, 500)}`).toBe(true);
      } else {
        const err = (JSON.parse(r.stderr.trim().split('\n').pop()!) as { error: { code: string; message: string; hint: string } }).error;
        expect(err.code, c.id).toMatch(code);
        expect(err.message, c.id).toMatch(message);
        expect(err.hint, c.id).not.toBe('');
      }
      // nothing written outside the workspace, and an import that failed wrote nothing in its store
      expect(files(dir, ['ws', 'other']), c.id).toEqual(outside);
      vars.undo?.();
      if (c.input.kind === 'archive') expect(files(join(dir, 'other')), c.id).toEqual(otherStore);
      // every snapshot the input did not damage still verifies, byte for byte
      if (c.input.kind === 'config') writeFileSync(join(dir, 'ws/snapgov.json'), readFileSync(join(base, 'ws/snapgov.json')));
      if (c.damages !== 'all') {
        const v = runJson<{ snapshots: { id: string; ok: boolean }[] }>(join(dir, 'ws'), ['verify', '--all', '--read-data']);
        const damaged = c.damages === 'none' ? [] : [vars[`{${c.damages === 'hostile' ? 'HOSTILE' : c.damages}}`]];
        for (const s of v.doc.snapshots) if (!damaged.includes(s.id)) expect(s.ok, `${c.id}: ${s.id} no longer verifies`).toBe(true);
        expect(v.doc.snapshots.map((s) => s.id)).toEqual(expect.arrayContaining([ids.A, ids.B]));
      }
      // and the audit trail still verifies, unless the input was the trail itself
      if (c.input.kind !== 'audit' && !c.trailDamaged) expect(runJson(join(dir, 'ws'), ['audit', 'verify']).code, `${c.id}: audit verify`).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
