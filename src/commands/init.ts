import { existsSync, lstatSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { checkStoreFolders, CONFIG_FILE, DEFAULT_EXCLUDE, findWorkspaceRoot, loadWorkspace, parseConfig, storeDirs, type Config, type ConfigFile, type IndexConfig } from '../config/config.js';
import { countArtifacts, detectIndex, type DetectedIndex } from '../core/index-detect.js';
import { pathProblem } from '../core/paths.js';
import { SnapgovError } from '../errors.js';
import { outcome, type GlobalOptions, type Outcome } from '../output.js';
import { appendAudit } from '../store/audit-log.js';
import { auditConfigChange, writeRecordedConfig } from '../store/config-record.js';
import { ensureStoreDirs, storeLayout } from '../store/layout.js';
import { managedPathTest, walkTree } from '../scan/walk.js';
import { boundedList } from '../util/text.js';
import { atomicWriteFile } from '../util/fsx.js';
import { refuseForeignStore, withLock } from '../store/open.js';

export interface InitOptions {
  index?: string | false;
  indexEntries?: string;
  indexPathField?: string;
  indexDigestField?: string;
  indexRelativeTo?: string;
  include?: string[];
  exclude?: string[];
  force?: boolean;
}

export interface InitResult {
  workspace: string;
  config: string;
  index: string | null;
  /** How the index is read, and what init found in it (absent without an index). */
  indexSettings?: Omit<IndexConfig, 'path' | 'schema'> & { artifacts: number; found: number; detected: string[] };
  include: string[];
  exclude: string[];
  overwritten: boolean;
  /** With --force on an existing config: the settings it changed (every other one is kept). */
  changed: string[];
}

const INDEX_CANDIDATES = ['artifacts/index.json', 'index.json'];
const MAX_INDEX_BYTES = 256 << 20;

/**
 * Reads the index init is asked to use: a regular JSON file. A YAML index (Helm's index.yaml) is
 * refused with the conversion to run, since snapgov reads JSON only.
 */
function readIndex(root: string, path: string): unknown {
  const abs = join(root, path);
  const st = existsSync(abs) ? lstatSync(abs) : null;
  if (!st) throw new SnapgovError('USAGE', `the artifact index ${path} does not exist`, `pass --index PATH of the index file (relative to ${root}), or --no-index`);
  if (!st.isFile()) throw new SnapgovError('USAGE', `the artifact index ${path} is not a regular file`, 'pass --index PATH of a JSON file, or --no-index');
  if (st.size > MAX_INDEX_BYTES) throw new SnapgovError('USAGE', `the artifact index ${path} is larger than ${MAX_INDEX_BYTES} bytes`, 'pass --no-index, or split the index');
  try {
    return JSON.parse(readFileSync(abs, 'utf8'));
  } catch (e) {
    const yaml = /\.ya?ml$/i.test(path) ? ` (convert a YAML index to JSON first, for example: yq -o json ${path} > ${path.replace(/\.ya?ml$/i, '.json')})` : '';
    throw new SnapgovError('USAGE', `the artifact index ${path} is not JSON: ${(e as Error).message}`, `snapgov reads JSON indexes${yaml}; or pass --no-index`);
  }
}

/** The existing config, kept whole by --force; one that cannot be read is never overwritten. */
function readExisting(configPath: string): ConfigFile {
  try {
    const doc = JSON.parse(readFileSync(configPath, 'utf8')) as unknown;
    if (typeof doc === 'object' && doc !== null && !Array.isArray(doc)) return doc as ConfigFile;
  } catch {
    /* refused below */
  }
  throw new SnapgovError('CONFIG_INVALID', `${configPath} exists but is not a JSON object`, 'fix it by hand (init --force keeps every setting, so it needs a readable config), or move it away and run snapgov init');
}

export async function init(opts: InitOptions, g: GlobalOptions): Promise<Outcome<InitResult>> {
  const root = resolve(g.cwd ?? process.cwd());
  if (!existsSync(root)) throw new SnapgovError('NO_WORKSPACE', `${root}: no such directory`, 'create the folder first or pass an existing one to -C');
  const configPath = join(root, CONFIG_FILE);
  const existed = existsSync(configPath);
  if (existed && !opts.force) {
    throw new SnapgovError('CONFIG_EXISTS', `${configPath} already exists`, 'snapgov init --force keeps every setting, applies only the flags given, and recreates missing store folders');
  }
  const before: ConfigFile = existed ? readExisting(configPath) : { version: 1 };
  const file: ConfigFile = { ...before, version: 1 };
  if (!existed || opts.include?.length) file.include = opts.include?.length ? opts.include : ['**'];
  // --exclude adds to the exclusions (the defaults keep .git and secret keys out); removing one is a hand edit.
  if (!existed || opts.exclude?.length) file.exclude = [...new Set([...(before.exclude ?? DEFAULT_EXCLUDE), ...(opts.exclude ?? [])])];
  if (!existed) file.store = { snapshots: 'snapshots', metadata: 'metadata', rehearsal: 'rehearsal' };
  const indexFlags = opts.index !== undefined || opts.indexEntries !== undefined || opts.indexPathField !== undefined || opts.indexDigestField !== undefined || opts.indexRelativeTo !== undefined;
  let settings: InitResult['indexSettings'];
  if (!existed || indexFlags) {
    const r = chooseIndex(root, opts, existed ? (before.index ?? null) : undefined);
    file.index = r.index;
    settings = r.settings;
  }

  const text = JSON.stringify(file, null, 2) + '\n';
  const config = await parseConfig(configPath, text);
  const dirs = storeDirs(root, config);
  checkStoreFolders(root, dirs, config);
  if (!existed) await refuseNesting(root, config, text);
  const changed = existed ? changedKeys(before, file) : [];
  const layout = storeLayout({ dirs });
  refuseForeignStore(layout);
  ensureStoreDirs(layout);
  await withLock(g, layout, 'exclusive', 'init', async () => {
    if (existed && changed.length === 0) return;
    atomicWriteFile(configPath, text);
    if (existed) return;
    await appendAudit(layout, { action: 'init', outcome: 'success', details: { index: config.index?.path ?? null, include: config.include, exclude: config.exclude } });
    writeRecordedConfig(layout, text);
  });
  // On an existing config, the change is audited against the config as last audited, so a hand edit made before this run is named too.
  const unaudited = existed ? await auditConfigChange({ configPath, configText: text }, layout) : null;
  if (unaudited) throw new SnapgovError('IO_ERROR', unaudited, 'check that the metadata folder is writable, then run snapgov init --force again');
  const result: InitResult = { workspace: root, config: configPath, index: config.index?.path ?? null, ...(settings ? { indexSettings: settings } : {}), include: config.include, exclude: config.exclude, overwritten: existed, changed };
  return outcome(result, (r, s) => {
    const i = r.indexSettings;
    const lines = [
      `${s.green(!r.overwritten ? 'Initialized' : r.changed.length ? 'Updated' : 'Checked')} snapgov workspace in ${r.workspace}`,
      `  config:   ${CONFIG_FILE}${r.overwritten ? (r.changed.length ? ` (changed: ${r.changed.join(', ')}; every other setting kept)` : ' (unchanged; store folders recreated where missing)') : ''}`,
      `  index:    ${r.index ?? '(none)'}`,
    ];
    if (i && r.index) {
      lines.push(`            entries at ${JSON.stringify(i.entries)}, path field "${i.pathField}", digest field "${i.digestField}", paths relative to the ${i.relativeTo === 'index' ? "index's folder" : 'workspace root'}`);
      lines.push(`            ${i.found} of ${i.artifacts} listed artifact(s) found${i.detected.length ? `; detected: ${i.detected.join(', ')} (override with --index-entries, --index-path-field, --index-digest-field, --index-relative-to)` : ''}`);
    }
    lines.push(`  include:  ${r.include.join(', ')}`, `  exclude:  ${r.exclude.join(', ')} (plus the store folders and ${CONFIG_FILE})`);
    if (existsSync(join(r.workspace, '.git')) && !r.overwritten) lines.push(`  git:      add the store folders to .gitignore: printf 'snapshots/\\nmetadata/\\nrehearsal/\\n' >> .gitignore`);
    if (!r.overwritten) lines.push(`Next: snapgov create --message "first snapshot"`);
    return lines.join('\n');
  });
}

/**
 * A workspace inside another's managed tree would be snapshotted (its store included) and rolled
 * back by the outer one, and a new workspace over existing ones would do the same to them: both are
 * refused, naming the exclusion that separates them.
 */
async function refuseNesting(root: string, config: Config, text: string): Promise<void> {
  const outerRoot = findWorkspaceRoot(dirname(root));
  const outer = outerRoot ? await loadWorkspace(outerRoot).catch(() => null) : null;
  if (outer) {
    const rel = relative(outer.root, root);
    if (managedPathTest(outer)(`${rel}/${CONFIG_FILE}`)) {
      throw new SnapgovError('USAGE', `${root} lies inside the workspace ${outer.root}, whose snapshots would take in this workspace and its store`, `add "${rel}/**" to "exclude" in ${outer.configPath} first, then run snapgov init here again; or manage these files from the outer workspace`);
    }
  }
  const inner = walkTree({ root, configPath: join(root, CONFIG_FILE), configText: text, config, dirs: storeDirs(root, config) })
    .paths.filter((p) => p.endsWith(`/${CONFIG_FILE}`))
    .map((p) => p.slice(0, -CONFIG_FILE.length - 1));
  if (inner.length) {
    throw new SnapgovError('USAGE', `${root} holds other snapgov workspaces, which this one would snapshot and roll back: ${boundedList(inner, 5)}`, `exclude them: snapgov init ${inner.slice(0, 3).map((d) => `--exclude '${d}/**'`).join(' ')}${inner.length > 3 ? ' …' : ''}`);
  }
}

/** The index setting: flags first, then what the file's content shows (each detected setting is reported). */
function chooseIndex(root: string, o: InitOptions, existing: ConfigFile['index'] | undefined): { index: ConfigFile['index']; settings?: InitResult['indexSettings'] } {
  if (o.index === false) return { index: null };
  let path: string | null;
  if (typeof o.index === 'string') {
    const bad = pathProblem(o.index);
    if (bad) throw new SnapgovError('USAGE', `--index ${o.index}: ${bad}`, 'give the index as a path relative to the workspace root, for example artifacts/index.json');
    path = o.index;
  } else path = existing?.path ?? INDEX_CANDIDATES.find((c) => existsSync(join(root, c))) ?? null;
  if (path === null) {
    if (o.indexEntries ?? o.indexPathField ?? o.indexDigestField ?? o.indexRelativeTo) throw new SnapgovError('USAGE', 'index settings were given but no index file', 'pass --index PATH too');
    return { index: null };
  }
  if (o.indexRelativeTo !== undefined && o.indexRelativeTo !== 'index' && o.indexRelativeTo !== 'workspace') {
    throw new SnapgovError('USAGE', `--index-relative-to ${JSON.stringify(o.indexRelativeTo)} is neither "index" nor "workspace"`, 'index: paths relative to the index file\'s folder; workspace: relative to the workspace root');
  }
  if (o.indexEntries !== undefined && o.indexEntries !== '' && !o.indexEntries.startsWith('/')) {
    throw new SnapgovError('USAGE', `--index-entries ${JSON.stringify(o.indexEntries)} is not a JSON pointer`, 'a JSON pointer starts with "/", for example /artifacts or /data/files ("" for a top-level array)');
  }
  const doc = readIndex(root, path);
  const d: DetectedIndex = detectIndex(doc, path, (p) => existsSync(join(root, p)));
  const detected: string[] = [];
  const pick = <T>(flag: T | undefined, kept: T | undefined, found: T, name: string): T => {
    if (flag !== undefined) return flag;
    if (kept !== undefined) return kept;
    detected.push(name);
    return found;
  };
  const keep = existing && existing.path === path ? existing : undefined;
  const entries = pick(o.indexEntries, keep?.entries, d.entries, 'entries');
  const pathField = pick(o.indexPathField, keep?.pathField, d.pathField, 'path field');
  const digestField = pick(o.indexDigestField, keep?.digestField, d.digestField, 'digest field');
  const relativeTo = pick(o.indexRelativeTo as IndexConfig['relativeTo'] | undefined, keep?.relativeTo, d.relativeTo, 'relative-to');
  const index = { ...keep, path, entries, pathField, digestField, relativeTo };
  const counted = countArtifacts(doc, index, (p) => existsSync(join(root, p)));
  if (counted.artifacts > 0 && counted.found === 0) {
    throw new SnapgovError('USAGE', `none of the ${counted.artifacts} artifact(s) that ${path} lists at ${JSON.stringify(entries)} (field "${pathField}", relative to the ${relativeTo === 'index' ? "index's folder" : 'workspace root'}) exists`, 'check --index-entries, --index-path-field and --index-relative-to (index or workspace), or pass --no-index');
  }
  return { index, settings: { entries, pathField, digestField, relativeTo, ...counted, detected } };
}

/** Top-level settings whose value differs (JSON comparison), as written in the README's config reference. */
function changedKeys(a: ConfigFile, b: ConfigFile): string[] {
  const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])] as (keyof ConfigFile)[];
  return keys.filter((k) => JSON.stringify(a[k]) !== JSON.stringify(b[k])).sort();
}
