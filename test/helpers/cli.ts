import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach } from 'vitest';
import { Ajv, type ValidateFunction } from 'ajv';

export const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const BIN = join(REPO, 'bin', 'snapgov');

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export type FileSpec = string | Buffer | { content: string | Buffer; mode?: number } | { symlink: string };

const made: string[] = [];
afterEach(() => {
  for (const d of made.splice(0)) rmSync(d, { recursive: true, force: true });
});

export function tempDir(prefix = 'snapgov-test-'): string {
  const d = mkdtempSync(join(tmpdir(), prefix));
  made.push(d);
  return d;
}

export function writeTree(root: string, files: Record<string, FileSpec>): void {
  for (const [rel, spec] of Object.entries(files)) {
    const p = join(root, rel);
    mkdirSync(dirname(p), { recursive: true });
    if (typeof spec === 'object' && !Buffer.isBuffer(spec) && 'symlink' in spec) {
      symlinkSync(spec.symlink, p);
    } else if (typeof spec === 'object' && !Buffer.isBuffer(spec)) {
      writeFileSync(p, spec.content);
      if (spec.mode !== undefined) chmodSync(p, spec.mode);
    } else {
      writeFileSync(p, spec);
    }
  }
}

export function sha256(data: string | Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

/** Runs the built CLI; no TTY, no colour. */
export function run(cwd: string, args: string[], env: Record<string, string> = {}): RunResult {
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1', ...env }, input: '' });
  return { code: r.status ?? (r.signal ? 128 : -1), stdout: r.stdout, stderr: r.stderr };
}

/** Runs the CLI without blocking the test's event loop (needed when the test also serves HTTP). */
export function runAsync(cwd: string, args: string[], env: Record<string, string> = {}): Promise<RunResult> {
  return new Promise((resolvePromise) => {
    const p = spawn(process.execPath, [BIN, ...args], { cwd, env: { ...process.env, NO_COLOR: '1', ...env } });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    p.on('close', (code) => resolvePromise({ code: code ?? -1, stdout, stderr }));
  });
}

const GLOBAL_WITH_VALUE = new Set(['-C', '--cwd', '--lock-wait']);

/** The command an argument list runs (`audit verify` is audit-verify), as the output schemas are named. */
export function commandOf(args: readonly string[]): string | null {
  const words: string[] = [];
  for (let i = 0; i < args.length && words.length < 2; i++) {
    if (GLOBAL_WITH_VALUE.has(args[i]!)) i++;
    else if (!args[i]!.startsWith('-')) words.push(args[i]!);
  }
  if (words[0] === 'audit' && (words[1] === 'verify' || words[1] === 'checkpoint')) return `audit-${words[1]}`;
  if ((words[0] === 'env' || words[0] === 'remote') && words[1]) return `${words[0]}-${words[1]}`;
  return words[0] ?? null;
}

const ajv = new Ajv({ allErrors: true, strict: true, allowUnionTypes: true });
const validators = new Map<string, ValidateFunction>();

/** Every --json document a test reads must satisfy its command's published schema (schemas/output/). */
export function assertOutputSchema(command: string, doc: unknown): void {
  let validate = validators.get(command);
  if (!validate) {
    validate = ajv.compile(JSON.parse(readFileSync(join(REPO, 'schemas/output', `${command}.schema.json`), 'utf8')) as object);
    validators.set(command, validate);
  }
  if (!validate(doc)) throw new Error(`the --json output of snapgov ${command} does not match schemas/output/${command}.schema.json: ${ajv.errorsText(validate.errors)}\n${JSON.stringify(doc).slice(0, 2000)}`);
}

/** Runs with --json and parses stdout (success) or the error document on stderr (failure); a document is checked against its schema. */
export function runJson<T = Record<string, unknown>>(cwd: string, args: string[], env: Record<string, string> = {}): { code: number; doc: T; error?: { code: string; message: string; hint: string }; stderr: string } {
  const r = run(cwd, ['--json', ...args], env);
  if (r.code === 0 || r.code === 3 || ((r.code === 1 || r.code === 4) && r.stdout.trim().startsWith('{'))) {
    const doc = JSON.parse(r.stdout) as T;
    const command = commandOf(args);
    if (command) assertOutputSchema(command, doc);
    return { code: r.code, doc, stderr: r.stderr };
  }
  const err = JSON.parse(r.stderr.trim().split('\n').pop()!) as { error: { code: string; message: string; hint: string } };
  assertOutputSchema('error', err);
  return { code: r.code, doc: {} as T, error: err.error, stderr: r.stderr };
}

/** A workspace with an artifact index, initialized. */
export function sampleWorkspace(extra: Record<string, FileSpec> = {}): string {
  const ws = tempDir();
  const a = 'rule: a\n';
  const b = 'rule: b\n';
  writeTree(ws, {
    'artifacts/rules/a.yaml': a,
    'artifacts/rules/b.yaml': b,
    'artifacts/index.json': JSON.stringify({ artifacts: [{ path: 'rules/a.yaml', sha256: sha256(a) }, { path: 'rules/b.yaml', sha256: sha256(b) }] }),
    'bin/deploy.sh': { content: '#!/bin/sh\necho deploy\n', mode: 0o755 },
    'current': { symlink: 'artifacts/rules/a.yaml' },
    ...extra,
  });
  const r = run(ws, ['init']);
  if (r.code !== 0) throw new Error(`init failed: ${r.stderr}`);
  return ws;
}

export function listFiles(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string, prefix: string) => {
    let names: string[];
    try {
      names = readdirSync(d);
    } catch {
      return;
    }
    for (const n of names.sort()) {
      const p = join(d, n);
      if (statSync(p).isDirectory()) walk(p, `${prefix}${n}/`);
      else out.push(`${prefix}${n}`);
    }
  };
  walk(dir, '');
  return out;
}

export function readJsonFile<T = Record<string, unknown>>(p: string): T {
  return JSON.parse(readFileSync(p, 'utf8')) as T;
}

export function hasCommand(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
}
