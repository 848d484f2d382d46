import { closeSync, constants, existsSync, fstatSync, lstatSync, openSync, readFileSync, statSync } from 'node:fs';
import { dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { SnapgovError } from '../errors.js';
import { validate } from '../schema.js';
import { pathProblem, within } from '../core/paths.js';
import type { IndexConfig } from '../core/index-check.js';
import type { Requirement } from '../core/promotion-policy.js';
import type { SlaConfig } from '../core/rehearsal.js';
import { realFolder } from '../util/fsx.js';
import { parseDuration } from '../util/duration.js';

// The config's shapes that pure code reads are defined beside that code (core), and named here too.
export type { IndexConfig, SlaConfig };

export const CONFIG_FILE = 'snapgov.json';

export interface GateConfig {
  name: string;
  /** Shell command run in the workspace; absent for the built-in "index" gate. */
  run?: string;
  timeoutSeconds: number;
}

export interface Config {
  include: string[];
  exclude: string[];
  index: IndexConfig | null;
  store: { snapshots: string; metadata: string; rehearsal: string };
  sla: SlaConfig;
  rollback: { safetyProtectionMs: number };
  gates: GateConfig[];
  retention: RetentionConfig;
  trust: TrustConfig;
  signing: SigningConfig;
  principals: Record<string, PrincipalConfig>;
  roles: Record<string, string[]>;
  environments: Record<string, EnvironmentConfig>;
  remotes: Record<string, RemoteConfig>;
}

/** A named OCI registry repository (`snapgov push REF origin`). */
export interface RemoteConfig {
  url: string;
  /** PEM file of CAs to trust beside the system's, for this registry (workspace-relative or absolute). */
  caFile: string | null;
  /** true: plain HTTP; false: HTTPS even to a loopback host; null: plain HTTP for loopback hosts only. */
  plainHttp: boolean | null;
}

/** A person or machine: the keys that are theirs (paths are workspace-relative or absolute). */
export interface PrincipalConfig {
  pgpKeys: string[];
  sigstoreKeys: string[];
}

/** An environment's promotion policy, durations in milliseconds. */
export interface EnvironmentConfig {
  requires: Requirement[];
  rollbackRequires: Requirement[];
  approvalMaxAgeMs: number | null;
  after: string | null;
  rehearsalMaxAgeMs: number | null;
  breakGlass: string[];
  keepPins: number;
  /** A remote in `remotes` whose tag named after the environment a promotion moves too. */
  remote: string | null;
}

/** Who may sign: the config's `trust` section (paths are workspace-relative or absolute). */
export interface TrustConfig {
  /** Armored OpenPGP public key files, or fingerprints of keys found in keyDir. */
  pgpKeys: string[];
  keyDir: string;
  /** PEM public keys (cosign's key.pub). */
  sigstoreKeys: string[];
  /** Keyless identities: exact `identity` or anchored `identityRegexp`, each with its OIDC `issuer`. */
  identities: { identity?: string; identityRegexp?: string; issuer: string }[];
  /** trusted_root.json for keyless verification (Fulcio, Rekor, CT log, TSA keys). */
  trustedRoot: string | null;
  /** Distinct trusted signers a snapshot needs. */
  threshold: number;
  /** verify and rollback require the threshold (as with --require-signature). */
  required: boolean;
}

/** The default signer of `create --sign` and `sign` without a key flag, and the keyless services. */
export interface SigningConfig {
  method: 'pgp' | 'sigstore-key' | 'keyless' | null;
  pgpKey: string | null;
  sigstoreKey: string | null;
  fulcioUrl: string | null;
  rekorUrl: string | null;
  tsaUrl: string | null;
}

/** The config's `retention` section; `prune` flags replace it for one run. */
export interface RetentionConfig {
  keepLast?: number;
  keepHourly?: number;
  keepDaily?: number;
  keepWeekly?: number;
  keepMonthly?: number;
  keepYearly?: number;
  keepWithin?: string;
  keepTags?: string[];
  /** IANA time zone for the hour/day/week/month/year buckets. Default UTC. */
  timezone: string;
}

/** The config file as written by `init` and edited by people: every field optional except version. */
export interface ConfigFile {
  version: 1;
  include?: string[];
  exclude?: string[];
  index?: Partial<IndexConfig> & { path: string } | null;
  store?: Partial<Config['store']>;
  sla?: Partial<SlaConfig>;
  rollback?: { safetyProtection?: string };
  gates?: { name: string; run?: string; timeoutSeconds?: number }[];
  retention?: Partial<RetentionConfig>;
  trust?: Partial<TrustConfig>;
  signing?: Partial<SigningConfig>;
  principals?: Record<string, Partial<PrincipalConfig>>;
  roles?: Record<string, string[]>;
  environments?: Record<string, EnvironmentFile>;
  remotes?: Record<string, { url: string; caFile?: string; plainHttp?: boolean }>;
}

interface EnvironmentFile {
  requires?: { role: string; count?: number }[];
  rollbackRequires?: { role: string; count?: number }[];
  approvalMaxAge?: string;
  after?: string;
  rehearsalMaxAge?: string;
  breakGlass?: string[];
  keepPins?: number;
  remote?: string;
}

const requirements = (list: { role: string; count?: number }[] | undefined): Requirement[] | undefined => list?.map((r) => ({ role: r.role, count: r.count ?? 1 }));

function environment(name: string, e: EnvironmentFile): EnvironmentConfig {
  return {
    requires: requirements(e.requires) ?? [],
    // A governed environment's rollback needs an approver unless it says otherwise; an ungoverned one stays so.
    rollbackRequires: requirements(e.rollbackRequires) ?? (e.requires?.length ? [{ role: 'approver', count: 1 }] : []),
    approvalMaxAgeMs: parseDuration(e.approvalMaxAge ?? '72h', `environments.${name}.approvalMaxAge`),
    after: e.after ?? null,
    rehearsalMaxAgeMs: e.rehearsalMaxAge !== undefined ? parseDuration(e.rehearsalMaxAge, `environments.${name}.rehearsalMaxAge`) : null,
    breakGlass: e.breakGlass ?? [],
    keepPins: e.keepPins ?? 5,
    remote: e.remote ?? null,
  };
}

export const DEFAULT_SLA: SlaConfig = { snapshotSeconds: 30, rollbackSeconds: 300, verifySeconds: 60, recoverySeconds: 300 };
/**
 * Secret keys never belong in a snapshot (its objects are copied into every export and restored
 * by every rollback): the names snapgov keygen and cosign write are excluded by default.
 */
export const SECRET_KEY_EXCLUDE = ['**/*.sec.asc', '**/*.key'];
export const DEFAULT_EXCLUDE = ['.git/**', ...SECRET_KEY_EXCLUDE];

export interface Workspace {
  root: string;
  configPath: string;
  /** The config file's bytes as read (its changes are audited: store/config-record.ts). */
  configText: string;
  config: Config;
  /** Absolute store folders. */
  dirs: { snapshots: string; metadata: string; rehearsal: string };
}

/** Walks up from `start` to the first folder holding snapgov.json, like git does for `.git`. */
export function findWorkspaceRoot(start: string): string | null {
  let dir = resolve(start);
  for (;;) {
    if (existsSync(join(dir, CONFIG_FILE))) return dir;
    const up = dirname(dir);
    if (up === dir) return null;
    dir = up;
  }
}

export function resolveConfig(file: ConfigFile): Config {
  const idx = file.index;
  return {
    include: file.include ?? ['**'],
    exclude: file.exclude ?? [...DEFAULT_EXCLUDE],
    index: idx
      ? {
          path: idx.path,
          entries: idx.entries ?? '/artifacts',
          pathField: idx.pathField ?? 'path',
          digestField: idx.digestField ?? 'sha256',
          relativeTo: idx.relativeTo ?? 'index',
          schema: idx.schema ?? null,
        }
      : null,
    store: {
      snapshots: file.store?.snapshots ?? 'snapshots',
      metadata: file.store?.metadata ?? 'metadata',
      rehearsal: file.store?.rehearsal ?? 'rehearsal',
    },
    sla: { ...DEFAULT_SLA, ...file.sla },
    rollback: { safetyProtectionMs: parseDuration(file.rollback?.safetyProtection ?? '7d', 'rollback.safetyProtection') },
    gates: (file.gates ?? []).map((gate) => ({ name: gate.name, ...(gate.run ? { run: gate.run } : {}), timeoutSeconds: gate.timeoutSeconds ?? 300 })),
    retention: { ...file.retention, timezone: file.retention?.timezone ?? 'UTC' },
    trust: {
      pgpKeys: file.trust?.pgpKeys ?? [],
      keyDir: file.trust?.keyDir ?? 'keys',
      sigstoreKeys: file.trust?.sigstoreKeys ?? [],
      identities: file.trust?.identities ?? [],
      trustedRoot: file.trust?.trustedRoot ?? null,
      threshold: file.trust?.threshold ?? 1,
      required: file.trust?.required ?? false,
    },
    signing: {
      method: file.signing?.method ?? null,
      pgpKey: file.signing?.pgpKey ?? null,
      sigstoreKey: file.signing?.sigstoreKey ?? null,
      fulcioUrl: file.signing?.fulcioUrl ?? null,
      rekorUrl: file.signing?.rekorUrl ?? null,
      tsaUrl: file.signing?.tsaUrl ?? null,
    },
    principals: Object.fromEntries(Object.entries(file.principals ?? {}).map(([n, p]) => [n, { pgpKeys: p.pgpKeys ?? [], sigstoreKeys: p.sigstoreKeys ?? [] }])),
    roles: { ...file.roles },
    environments: Object.fromEntries(Object.entries(file.environments ?? {}).map(([n, e]) => [n, environment(n, e)])),
    remotes: Object.fromEntries(Object.entries(file.remotes ?? {}).map(([n, r]) => [n, { url: r.url, caFile: r.caFile ?? null, plainHttp: r.plainHttp ?? null }])),
  };
}

function invalid(configPath: string, problem: string, how?: string): SnapgovError {
  return new SnapgovError('CONFIG_INVALID', `invalid config ${configPath}: ${problem}`, `fix ${CONFIG_FILE}${how ? `: ${how}` : " (its schema is schemas/config.schema.json; see the README's config reference)"}`);
}

export async function parseConfig(configPath: string, text: string): Promise<Config> {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw invalid(configPath, `not valid JSON (${(e as Error).message})`);
  }
  const res = await validate('config', doc);
  if (!res.ok) throw invalid(configPath, res.errors.join('; '));
  const config = resolveConfig(doc as ConfigFile);
  for (const gate of config.gates) {
    if (!gate.run && gate.name !== 'index') throw invalid(configPath, `/gates: gate ${JSON.stringify(gate.name)} has no "run" command (only "index" is built in)`);
  }
  for (const [i, id] of config.trust.identities.entries()) {
    if ((id.identity === undefined) === (id.identityRegexp === undefined)) throw invalid(configPath, `/trust/identities/${i}: give exactly one of "identity" (exact) and "identityRegexp"`);
    if (id.identityRegexp !== undefined) {
      try {
        new RegExp(id.identityRegexp);
      } catch (e) {
        throw invalid(configPath, `/trust/identities/${i}/identityRegexp: ${(e as Error).message}`);
      }
    }
  }
  for (const key of ['include', 'exclude'] as const) {
    for (const [i, pattern] of config[key].entries()) {
      if (leavesWorkspace(pattern)) throw invalid(configPath, `/${key}/${i} ${JSON.stringify(pattern)} leaves the workspace`, 'patterns are relative to the workspace root: no leading "/", no ".." segment (also not inside braces)');
    }
  }
  governanceProblem(config, (where, problem) => {
    throw invalid(configPath, `${where}: ${problem}`);
  });
  if (!validTimeZone(config.retention.timezone)) throw invalid(configPath, `/retention/timezone ${JSON.stringify(config.retention.timezone)} is not an IANA time zone (for example "UTC" or "Europe/Berlin")`);
  if (config.index) {
    const bad = pathProblem(config.index.path);
    if (bad) throw invalid(configPath, `/index/path ${JSON.stringify(config.index.path)}: ${bad}`);
    if (config.index.schema !== null && pathProblem(config.index.schema)) throw invalid(configPath, `/index/schema: ${pathProblem(config.index.schema)}`);
  }
  return config;
}

