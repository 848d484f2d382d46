// Approvals by role, with real GnuPG keys for the people and a Sigstore key for a machine.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { lineHash } from '../../src/core/audit-chain.js';
import { readJsonFile, run, runJson, sampleWorkspace, tempDir } from '../helpers/cli.js';

interface Approved {
  id: string;
  environment: string;
  role: string;
  verdict: string;
  principal: string;
  signer: string;
  file: string;
  digest: string;
}
interface Approvals {
  editors: string[];
  statements: { file: string; valid: boolean; problem: string | null; principal: string | null; verdict: string | null }[];
  environments: { name: string; decision: string; failures: { code: string }[]; slots: { role: string; principals: string[] }[]; ignored: { ref: string; why: string }[] }[];
}

const PEOPLE = ['eve', 'rita', 'anna', 'mallory'];
let home: string;
let keys: string;
const gpg = (args: string[]) => spawnSync('gpg', ['--homedir', home, '--batch', '--yes', '--pinentry-mode', 'loopback', '--passphrase', '', ...args], { encoding: 'utf8' });

// Made once for the file (tempDir's folders go after each test).
beforeAll(() => {
  home = mkdtempSync(join(tmpdir(), 'snapgov-gnupg-'));
  chmodSync(home, 0o700);
  keys = mkdtempSync(join(tmpdir(), 'snapgov-keys-'));
  for (const p of PEOPLE) {
    expect(gpg(['--quick-gen-key', `${p} <${p}@example.com>`, 'ed25519', 'sign', 'never']).status).toBe(0);
    const fpr = /fpr:+([0-9A-F]{40}):/.exec(gpg(['--with-colons', '--list-keys', `${p}@example.com`]).stdout)![1]!;
    writeFileSync(join(keys, `${p}.pub.asc`), gpg(['--armor', '--export', fpr]).stdout);
    writeFileSync(join(keys, `${p}.sec.asc`), gpg(['--armor', '--export-secret-keys', fpr]).stdout);
  }
  expect(run(tempDir(), ['keygen', '--sigstore', '-o', join(keys, 'ci')]).code).toBe(0);
});

afterAll(() => {
  spawnSync('gpgconf', ['--homedir', home, '--kill', 'gpg-agent']);
  for (const d of [home, keys]) rmSync(d, { recursive: true, force: true });
});

/** A signed snapshot in a workspace whose config names the principals, roles and two environments. */
function governed(): { ws: string; id: string } {
  const ws = sampleWorkspace();
  const cfg = readJsonFile<Record<string, unknown>>(join(ws, 'snapgov.json'));
  const principals = Object.fromEntries(['eve', 'rita', 'anna'].map((p) => [p, { pgpKeys: [join(keys, `${p}.pub.asc`)] }]));
  writeFileSync(join(ws, 'snapgov.json'), JSON.stringify({
    ...cfg,
    principals: { ...principals, ci: { sigstoreKeys: [join(keys, 'ci.pub')] } },
    roles: { editor: ['eve'], reviewer: ['rita', 'ci'], approver: ['anna', 'eve'], operator: ['ci'] },
    environments: { staging: { requires: [{ role: 'reviewer' }] }, production: { requires: [{ role: 'reviewer' }, { role: 'approver' }], after: 'staging', breakGlass: ['anna'] } },
  }));
  const id = runJson<{ id: string }>(ws, ['create']).doc.id;
  const signed = run(ws, ['sign', id, '--pgp-key', join(keys, 'eve.sec.asc')]);
  expect(signed.code, signed.stderr).toBe(0);
  return { ws, id };
}

const key = (p: string) => ['--pgp-key', join(keys, `${p}.sec.asc`)];
const statementFiles = (ws: string, id: string) => (existsSync(join(ws, 'metadata/statements', id.slice(7))) ? readdirSync(join(ws, 'metadata/statements', id.slice(7))) : []);

