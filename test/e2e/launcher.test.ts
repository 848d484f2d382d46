// bin/snapgov run as a command (as npm links it, as a shell or cron job runs it), not as `node
// bin/snapgov`: its shell part keeps NODE_EXTRA_CA_CERTS away from Node's start-up for commands
// that make no TLS connection, and the CLI puts it back for everything it starts.
import { afterEach, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BIN, readJsonFile, runAsync, runJson, sampleWorkspace, tempDir, type RunResult } from '../helpers/cli.js';
import { selfSignedIdentity, startSigstore, testToken, type SigstoreServices } from '../helpers/sigstore-services.js';

/** The environment of the test without NODE_EXTRA_CA_CERTS (this machine may set it), plus `env`. */
function environment(env: Record<string, string>): NodeJS.ProcessEnv {
  const base: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1' };
  delete base.NODE_EXTRA_CA_CERTS;
  return { ...base, ...env };
}

/** Runs `bin` itself as an executable; asynchronous, since the test may serve HTTPS meanwhile. */
function command(cwd: string, args: string[], env: Record<string, string> = {}, bin = BIN): Promise<RunResult> {
  return new Promise((resolve) => {
    const p = spawn(bin, args, { cwd, env: environment(env), stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    p.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    p.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

let services: SigstoreServices | null = null;
afterEach(async () => {
  await services?.close();
  services = null;
});

/** Fulcio and Rekor over HTTPS with a certificate that only the given CA file makes trusted. */
async function keylessOverTls(ws: string): Promise<string> {
  const tls = selfSignedIdentity(tempDir());
  services = await startSigstore({ tls });
  const cfg = readJsonFile<Record<string, unknown>>(join(ws, 'snapgov.json'));
  writeFileSync(join(ws, 'snapgov.json'), JSON.stringify({ ...cfg, signing: { method: 'keyless', fulcioUrl: services.fulcioUrl, rekorUrl: services.rekorUrl } }));
  return tls.certFile;
}

const token = () => testToken({ sub: 'ci-bot@x.example', iss: 'https://token.actions.example' });

describe('bin/snapgov as a command', () => {
  it('runs directly, through a symlink in another folder (as npm links it), and as node bin/snapgov', async () => {
    const ws = sampleWorkspace();
    const link = join(tempDir(), 'snapgov');
    symlinkSync(BIN, link);
    for (const bin of [BIN, link]) {
      writeFileSync(join(ws, 'note.txt'), bin);
      const r = await command(ws, ['--json', 'create', '--message', bin === BIN ? 'direct' : 'linked'], {}, bin);
      expect(r.code, r.stderr).toBe(0);
      expect((JSON.parse(r.stdout) as { id: string }).id).toMatch(/^sha256:[0-9a-f]{64}$/);
    }
    const list = runJson<{ snapshots: { message: string }[] }>(ws, ['list']);
    expect(list.doc.snapshots.map((s) => s.message).sort()).toEqual(['direct', 'linked']);
  });

  it('starts a rollback without NODE_EXTRA_CA_CERTS, and its gates see the variable as the user set it', async () => {
    const ws = sampleWorkspace();
    const out = tempDir();
    // The gate's parent is snapgov's Node process: /proc/PID/environ is the environment it was started with.
    const gate = join(out, 'gate.sh');
    writeFileSync(gate, `tr '\\0' '\\n' < /proc/$PPID/environ > "${out}/started-with"\ntr '\\0' '\\n' < /proc/$PPID/cmdline > "${out}/parent"\nprintf '%s' "\${NODE_EXTRA_CA_CERTS-unset}" > "${out}/gate-sees"\nenv > "${out}/gate-env"\n`);
    const cfg = readJsonFile<Record<string, unknown>>(join(ws, 'snapgov.json'));
    writeFileSync(join(ws, 'snapgov.json'), JSON.stringify({ ...cfg, gates: [{ name: 'env', run: `exec sh ${gate}` }] }));
    const v1 = runJson<{ id: string }>(ws, ['create']).doc.id;
    writeFileSync(join(ws, 'artifacts', 'rules', 'a.yaml'), 'rule: changed\n');
    const ca = join(out, 'corporate-ca.pem');
    const r = await command(ws, ['--json', 'rollback', v1, '--yes'], { NODE_EXTRA_CA_CERTS: ca });
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ to: v1, verified: true, gates: [{ name: 'env', ok: true }] });
    expect(readFileSync(join(out, 'parent'), 'utf8')).toContain(BIN);
    if (existsSync('/proc/self/environ')) {
      const started = readFileSync(join(out, 'started-with'), 'utf8').split('\n');
      expect(started.filter((l) => l.startsWith('NODE_EXTRA_CA_CERTS='))).toEqual([]);
      expect(started).toContain(`SNAPGOV_DEFERRED_NODE_EXTRA_CA_CERTS=${ca}`);
    }
    expect(readFileSync(join(out, 'gate-sees'), 'utf8')).toBe(ca);
    expect(readFileSync(join(out, 'gate-env'), 'utf8')).not.toContain('SNAPGOV_DEFERRED');
  });

  it('keeps NODE_EXTRA_CA_CERTS for keyless signing: Fulcio and Rekor over HTTPS trusted only through it', async () => {
    const ws = sampleWorkspace();
    const ca = await keylessOverTls(ws);
    const id = runJson<{ id: string }>(ws, ['create']).doc.id;
    const signed = await command(ws, ['--json', 'sign', id], { NODE_EXTRA_CA_CERTS: ca, SIGSTORE_ID_TOKEN: token() });
    expect(signed.code, signed.stderr).toBe(0);
    expect(JSON.parse(signed.stdout)).toMatchObject({ method: 'keyless', signer: 'ci-bot@x.example' });
    const created = await command(ws, ['--json', 'create', '--sign', '--message', 'signed'], { NODE_EXTRA_CA_CERTS: ca, SIGSTORE_ID_TOKEN: token() });
    expect(created.code, created.stderr).toBe(0);
    // Without the CA the same connection is refused: the servers' certificate is really checked.
    const refused = await command(ws, ['--json', 'sign', id], { SIGSTORE_ID_TOKEN: token() });
    expect(refused.code).toBe(12);
    expect((JSON.parse(refused.stderr) as { error: { message: string } }).error.message).toMatch(/keyless signing failed: .*(self[- ]signed|certificate)/i);
  });

  it('refuses TLS in a process started with the variable handed over, rather than fail on the certificates', async () => {
    const ws = sampleWorkspace();
    const ca = await keylessOverTls(ws);
    const id = runJson<{ id: string }>(ws, ['create']).doc.id;
    const r = await runAsync(ws, ['--json', 'sign', id], { SNAPGOV_DEFERRED_NODE_EXTRA_CA_CERTS: ca, SIGSTORE_ID_TOKEN: token() });
    expect(r.code).toBe(1);
    expect(JSON.parse(r.stderr)).toMatchObject({ error: { code: 'INTERNAL', message: expect.stringMatching(/started without the certificates of NODE_EXTRA_CA_CERTS/) } });
    expect(runJson<{ snapshots: { signatures: number }[] }>(ws, ['list']).doc.snapshots[0]!.signatures).toBe(0);
  });
});