/** Names that must refer to something: roles to principals, environments to roles, principals and each other. */
function governanceProblem(c: Config, fail: (where: string, problem: string) => never): void {
  for (const [role, names] of Object.entries(c.roles)) {
    for (const n of names) if (!c.principals[n]) fail(`/roles/${role}`, `${JSON.stringify(n)} is not a principal (add it to "principals" with its keys)`);
  }
  for (const [env, e] of Object.entries(c.environments)) {
    for (const r of [...e.requires, ...e.rollbackRequires]) if (!(c.roles[r.role]?.length)) fail(`/environments/${env}`, `it requires the role ${JSON.stringify(r.role)}, which nobody holds`);
    for (const n of e.breakGlass) if (!c.principals[n]) fail(`/environments/${env}/breakGlass`, `${JSON.stringify(n)} is not a principal`);
    if (e.after !== null && !c.environments[e.after]) fail(`/environments/${env}/after`, `${JSON.stringify(e.after)} is not an environment`);
    if (e.remote !== null && !c.remotes[e.remote]) fail(`/environments/${env}/remote`, `${JSON.stringify(e.remote)} is not one of "remotes"`);
    if (e.remote !== null && /^(snap|sha256)-/.test(env)) fail(`/environments/${env}/remote`, 'an environment whose name starts with snap- or sha256- cannot name a registry tag (those are snapgov\'s own)');
    // The promotion path must end: following "after" from any environment never comes back to it.
    const seen = new Set([env]);
    for (let at = e.after; at !== null; at = c.environments[at]?.after ?? null) {
      if (seen.has(at)) fail(`/environments/${env}/after`, 'the promotion path goes round in a circle');
      seen.add(at);
    }
  }
}