describe('approvals', () => {
  it('records a signed approval that gpg can check by hand, and the policy counts it', () => {
    const { ws, id } = governed();
    const a = runJson<Approved>(ws, ['approve', id, '--env', 'staging', '--role', 'reviewer', '--reason', 'CHG-7', ...key('rita')]);
    expect(a.code, a.stderr).toBe(0);
    expect(a.doc).toMatchObject({ id, environment: 'staging', role: 'reviewer', verdict: 'approve', principal: 'rita' });
    const path = join(ws, 'metadata', a.doc.file);
    expect(existsSync(path)).toBe(true);
    // The README's recipe: the pre-authentication bytes by hand, the binary signature, gpg --verify.
    const env = JSON.parse(readFileSync(path, 'utf8')) as { payloadType: string; payload: string; signatures: { sig: string }[] };
    const payload = Buffer.from(env.payload, 'base64');
    const dir = tempDir();
    writeFileSync(join(dir, 'pae.bin'), Buffer.concat([Buffer.from(`DSSEv1 ${env.payloadType.length} ${env.payloadType} ${payload.length} `), payload]));
    writeFileSync(join(dir, 'sig.bin'), Buffer.from(env.signatures[0]!.sig, 'base64'));
    expect(gpg(['--verify', join(dir, 'sig.bin'), join(dir, 'pae.bin')]).status).toBe(0);
    const st = JSON.parse(payload.toString()) as { subject: { digest: { sha256: string } }[]; predicateType: string; predicate: Record<string, unknown> };
    expect(st.subject[0]!.digest.sha256).toBe(id.slice(7));
    expect(st.predicateType).toBe('https://snapgov.dev/attestation/approval/v1');
    expect(st.predicate).toMatchObject({ environment: 'staging', role: 'reviewer', verdict: 'approve', reason: 'CHG-7' });
    const log = readFileSync(join(ws, 'metadata/audit.log'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { action: string; details?: { statement?: string } });
    expect(log.at(-1)).toMatchObject({ action: 'approve', details: { statement: a.doc.digest } });
    const list = runJson<Approvals>(ws, ['approvals', id]);
    expect(list.code).toBe(0);
    expect(list.doc.editors).toEqual(['eve']);
    expect(list.doc.environments.find((e) => e.name === 'staging')).toMatchObject({ decision: 'allow', slots: [{ role: 'reviewer', principals: ['rita'] }] });
    // production: an approval for staging fills no slot there, and staging comes first
    expect(list.doc.environments.find((e) => e.name === 'production')!.failures.map((f) => f.code)).toEqual(['APPROVALS_MISSING', 'APPROVALS_MISSING', 'PATH_SKIPPED']);
    expect(run(ws, ['audit', 'verify']).code).toBe(0);
  });

  it('signs with a Sigstore key too: a bundle holding a DSSE envelope', () => {
    const { ws, id } = governed();
    const a = runJson<Approved>(ws, ['approve', id, '--env', 'staging', '--role', 'reviewer', '--sigstore-key', join(keys, 'ci.key')]);
    expect(a.code, a.stderr).toBe(0);
    expect(a.doc.principal).toBe('ci');
    expect(a.doc.file).toMatch(/\.sigstore\.json$/);
    const bundle = JSON.parse(readFileSync(join(ws, 'metadata', a.doc.file), 'utf8')) as { mediaType: string; dsseEnvelope: { payloadType: string } };
    expect(bundle.mediaType).toBe('application/vnd.dev.sigstore.bundle.v0.3+json');
    expect(bundle.dsseEnvelope.payloadType).toBe('application/vnd.in-toto+json');
    expect(runJson<Approvals>(ws, ['approvals', id, '--env', 'staging']).doc.environments[0]!.decision).toBe('allow');
  });

  it('refuses a signer without the role, and one who is no principal, writing nothing', () => {
    const { ws, id } = governed();
    const before = readFileSync(join(ws, 'metadata/audit.log'), 'utf8');
    const wrongRole = runJson(ws, ['approve', id, '--env', 'staging', '--role', 'reviewer', ...key('anna')]);
    expect(wrongRole.code).toBe(1);
    expect(wrongRole.error).toMatchObject({ code: 'NOT_AUTHORIZED', message: expect.stringContaining('anna does not hold the role reviewer') });
    const stranger = runJson(ws, ['approve', id, '--env', 'staging', '--role', 'reviewer', ...key('mallory')]);
    expect(stranger.code).toBe(1);
    expect(stranger.error?.message).toContain('belongs to no principal');
    expect(runJson(ws, ['approve', id, '--env', 'nowhere', '--role', 'reviewer', ...key('rita')]).error?.code).toBe('USAGE');
    expect(runJson(ws, ['approve', id, '--role', 'reviewer', ...key('rita')]).error?.message).toContain('--env is required');
    expect(statementFiles(ws, id)).toEqual([]);
    expect(readFileSync(join(ws, 'metadata/audit.log'), 'utf8')).toBe(before);
  });

  it('does not count the editor approving their own snapshot, nor one person twice', () => {
    const { ws, id } = governed();
    expect(run(ws, ['approve', id, '--env', 'production', '--role', 'approver', ...key('eve')]).code).toBe(0);
    const list = runJson<Approvals>(ws, ['approvals', id, '--env', 'production']).doc.environments[0]!;
    expect(list.decision).toBe('deny');
    expect(list.ignored.map((i) => i.why)).toEqual(['eve signed the snapshot: no one approves their own snapshot']);
    expect(list.slots.find((s) => s.role === 'approver')!.principals).toEqual([]);
  });

  it('never counts an approval for another environment or another snapshot', () => {
    const { ws, id } = governed();
    const a = runJson<Approved>(ws, ['approve', id, '--env', 'staging', '--role', 'reviewer', ...key('rita')]);
    const prod = runJson<Approvals>(ws, ['approvals', id, '--env', 'production']).doc.environments[0]!;
    expect(prod.slots.find((s) => s.role === 'reviewer')!.principals).toEqual([]);
    expect(prod.ignored.map((i) => i.why)).toEqual(['for the environment staging, not production']);
    // The same file copied beside a second snapshot: its subject is the first one.
    writeFileSync(join(ws, 'notes.txt'), 'a second snapshot\n');
    const other = runJson<{ id: string }>(ws, ['create']).doc.id;
    const dest = join(ws, 'metadata/statements', other.slice(7));
    mkdirSync(dest, { recursive: true });
    copyFileSync(join(ws, 'metadata', a.doc.file), join(dest, a.doc.file.split('/').pop()!));
    const replayed = runJson<Approvals>(ws, ['approvals', other, '--env', 'staging']).doc;
    expect(replayed.statements).toMatchObject([{ valid: false, problem: expect.stringContaining(`is about ${id}`) }]);
    expect(replayed.environments[0]!.decision).toBe('defer');
  });

  it('keeps a rejection whose file was deleted, and ignores forged or unrecorded statements', () => {
    const { ws, id } = governed();
    expect(run(ws, ['approve', id, '--env', 'staging', '--role', 'reviewer', ...key('rita')]).code).toBe(0);
    const r = runJson<Approved>(ws, ['reject', id, '--env', 'staging', '--role', 'reviewer', '--sigstore-key', join(keys, 'ci.key'), '--reason', 'rule 7 breaks billing']);
    expect(r.code).toBe(0);
    expect(runJson<Approvals>(ws, ['approvals', id, '--env', 'staging']).doc.environments[0]!.decision).toBe('deny');
    rmSync(join(ws, 'metadata', r.doc.file));
    const after = runJson<Approvals>(ws, ['approvals', id, '--env', 'staging']).doc;
    expect(after.environments[0]!.decision).toBe('deny');
    expect(after.statements.some((s) => s.problem?.includes('rejection the audit log records whose statement file is missing'))).toBe(true);
    const audit = runJson<{ ok: boolean; problems: { message: string }[] }>(ws, ['audit', 'verify']);
    expect(audit.code).toBe(1);
    expect(audit.doc.problems.map((p) => p.message)).toEqual([`the statement of this reject (${r.doc.file}) is missing`]);
    // A truncated statement counts for nothing, and says why.
    const dir = join(ws, 'metadata/statements', id.slice(7));
    const [good] = readdirSync(dir);
    const text = readFileSync(join(dir, good!), 'utf8');
    writeFileSync(join(dir, `${'0'.repeat(64)}.dsse.json`), text.slice(0, text.length / 2));
    const doc = runJson<Approvals>(ws, ['approvals', id, '--env', 'staging']).doc;
    expect(doc.statements.find((s) => s.file.includes('0'.repeat(64)))).toMatchObject({ valid: false, problem: expect.stringContaining('not JSON') });
  });
});

describe('governance configuration', () => {
  it.each<[string, Record<string, unknown>, string]>([
    ['a role naming no principal', { principals: {}, roles: { approver: ['anna'] } }, '/roles/approver: "anna" is not a principal'],
    ['a required role nobody holds', { environments: { production: { requires: [{ role: 'approver' }] } } }, 'requires the role "approver", which nobody holds'],
    ['a path that goes round', { principals: { anna: {} }, roles: { approver: ['anna'] }, environments: { a: { after: 'b' }, b: { after: 'a' } } }, 'goes round in a circle'],
    ['an unknown environment to come after', { environments: { production: { after: 'stagin' } } }, '"stagin" is not an environment'],
    ['an environment name that is a path', { environments: { '../x': {} } }, 'environments'],
    ['a bad duration', { environments: { production: { approvalMaxAge: 'soon' } } }, 'approvalMaxAge'],
  ])('refuses %s with exit 2', (_n, extra, message) => {
    const ws = sampleWorkspace();
    const cfg = readJsonFile<Record<string, unknown>>(join(ws, 'snapgov.json'));
    writeFileSync(join(ws, 'snapgov.json'), JSON.stringify({ ...cfg, ...extra }));
    const r = runJson(ws, ['status']);
    expect(r.code).toBe(2);
    expect(r.error?.message).toContain(message);
  });

  it('refuses one key given to two principals', () => {
    const ws = sampleWorkspace();
    const cfg = readJsonFile<Record<string, unknown>>(join(ws, 'snapgov.json'));
    const k = join(keys, 'rita.pub.asc');
    writeFileSync(join(ws, 'snapgov.json'), JSON.stringify({ ...cfg, principals: { rita: { pgpKeys: [k] }, bob: { pgpKeys: [k] } }, roles: { reviewer: ['rita', 'bob'] }, environments: { staging: { requires: [{ role: 'reviewer', count: 2 }], rollbackRequires: [{ role: 'reviewer' }] } } }));
    const id = runJson<{ id: string }>(ws, ['create']).doc.id;
    const r = runJson(ws, ['approvals', id]);
    expect(r.code).toBe(2);
    expect(r.error?.message).toContain('belongs to two principals, rita and bob');
  });
});

interface Promoted {
  environment: string;
  snapshot: string;
  decision: string;
  replayed: boolean;
  unchanged: boolean;
  seq: number | null;
  runId: string;
  failures: { code: string }[];
  decisionRef: string | null;
  pinFile: string | null;
  operator: string;
}

const ci = ['--sigstore-key', () => join(keys, 'ci.key')] as const;
const asCi = () => [ci[0], ci[1]()];
const auditActions = (ws: string) => readFileSync(join(ws, 'metadata/audit.log'), 'utf8').trim().split('\n').map((l) => (JSON.parse(l) as { action: string }).action);

/** A second, newer snapshot beside the first, both signed by eve. */
function twoGoverned(): { ws: string; s1: string; s2: string } {
  const { ws, id: s1 } = governed();
  writeFileSync(join(ws, 'notes.txt'), 'release 2\n');
  const s2 = runJson<{ id: string }>(ws, ['create']).doc.id;
  expect(run(ws, ['sign', s2, ...key('eve')]).code).toBe(0);
  return { ws, s1, s2 };
}

describe('promotion', () => {
  it('defers without approvals, then pins with a signed decision; the same run again changes nothing', () => {
    const { ws, id } = governed();
    const early = runJson<Promoted>(ws, ['promote', id, '--env', 'staging', ...asCi()]);
    expect(early.code).toBe(4);
    expect(early.doc).toMatchObject({ decision: 'defer', seq: null, failures: [{ code: 'APPROVALS_MISSING' }] });
    expect(existsSync(join(ws, 'metadata/envs'))).toBe(false);
    expect(run(ws, ['approve', id, '--env', 'staging', '--role', 'reviewer', ...key('rita')]).code).toBe(0);
    const p = runJson<Promoted>(ws, ['promote', id, '--env', 'staging', '--run-id', 'ci-1', '--reason', 'nightly', ...asCi()]);
    expect(p.code, p.stderr).toBe(0);
    expect(p.doc).toMatchObject({ decision: 'allow', seq: 1, runId: 'ci-1', operator: 'ci', replayed: false });
    const pin = readJsonFile<{ seq: number; snapshot: string; decision: string; previousEntry: string | null }>(join(ws, 'metadata', p.doc.pinFile!));
    expect(pin).toMatchObject({ seq: 1, snapshot: id, decision: p.doc.decisionRef, previousEntry: null });
    const decision = readdirSync(join(ws, 'metadata/decisions'));
    expect(decision).toEqual([`${p.doc.decisionRef!.slice(7)}.sigstore.json`]);
    expect(auditActions(ws).at(-1)).toBe('promote');
    const again = runJson<Promoted>(ws, ['promote', id, '--env', 'staging', '--run-id', 'ci-1', ...asCi()]);
    expect(again.code).toBe(0);
    expect(again.doc).toMatchObject({ replayed: true, seq: 1 });
    expect(readdirSync(join(ws, 'metadata/envs/staging/history'))).toEqual(['1.json']);
    const list = runJson<{ environments: { name: string; seq: number | null; snapshot: string | null }[] }>(ws, ['env', 'list']);
    expect(list.doc.environments).toMatchObject([{ name: 'production', seq: null }, { name: 'staging', seq: 1, snapshot: id }]);
    expect(runJson<{ pins: unknown[] }>(ws, ['env', 'history', 'staging']).doc.pins).toHaveLength(1);
    expect(run(ws, ['audit', 'verify']).code).toBe(0);
  });

  it('refuses a run id reused for another snapshot, a skipped path, and an operator without the role', () => {
    const { ws, s1, s2 } = twoGoverned();
    for (const s of [s1, s2]) expect(run(ws, ['approve', s, '--env', 'staging', '--role', 'reviewer', ...key('rita')]).code).toBe(0);
    expect(run(ws, ['promote', s1, '--env', 'staging', '--run-id', 'r1', ...asCi()]).code).toBe(0);
    const reused = runJson(ws, ['promote', s2, '--env', 'staging', '--run-id', 'r1', ...asCi()]);
    expect(reused.code).toBe(2);
    expect(reused.error?.message).toContain('run r1 promoted');
    expect(run(ws, ['approve', s2, '--env', 'production', '--role', 'reviewer', ...key('rita')]).code).toBe(0);
    expect(run(ws, ['approve', s2, '--env', 'production', '--role', 'approver', ...key('anna')]).code).toBe(0);
    const skipped = runJson<Promoted>(ws, ['promote', s2, '--env', 'production', ...asCi()]);
    expect(skipped.code).toBe(1);
    expect(skipped.doc.failures.map((f) => f.code)).toEqual(['PATH_SKIPPED']);
    const notOperator = runJson(ws, ['promote', s1, '--env', 'production', ...key('anna')]);
    expect(notOperator.code).toBe(1);
    expect(notOperator.error).toMatchObject({ code: 'NOT_AUTHORIZED' });
    expect(run(ws, ['promote', s2, '--env', 'staging', ...asCi()]).code).toBe(0);
    const prod = runJson<Promoted>(ws, ['promote', s2, '--env', 'production', '--read-data', ...asCi()]);
    expect(prod.code, JSON.stringify(prod.doc)).toBe(0);
    expect(prod.doc.seq).toBe(1);
  });

  it('moves back only as an approved rollback, and holds back what it rolled away from', () => {
    const { ws, s1, s2 } = twoGoverned();
    for (const s of [s1, s2]) expect(run(ws, ['approve', s, '--env', 'staging', '--role', 'reviewer', ...key('rita')]).code).toBe(0);
    expect(run(ws, ['promote', s1, '--env', 'staging', ...asCi()]).code).toBe(0);
    expect(run(ws, ['promote', s2, '--env', 'staging', ...asCi()]).code).toBe(0);
    const plain = runJson<Promoted>(ws, ['promote', s1, '--env', 'staging', ...asCi()]);
    expect(plain.code).toBe(1);
    expect(plain.doc.failures.map((f) => f.code)).toContain('ROLLBACK_NOT_INTENDED');
    expect(runJson(ws, ['promote', s1, '--env', 'staging', '--rollback', ...asCi()]).error?.message).toContain('needs a reason');
    const unapproved = runJson<Promoted>(ws, ['promote', s1, '--env', 'staging', '--rollback', '--reason', 'INC-42', ...asCi()]);
    expect(unapproved.code).toBe(4);
    expect(run(ws, ['approve', s1, '--env', 'staging', '--role', 'approver', '--rollback', '--reason', 'INC-42', ...key('anna')]).code).toBe(0);
    const back = runJson<Promoted>(ws, ['promote', s1, '--env', 'staging', '--rollback', '--reason', 'INC-42', ...asCi()]);
    expect(back.code, JSON.stringify(back.doc)).toBe(0);
    expect(back.doc.seq).toBe(3);
    expect(auditActions(ws).at(-1)).toBe('env-rollback');
    // s2's approval came before the rollback away from it: it must be approved again.
    const again = runJson<Promoted>(ws, ['promote', s2, '--env', 'staging', ...asCi()]);
    expect(again.code).toBe(4);
    expect(run(ws, ['approve', s2, '--env', 'staging', '--role', 'reviewer', ...key('rita')]).code).toBe(0);
    expect(runJson<Promoted>(ws, ['promote', s2, '--env', 'staging', ...asCi()]).doc.seq).toBe(4);
  });

  it('prune keeps what an environment is pinned to and its last pins', () => {
    const { ws, s1, s2 } = twoGoverned();
    expect(run(ws, ['approve', s1, '--env', 'staging', '--role', 'reviewer', ...key('rita')]).code).toBe(0);
    expect(run(ws, ['promote', s1, '--env', 'staging', ...asCi()]).code).toBe(0);
    const p = runJson<{ keep: { id: string; reasons: string[] }[]; remove: { id: string }[] }>(ws, ['prune', '--keep-last', '1']);
    expect(p.code).toBe(0);
    expect(p.doc.remove).toEqual([]);
    expect(p.doc.keep.find((k) => k.id === s1)!.reasons).toContain('pinned in staging');
    expect(p.doc.keep.map((k) => k.id)).toContain(s2);
  });

  it('rollback --env follows the pin, and does nothing (no audit line) when the tree is already there', () => {
    const { ws, s1, s2 } = twoGoverned();
    for (const s of [s1, s2]) expect(run(ws, ['approve', s, '--env', 'staging', '--role', 'reviewer', ...key('rita')]).code).toBe(0);
    expect(runJson(ws, ['rollback', '--env', 'staging', '--yes']).error?.message).toContain('has no pin yet');
    expect(run(ws, ['promote', s1, '--env', 'staging', ...asCi()]).code).toBe(0);
    const follow = runJson<{ to: string; verified: boolean; unchanged?: boolean }>(ws, ['rollback', '--env', 'staging', '--yes']);
    expect(follow.code, follow.stderr).toBe(0);
    expect(follow.doc).toMatchObject({ to: s1, verified: true });
    expect(existsSync(join(ws, 'notes.txt'))).toBe(false);
    const lines = auditActions(ws).length;
    const again = runJson<{ unchanged?: boolean }>(ws, ['rollback', '--env', 'staging', '--yes']);
    expect(again.code).toBe(0);
    expect(again.doc.unchanged).toBe(true);
    expect(auditActions(ws)).toHaveLength(lines);
    expect(run(ws, ['promote', s2, '--env', 'staging', ...asCi()]).code).toBe(0);
    expect(runJson<{ to: string }>(ws, ['rollback', '--env', 'staging', '--yes']).doc.to).toBe(s2);
    expect(readFileSync(join(ws, 'notes.txt'), 'utf8')).toBe('release 2\n');
    expect(runJson(ws, ['rollback', s1, '--env', 'staging']).code).toBe(2);
  });

  it('exports the evidence of a snapshot: its statements as stored, its pins and their decisions', () => {
    const { ws, id } = governed();
    expect(run(ws, ['approve', id, '--env', 'staging', '--role', 'reviewer', ...key('rita')]).code).toBe(0);
    expect(run(ws, ['approve', id, '--env', 'production', '--role', 'approver', ...key('anna')]).code).toBe(0);
    expect(run(ws, ['promote', id, '--env', 'staging', ...asCi()]).code).toBe(0);
    const out = join(tempDir(), 'evidence.json');
    const e = runJson<{ written: string; statements: { kind: string; file: string; content: unknown }[]; pins: { environment: string; seq: number }[] }>(ws, ['evidence', id, '--env', 'staging', '-o', out]);
    expect(e.code, e.stderr).toBe(0);
    expect(e.doc.written).toBe(out);
    expect(e.doc.statements.map((s) => s.kind).sort()).toEqual(['approval', 'decision']);
    expect(e.doc.pins).toMatchObject([{ environment: 'staging', seq: 1 }]);
    // The bundle's statements are the stored files, byte for byte as JSON.
    const file = readJsonFile<{ statements: { file: string; content: unknown }[] }>(out);
    for (const s of file.statements) expect(s.content).toEqual(JSON.parse(readFileSync(join(ws, 'metadata', s.file), 'utf8')));
    expect(runJson<{ statements: unknown[] }>(ws, ['evidence', id]).doc.statements).toHaveLength(3);
    expect(runJson(ws, ['evidence', id, '-o', join(ws, 'metadata/audit.log')]).code).toBe(2);
  });

  it('a pin file planted on disk opens no path and is not recorded by env resume', () => {
    const { ws, id } = governed();
    expect(run(ws, ['approve', id, '--env', 'production', '--role', 'reviewer', ...key('rita')]).code).toBe(0);
    expect(run(ws, ['approve', id, '--env', 'production', '--role', 'approver', ...key('anna')]).code).toBe(0);
    const hist = join(ws, 'metadata/envs/staging/history');
    mkdirSync(hist, { recursive: true });
    writeFileSync(join(hist, '1.json'), JSON.stringify({ format: 'snapgov-pin/1', environment: 'staging', seq: 1, snapshot: id, previous: null, previousEntry: null, intent: 'promote', breakGlass: false, time: new Date().toISOString(), principal: 'ci', runId: 'forged', reason: null, decision: `sha256:${'0'.repeat(64)}` }));
    const p = runJson<Promoted>(ws, ['promote', id, '--env', 'production', ...asCi()]);
    expect(p.code).toBe(1);
    expect(p.doc.failures.map((f) => f.code)).toEqual(['PATH_SKIPPED']);
    const r = runJson(ws, ['env', 'resume', 'staging']);
    expect(r.code).toBe(1);
    expect(r.error?.message).toContain('not backed by its decision');
    expect(auditActions(ws)).not.toContain('promote');
  });

  it('refuses a pin history edited or cut back on disk', () => {
    const { ws, s1, s2 } = twoGoverned();
    for (const s of [s1, s2]) expect(run(ws, ['approve', s, '--env', 'staging', '--role', 'reviewer', ...key('rita')]).code).toBe(0);
    expect(run(ws, ['promote', s1, '--env', 'staging', ...asCi()]).code).toBe(0);
    expect(run(ws, ['promote', s2, '--env', 'staging', ...asCi()]).code).toBe(0);
    const hist = join(ws, 'metadata/envs/staging/history');
    const second = readFileSync(join(hist, '2.json'));
    rmSync(join(hist, '2.json'));
    const cut = runJson(ws, ['env', 'list']);
    expect(cut.code).toBe(1);
    expect(cut.error?.message).toContain('cut back on disk');
    writeFileSync(join(hist, '2.json'), second.toString().replace('"reason": null', '"reason": "edited"'));
    const edited = runJson(ws, ['promote', s1, '--env', 'staging', '--rollback', '--reason', 'x', ...asCi()]);
    expect(edited.code).toBe(1);
    expect(edited.error?.message).toContain('edited on disk');
  });

  it('breaks glass only for a listed principal with a reason, says what it passed over, and records break-glass', () => {
    const { ws, s1, s2 } = twoGoverned();
    const before = auditActions(ws).length;
    const noReason = runJson(ws, ['promote', s2, '--env', 'production', '--break-glass', ...key('anna')]);
    expect(noReason.error).toMatchObject({ code: 'USAGE', message: expect.stringContaining('needs a reason') });
    const notListed = runJson(ws, ['promote', s2, '--env', 'production', '--break-glass', '--reason', 'INC-9', ...key('rita')]);
    expect(notListed.error).toMatchObject({ code: 'NOT_AUTHORIZED', message: expect.stringContaining('rita may not break glass in production') });
    expect(runJson(ws, ['promote', s2, '--env', 'staging', '--break-glass', '--reason', 'INC-9', ...key('anna')]).error).toMatchObject({ code: 'NOT_AUTHORIZED', hint: expect.stringContaining('staging has no breakGlass principals') });
    expect(auditActions(ws)).toHaveLength(before);
    expect(existsSync(join(ws, 'metadata/envs'))).toBe(false);
    const bg = runJson<Promoted & { breakGlass: boolean; bypassed: { code: string }[] }>(ws, ['promote', s2, '--env', 'production', '--break-glass', '--reason', 'INC-9: approver unreachable', ...key('anna')]);
    expect(bg.code, bg.stderr).toBe(0);
    expect(bg.doc).toMatchObject({ decision: 'allow', breakGlass: true, seq: 1, operator: 'anna' });
    expect(bg.doc.bypassed.map((f) => f.code)).toEqual(['APPROVALS_MISSING', 'APPROVALS_MISSING', 'PATH_SKIPPED']);
    const human = run(ws, ['env', 'history', 'production']);
    expect(human.stdout).toContain('BREAK-GLASS');
    expect(readJsonFile<{ breakGlass: boolean; reason: string }>(join(ws, 'metadata', bg.doc.pinFile!))).toMatchObject({ breakGlass: true, reason: 'INC-9: approver unreachable' });
    const log = readFileSync(join(ws, 'metadata/audit.log'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { action: string; reason?: string; details: Record<string, unknown> });
    expect(log.at(-1)).toMatchObject({ action: 'break-glass', reason: 'INC-9: approver unreachable', details: { env: 'production', seq: 1, intent: 'promote', principal: 'anna' } });
    // The decision says so, signed: no policy level is claimed.
    const d = readJsonFile<{ payload: string }>(join(ws, 'metadata/decisions', `${bg.doc.decisionRef!.slice(7)}.dsse.json`));
    const predicate = (JSON.parse(Buffer.from(d.payload, 'base64').toString()) as { predicate: { breakGlass: boolean; bypassed: unknown[]; verification: { verifiedLevels: string[] } } }).predicate;
    expect(predicate).toMatchObject({ breakGlass: true, verification: { verifiedLevels: ['SNAPGOV_STRUCTURE'] } });
    expect(predicate.bypassed).toHaveLength(3);
    // Verification is never passed over, nor the intent of moving back.
    expect(runJson<Promoted>(ws, ['promote', s1, '--env', 'production', '--break-glass', '--reason', 'INC-9', ...key('anna')]).doc.failures.map((f) => f.code)).toEqual(['ROLLBACK_NOT_INTENDED']);
    const back = runJson<Promoted>(ws, ['promote', s1, '--env', 'production', '--rollback', '--break-glass', '--reason', 'INC-10', ...key('anna')]);
    expect(back.code, back.stderr).toBe(0);
    expect(back.doc.seq).toBe(2);
    expect(runJson<{ environments: { name: string; breakGlass: boolean }[] }>(ws, ['env', 'list']).doc.environments.find((e) => e.name === 'production')!.breakGlass).toBe(true);
    expect(runJson<{ to: string }>(ws, ['rollback', '--env', 'production', '--yes']).doc.to).toBe(s1);
    expect(run(ws, ['audit', 'verify']).code).toBe(0);
  });

  it('refuses an operator who signed the snapshot', () => {
    const { ws, id } = governed();
    expect(run(ws, ['sign', id, ...asCi()]).code).toBe(0);
    expect(run(ws, ['approve', id, '--env', 'staging', '--role', 'reviewer', ...key('rita')]).code).toBe(0);
    const p = runJson<Promoted>(ws, ['promote', id, '--env', 'staging', ...asCi()]);
    expect(p.code).toBe(1);
    expect(p.doc.failures.map((f) => f.code)).toEqual(['OPERATOR_IS_EDITOR']);
  });

  it('a promotion killed after its pin leaves the environment pending audit, and env resume completes it', () => {
    const { ws, id } = governed();
    expect(run(ws, ['approve', id, '--env', 'staging', '--role', 'reviewer', ...key('rita')]).code).toBe(0);
    const killed = run(ws, ['promote', id, '--env', 'staging', ...asCi()], { SNAPGOV_FAULT: 'promote-pin:1' });
    expect(killed.code).not.toBe(0);
    expect(runJson<{ environments: { name: string; pendingAudit: boolean }[] }>(ws, ['env', 'list']).doc.environments.find((e) => e.name === 'staging')!.pendingAudit).toBe(true);
    expect(runJson(ws, ['promote', id, '--env', 'staging', ...asCi()]).error?.code).toBe('PENDING_AUDIT');
    const r = runJson<{ resumed: boolean; seq: number }>(ws, ['env', 'resume', 'staging']);
    expect(r.doc).toMatchObject({ resumed: true, seq: 1 });
    expect(runJson<{ environments: { name: string; pendingAudit: boolean }[] }>(ws, ['env', 'list']).doc.environments.find((e) => e.name === 'staging')!.pendingAudit).toBe(false);
    expect(run(ws, ['audit', 'verify']).code).toBe(0);
    expect(runJson<{ resumed: boolean }>(ws, ['env', 'resume', 'staging']).doc.resumed).toBe(false);
  });
});

describe('audit checkpoints', () => {
  const lines = (ws: string) => readFileSync(join(ws, 'metadata/audit.log'), 'utf8').trim().split('\n');

  /** What someone who rewrites the log does to hide it: every later prev and the head recomputed. */
  function rewrite(ws: string, edit: (recs: Record<string, unknown>[]) => Record<string, unknown>[]): void {
    const recs = edit(lines(ws).map((l) => JSON.parse(l) as Record<string, unknown>));
    let prev: string | null = null;
    const out: string[] = [];
    for (const [i, r] of recs.entries()) {
      const text = JSON.stringify({ ...r, seq: i + 1, prev });
      out.push(text);
      prev = lineHash(text);
    }
    writeFileSync(join(ws, 'metadata/audit.log'), `${out.join('\n')}\n`);
    writeFileSync(join(ws, 'metadata/audit.head'), `${JSON.stringify({ seq: out.length, hash: prev })}\n`);
  }

  it('signs the head; a log rewritten (chain recomputed) or cut back behind it is found, kept in the store or not', () => {
    const { ws, id } = governed();
    const outside = join(tempDir(), 'cp.dsse.json');
    const cp = runJson<{ seq: number; hash: string; logSha256: string; principal: string; file: string }>(ws, ['audit', 'checkpoint', ...key('anna'), '-o', outside]);
    expect(cp.code, cp.stderr).toBe(0);
    expect(cp.doc).toMatchObject({ seq: lines(ws).length, principal: 'anna', file: outside });
    // The README's recipe for checking by hand.
    const head = spawnSync('sh', ['-c', `head -n ${cp.doc.seq} metadata/audit.log | sha256sum`], { cwd: ws, encoding: 'utf8' }).stdout.split(' ')[0];
    expect(`sha256:${head}`).toBe(cp.doc.logSha256);
    const stored = runJson<{ file: string }>(ws, ['audit', 'checkpoint', ...asCi()]);
    expect(stored.code).toBe(0);
    expect(stored.doc.file).toMatch(/^checkpoints\/\d+-[0-9a-f]{12}\.sigstore\.json$/);
    const approved = run(ws, ['approve', id, '--env', 'staging', '--role', 'reviewer', ...key('rita')]);
    expect(approved.code, approved.stderr).toBe(0);
    const ok = runJson<{ ok: boolean; checkpoints: { ok: boolean }[] }>(ws, ['audit', 'verify', '--checkpoint', outside]);
    expect(ok.code).toBe(0);
    expect(ok.doc.checkpoints).toMatchObject([{ ok: true }, { ok: true }]);

    rewrite(ws, (recs) => recs.map((r, i) => (i === 0 ? { ...r, reason: 'rewritten' } : r)));
    const caught = runJson<{ ok: boolean; problems: unknown[]; checkpoints: { ok: boolean; problem: string }[] }>(ws, ['audit', 'verify']);
    expect(caught.code).toBe(1);
    expect(caught.doc.problems).toEqual([]); // the chain itself holds: only the checkpoint sees it
    expect(caught.doc.checkpoints[0]!.problem).toContain('the log was rewritten');
    rmSync(join(ws, 'metadata/checkpoints'), { recursive: true });
    expect(run(ws, ['audit', 'verify']).code).toBe(0);
    const outsideCaught = runJson<{ checkpoints: { problem: string }[] }>(ws, ['audit', 'verify', '--checkpoint', outside]);
    expect(outsideCaught.code).toBe(1);
    expect(outsideCaught.doc.checkpoints[0]!.problem).toContain('the log was rewritten');

    rewrite(ws, (recs) => recs.slice(0, 1));
    const cut = runJson<{ checkpoints: { problem: string }[] }>(ws, ['audit', 'verify', '--checkpoint', outside]);
    expect(cut.code).toBe(1);
    expect(cut.doc.checkpoints[0]!.problem).toContain('it was cut back');
  });

  it('refuses a signer who is no principal, and a checkpoint file that was tampered with', () => {
    const { ws } = governed();
    const stranger = runJson(ws, ['audit', 'checkpoint', ...key('mallory')]);
    expect(stranger.error?.code).toBe('NOT_AUTHORIZED');
    expect(existsSync(join(ws, 'metadata/checkpoints'))).toBe(false);
    const outside = join(tempDir(), 'cp.json');
    expect(run(ws, ['audit', 'checkpoint', ...key('anna'), '-o', outside]).code).toBe(0);
    const env = readJsonFile<{ payload: string }>(outside);
    const doc = JSON.parse(Buffer.from(env.payload, 'base64').toString()) as { predicate: { seq: number } };
    doc.predicate.seq = 1;
    writeFileSync(outside, JSON.stringify({ ...env, payload: Buffer.from(JSON.stringify(doc)).toString('base64') }));
    const r = runJson<{ checkpoints: { problem: string }[] }>(ws, ['audit', 'verify', '--checkpoint', outside]);
    expect(r.code).toBe(1);
    expect(r.doc.checkpoints[0]!.problem).toContain('does not verify');
    expect(runJson(ws, ['audit', 'checkpoint', ...key('anna'), '-o', join(ws, 'metadata/audit.log')]).code).toBe(2);
  });
});

describe('past decisions judged again, and where a snapshot is pinned', () => {
  it('audit verify --decisions re-evaluates every pin; a missing decision or a break-glass principal no longer listed is reported', () => {
    const { ws, s1, s2 } = twoGoverned();
    for (const s of [s1, s2]) expect(run(ws, ['approve', s, '--env', 'staging', '--role', 'reviewer', ...key('rita')]).code).toBe(0);
    expect(run(ws, ['promote', s1, '--env', 'staging', ...asCi()]).code).toBe(0);
    const p2 = runJson<Promoted>(ws, ['promote', s2, '--env', 'staging', ...asCi()]);
    expect(run(ws, ['promote', s2, '--env', 'production', '--break-glass', '--reason', 'INC-1', ...key('anna')]).code).toBe(0);
    const r = runJson<{ ok: boolean; decisions: { environment: string; seq: number; ok: boolean; breakGlass: boolean; policyChanged: boolean; problems: string[] }[] }>(ws, ['audit', 'verify', '--decisions']);
    expect(r.code, JSON.stringify(r.doc)).toBe(0);
    expect(r.doc.decisions.map((d) => [d.environment, d.seq, d.ok, d.breakGlass])).toEqual([['production', 1, true, true], ['staging', 1, true, false], ['staging', 2, true, false]]);
    expect(runJson<{ decisions: null }>(ws, ['audit', 'verify']).doc.decisions).toBeNull();
    // info and status say where a snapshot is pinned
    const info = runJson<{ environments: { pinnedIn: string[]; pinnedBefore: string[] } }>(ws, ['info', s2]);
    expect(info.doc.environments).toMatchObject({ pinnedIn: ['production', 'staging'], pinnedBefore: [] });
    expect(runJson<{ environments: { pinnedBefore: string[] } }>(ws, ['info', s1]).doc.environments.pinnedBefore).toEqual(['staging']);
    expect(runJson<{ pinnedIn: string[] }>(ws, ['status']).doc.pinnedIn).toEqual(['production', 'staging']);
    expect(run(ws, ['status']).stdout).toContain('the pin of production, staging');

    const cfgPath = join(ws, 'snapgov.json');
    const cfg = readJsonFile<{ environments: Record<string, Record<string, unknown>> }>(cfgPath);
    cfg.environments.production!.breakGlass = [];
    cfg.environments.staging!.approvalMaxAge = '1h';
    writeFileSync(cfgPath, JSON.stringify(cfg));
    rmSync(join(ws, 'metadata/decisions', `${p2.doc.decisionRef!.slice(7)}.sigstore.json`));
    const bad = runJson<{ decisions: { environment: string; seq: number; ok: boolean; policyChanged: boolean; problems: string[] }[] }>(ws, ['audit', 'verify', '--decisions']);
    expect(bad.code).toBe(1);
    expect(bad.doc.decisions.find((d) => d.environment === 'production')!.problems).toEqual(["anna broke glass but is not in production's breakGlass list"]);
    expect(bad.doc.decisions.find((d) => d.seq === 2 && d.environment === 'staging')!.problems[0]).toContain('the decision file is missing');
    expect(bad.doc.decisions.find((d) => d.seq === 1 && d.environment === 'staging')).toMatchObject({ ok: true, policyChanged: true });
  });

  it('rehearse with a signer writes a signed statement of its result, exported as evidence', () => {
    const { ws, id } = governed();
    const r = runJson<{ ok: boolean; statement: string }>(ws, ['rehearse', id, '--scenario', 'stray-file', ...key('anna')]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.doc.statement).toMatch(/^statements\/[0-9a-f]{64}\/[0-9a-f]{64}\.dsse\.json$/);
    const env = readJsonFile<{ payload: string }>(join(ws, 'metadata', r.doc.statement));
    const st = JSON.parse(Buffer.from(env.payload, 'base64').toString()) as { predicateType: string; subject: { digest: { sha256: string } }[]; predicate: { result: string; scenarios: { name: string }[] } };
    expect(st).toMatchObject({ predicateType: 'https://snapgov.dev/attestation/rehearsal/v1', subject: [{ digest: { sha256: id.slice(7) } }], predicate: { result: 'PASSED', scenarios: [{ name: 'stray-file' }] } });
    expect(run(ws, ['audit', 'verify']).code).toBe(0);
    const e = runJson<{ statements: { kind: string }[] }>(ws, ['evidence', id, '--env', 'staging']);
    expect(e.doc.statements.map((s) => s.kind)).toEqual(['rehearsal']);
    // approvals are not confused by it
    expect(runJson<Approvals>(ws, ['approvals', id]).doc.statements).toEqual([]);
  });

  it('rehearse signs with the signer snapgov.json configures, with no flag', () => {
    const { ws, id } = governed();
    const cfg = readJsonFile<Record<string, unknown>>(join(ws, 'snapgov.json'));
    writeFileSync(join(ws, 'snapgov.json'), JSON.stringify({ ...cfg, signing: { method: 'sigstore-key', sigstoreKey: join(keys, 'ci.key') } }));
    const r = runJson<{ statement?: string }>(ws, ['rehearse', id, '--scenario', 'stray-file']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.doc.statement).toMatch(/\.sigstore\.json$/);
    expect(run(ws, ['audit', 'verify']).code).toBe(0);
  });
});
