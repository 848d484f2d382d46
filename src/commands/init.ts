import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { CONFIG_FILE, DEFAULT_EXCLUDE, parseConfig, storeDirs, type ConfigFile } from '../config/config.js';
import { pathProblem } from '../core/paths.js';
import { SnapgovError } from '../errors.js';
import { outcome, type GlobalOptions, type Outcome } from '../output.js';
import { appendAudit } from '../store/audit-log.js';
import { ensureStoreDirs, storeLayout } from '../store/layout.js';
import { atomicWriteFile } from '../util/fsx.js';
import { withLock } from './common.js';

export interface InitOptions {
  index?: string | false;
  include?: string[];
  exclude?: string[];
  force?: boolean;
}

export interface InitResult {
  workspace: string;
  config: string;
  index: string | null;
  include: string[];
  exclude: string[];
  overwritten: boolean;
}

const INDEX_CANDIDATES = ['artifacts/index.json', 'index.json'];

export async function init(opts: InitOptions, g: GlobalOptions): Promise<Outcome<InitResult>> {
  const root = resolve(g.cwd ?? process.cwd());
  if (!existsSync(root)) throw new SnapgovError('NO_WORKSPACE', `${root}: no such directory`, 'create the folder first or pass an existing one to -C');
  const configPath = join(root, CONFIG_FILE);
  const existed = existsSync(configPath);
  if (existed && !opts.force) {
    throw new SnapgovError('CONFIG_EXISTS', `${configPath} already exists`, 'pass --force to overwrite it (the store folders and snapshots are kept)');
  }
  let index: string | null;
  if (opts.index === false) index = null;
  else if (typeof opts.index === 'string') {
    const bad = pathProblem(opts.index);
    if (bad) throw new SnapgovError('USAGE', `--index ${opts.index}: ${bad}`, 'give the index as a path relative to the workspace root, for example artifacts/index.json');
    index = opts.index;
  } else index = INDEX_CANDIDATES.find((c) => existsSync(join(root, c))) ?? null;

  const file: ConfigFile = {
    version: 1,
    include: opts.include?.length ? opts.include : ['**'],
    exclude: opts.exclude?.length ? opts.exclude : [...DEFAULT_EXCLUDE],
    index: index === null ? null : { path: index },
    store: { snapshots: 'snapshots', metadata: 'metadata', rehearsal: 'rehearsal' },
  };
  const text = JSON.stringify(file, null, 2) + '\n';
  const config = await parseConfig(configPath, text);
  const dirs = storeDirs(root, config);
  const layout = storeLayout({ dirs });
  ensureStoreDirs(layout);
  await withLock(g, layout, 'exclusive', 'init', async () => {
    atomicWriteFile(configPath, text);
    await appendAudit(layout, { action: existed ? 'config-change' : 'init', outcome: 'success', details: { index, include: config.include, exclude: config.exclude } });
  });
  const result: InitResult = { workspace: root, config: configPath, index, include: config.include, exclude: config.exclude, overwritten: existed };
  return outcome(result, (r, s) =>
    [
      `${s.green(r.overwritten ? 'Rewrote' : 'Initialized')} snapgov workspace in ${r.workspace}`,
      `  config:   ${CONFIG_FILE}`,
      `  index:    ${r.index ?? '(none)'}`,
      `  include:  ${r.include.join(', ')}`,
      `  exclude:  ${r.exclude.join(', ')} (plus the store folders and ${CONFIG_FILE})`,
      `Next: snapgov create --message "first snapshot"`,
    ].join('\n'),
  );
}