/**
 * A pattern that could match outside the workspace: absolute, or with a `..` segment anywhere,
 * brace alternatives included (`{..,a}/**`). Checked on the text, before any walk, so a pattern
 * never reads (or names in an error) what lies above the workspace.
 */
export function leavesWorkspace(pattern: string): boolean {
  const p = pattern.replace(/^!/, '');
  return p.startsWith('/') || /(^|[/{,])\.\.($|[/},])/.test(p);
}

function validTimeZone(tz: string): boolean {
  // The default needs no check: building a formatter loads ICU's zone data (about 12 ms per command).
  if (tz === 'UTC') return true;
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

/** A trust.pgpKeys entry that is a fingerprint (of a key in keyDir) rather than a file. */
export const FINGERPRINT_ENTRY = /^[0-9A-Fa-f]{40}$/;

/**
 * The config with every key and trusted-root path made absolute against the workspace root, for a
 * copy of the workspace that lives elsewhere (the rehearsal sandbox) and must trust what it trusts.
 */
export function withAbsoluteKeyPaths(file: ConfigFile, root: string): ConfigFile {
  const abs = (p: string) => (isAbsolute(p) ? p : join(root, p));
  const t = file.trust;
  const sgn = file.signing;
  return {
    ...file,
    ...(t ? { trust: { ...t, ...(t.pgpKeys ? { pgpKeys: t.pgpKeys.map((k) => (FINGERPRINT_ENTRY.test(k) ? k : abs(k))) } : {}), keyDir: abs(t.keyDir ?? 'keys'), ...(t.sigstoreKeys ? { sigstoreKeys: t.sigstoreKeys.map(abs) } : {}), ...(t.trustedRoot ? { trustedRoot: abs(t.trustedRoot) } : {}) } } : {}),
    ...(sgn ? { signing: { ...sgn, ...(sgn.pgpKey ? { pgpKey: abs(sgn.pgpKey) } : {}), ...(sgn.sigstoreKey ? { sigstoreKey: abs(sgn.sigstoreKey) } : {}) } } : {}),
  };
}

export function storeDirs(root: string, config: Config): Workspace['dirs'] {
  const abs = (p: string) => (isAbsolute(p) ? p : join(root, p));
  return { snapshots: abs(config.store.snapshots), metadata: abs(config.store.metadata), rehearsal: abs(config.store.rehearsal) };
}

/**
 * The one boundary every command goes through: the store is never part of the managed tree, and
 * the managed tree never holds the store (a rollback would delete the store's files, or a create
 * snapshot them). Store folders must not be the workspace root or hold it, nor equal or hold each
 * other, nor be symbolic links (whose real place the walk's exclusions would not see). Decided on
 * real paths, resolved once here.
 */
export function checkStoreFolders(root: string, dirs: Workspace['dirs'], config: Pick<Config, 'store'>): void {
  const hint = 'give each of "store.snapshots", "store.metadata" and "store.rehearsal" a folder of its own: inside the workspace (excluded from snapshots) or outside it, never the workspace root itself or a folder holding it';
  const named = (['snapshots', 'metadata', 'rehearsal'] as const).map((k) => ({ key: `store.${k}`, given: config.store[k], abs: dirs[k] }));
  for (const d of named) {
    if (existsSync(d.abs) && lstatSync(d.abs).isSymbolicLink()) {
      throw new SnapgovError('CONFIG_INVALID', `"${d.key}" (${d.given}) is a symbolic link`, `point "${d.key}" at the real folder (${realFolder(d.abs)}); snapgov never writes or deletes through a link`);
    }
  }
  const realRoot = realFolder(root);
  const real = named.map((d) => ({ ...d, real: realFolder(d.abs) }));
  for (const d of real) {
    if (within(d.real, realRoot)) throw new SnapgovError('CONFIG_INVALID', `"${d.key}" (${d.given}) ${d.real === realRoot ? 'is' : 'holds'} the workspace root ${root}: a rollback would delete the store and a create would snapshot it`, hint);
  }
  for (let i = 0; i < real.length; i++) {
    for (let j = i + 1; j < real.length; j++) {
      const [a, b] = [real[i]!, real[j]!];
      if (within(a.real, b.real) || within(b.real, a.real)) throw new SnapgovError('CONFIG_INVALID', `"${a.key}" (${a.given}) and "${b.key}" (${b.given}) ${a.real === b.real ? 'are the same folder' : 'lie one inside the other'}`, hint);
    }
  }
}

/** Store folders that lie inside the workspace, as workspace-relative paths (always excluded from the managed set). */
export function storeDirsInside(ws: Workspace): string[] {
  const out: string[] = [];
  // Real paths: a store folder named through another route to the workspace is still inside it.
  const root = realFolder(ws.root);
  for (const d of Object.values(ws.dirs)) {
    const rel = relative(root, realFolder(d));
    if (rel !== '' && !rel.startsWith('..') && !isAbsolute(rel)) out.push(rel.split(sep).join('/'));
  }
  return out;
}

const MAX_CONFIG_BYTES = 1 << 20;

/**
 * Reads the config only if it is a regular file of bounded size: opened non-blocking and checked
 * by its descriptor, so a FIFO or device put in its place is refused instead of blocking forever.
 */
export function readConfigText(configPath: string): string {
  let fd: number;
  try {
    fd = openSync(configPath, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOFOLLOW);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw invalid(configPath, code === 'ELOOP' ? 'it is a symbolic link (snapgov reads only a regular file there)' : `it cannot be read (${code ?? (e as Error).message})`);
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw invalid(configPath, 'it is not a regular file');
    if (st.size > MAX_CONFIG_BYTES) throw invalid(configPath, `it is larger than ${MAX_CONFIG_BYTES} bytes`);
    return readFileSync(fd, 'utf8');
  } finally {
    closeSync(fd);
  }
}

/** Settings that differ between two config documents, as dotted paths (`trust.required`); arrays compare whole. */
export function changedSettings(a: unknown, b: unknown, prefix = ''): string[] {
  const isObj = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);
  if (!isObj(a) || !isObj(b)) return JSON.stringify(a) === JSON.stringify(b) ? [] : [prefix || '(whole file)'];
  const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])].sort();
  return keys.flatMap((k) => changedSettings(a[k], b[k], prefix ? `${prefix}.${k}` : k));
}

/**
 * As git's safe.directory: a workspace whose folder or config belongs to another user, or that
 * anyone may write, is refused. Its config decides which gates run and where the store writes, so
 * using it as is would let that user's settings act with this user's rights (root's, often).
 * `SNAPGOV_SAFE_DIRECTORY` (paths separated by ":", or "*") allows one on purpose.
 */
function checkOwnership(root: string, configPath: string): void {
  const uid = process.geteuid?.();
  if (uid === undefined) return;
  const problems: string[] = [];
  for (const p of [root, configPath]) {
    const st = statSync(p);
    if (st.uid !== uid) problems.push(`${p} belongs to user ${st.uid}`);
    // A sticky folder (a tmpfs root, /tmp) lets others add files but not replace snapgov.json.
    else if (st.mode & 0o002 && !(p === root && st.mode & 0o1000)) problems.push(`${p} is writable by anyone`);
  }
  if (problems.length === 0) return;
  const allowed = (process.env.SNAPGOV_SAFE_DIRECTORY ?? '').split(':').some((d) => d === '*' || (d !== '' && resolve(d) === root));
  if (allowed) return;
  throw new SnapgovError('CONFIG_INVALID', `refusing the workspace ${root}: ${problems.join('; ')} (you are user ${uid})`, `if you trust it, allow it: SNAPGOV_SAFE_DIRECTORY=${root} (several separated by ":", or "*"), as git's safe.directory; or fix the ownership`);
}

export async function loadWorkspace(cwdOption: string | undefined): Promise<Workspace> {
  const start = resolve(cwdOption ?? process.cwd());
  if (cwdOption !== undefined && (!existsSync(start) || !statSync(start).isDirectory())) {
    throw new SnapgovError('NO_WORKSPACE', `-C ${cwdOption}: no such directory`, 'pass an existing workspace folder to -C');
  }
  const root = findWorkspaceRoot(start);
  if (!root) {
    throw new SnapgovError('NO_WORKSPACE', `no ${CONFIG_FILE} found in ${start} or any parent folder`, 'run `snapgov init` in the workspace root, or pass -C DIR');
  }
  const configPath = join(root, CONFIG_FILE);
  checkOwnership(root, configPath);
  const configText = readConfigText(configPath);
  const config = await parseConfig(configPath, configText);
  const ws: Workspace = { root, configPath, configText, config, dirs: storeDirs(root, config) };
  checkStoreFolders(root, ws.dirs, config);
  if (!existsSync(ws.dirs.snapshots) || !existsSync(ws.dirs.metadata)) {
    throw new SnapgovError('NO_WORKSPACE', `the store folders of ${root} are missing (${config.store.snapshots}/, ${config.store.metadata}/)`, 'run `snapgov init --force` to create them again (it keeps every setting of snapgov.json), or fix "store" in snapgov.json');
  }
  return ws;
}
