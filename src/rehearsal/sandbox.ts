import { copyFileSync, cpSync, existsSync, linkSync, lstatSync, mkdirSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CONFIG_FILE, loadWorkspace, storeDirsInside, withAbsoluteKeyPaths, type ConfigFile, type Workspace } from '../config/config.js';
import { signaturesDir } from '../store/signature-files.js';
import { appendAudit } from '../store/audit-log.js';
import { SnapgovError } from '../errors.js';
import { storeLayout, manifestPath, metadataPath, ensureStoreDirs, type StoreLayout } from '../store/layout.js';
import type { Store } from '../store/open.js';
import { within } from '../core/paths.js';
import { realFolder } from '../util/fsx.js';

export interface Sandbox {
  dir: string;
  /** How the sandbox store reaches the real objects: hard links (same file system) or symbolic links. */
  objects: 'hardlink' | 'symlink';
  layout: StoreLayout;
  configText: string;
}

const SANDBOX = /^\.sandbox-.*-pid(\d+)$/;

/** A sandbox kept on request (--keep-sandbox) carries this file, so later drills leave it alone. */
const KEPT_MARK = 'KEPT';

export function markKept(dir: string): void {
  writeFileSync(join(dir, KEPT_MARK), 'kept by snapgov rehearse --keep-sandbox; remove the folder when done\n');
}

/** Default sandboxes left by a drill that was killed (its process is gone) are removed by the next one; kept ones stay. */
export function removeStaleSandboxes(ws: Workspace): void {
  for (const name of safeList(ws.dirs.rehearsal)) {
    const m = SANDBOX.exec(name);
    if (!m || Number(m[1]) === process.pid || existsSync(join(ws.dirs.rehearsal, name, KEPT_MARK))) continue;
    try {
      process.kill(Number(m[1]), 0);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ESRCH') rmSync(join(ws.dirs.rehearsal, name), { recursive: true, force: true });
    }
  }
}

/** Where the drill may work: an empty or new folder that is not part of the managed tree. */
export function sandboxDir(ws: Workspace, requested: string | undefined, runId: string): string {
  if (requested === undefined) return join(ws.dirs.rehearsal, `.sandbox-${runId}-pid${process.pid}`);
  if (existsSync(requested) && lstatSync(requested).isSymbolicLink()) {
    throw new SnapgovError('USAGE', `--sandbox ${requested} is a symbolic link`, 'give a real folder: the drill writes and deletes there, and never through a link');
  }
  // Real paths, so a folder reached through a link into the workspace is seen as inside it.
  const dir = realFolder(requested);
  if (existsSync(dir) && readdirSync(dir).length > 0) {
    throw new SnapgovError('USAGE', `--sandbox ${requested} is not empty`, 'give a new or empty folder: the drill deletes what it restores there');
  }
  const root = realFolder(ws.root);
  const storeDirs = storeDirsInside(ws).map((d) => join(root, d));
  if (within(root, dir) && !storeDirs.some((d) => within(d, dir))) {
    throw new SnapgovError('USAGE', `--sandbox ${requested} lies inside the managed tree of ${ws.root}`, 'put the sandbox outside the workspace (or inside its rehearsal folder), so the drill never touches the live tree');
  }
  return dir;
}

/**
 * Links every object of the real store into the sandbox's own store: hard links where the file
 * system allows (objects are read-only and never rewritten in place), symbolic links otherwise. The
 * sandbox store then reads the real data, and whatever the drill writes (safety snapshots, the
 * journal, the stat cache) lands in the sandbox only.
 */
function linkObjects(real: StoreLayout, sandbox: StoreLayout): Sandbox['objects'] {
  let mode: Sandbox['objects'] = 'hardlink';
  const link = (from: string, to: string) => {
    if (mode === 'hardlink') {
      try {
        linkSync(from, to);
        return;
      } catch (e) {
        if (!['EXDEV', 'EPERM', 'EMLINK'].includes((e as NodeJS.ErrnoException).code ?? '')) throw e;
        mode = 'symlink';
      }
    }
    symlinkSync(from, to);
  };
  for (const name of safeList(real.packs)) if (name.endsWith('.pack')) link(join(real.packs, name), join(sandbox.packs, name));
  for (const fan of safeList(real.objects)) {
    if (!/^[0-9a-f]{2}$/.test(fan)) continue;
    mkdirSync(join(sandbox.objects, fan), { recursive: true });
    for (const name of safeList(join(real.objects, fan))) link(join(real.objects, fan, name), join(sandbox.objects, fan, name));
  }
  return mode;
}

function safeList(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

/** Creates the sandbox: its own store holding the snapshot's manifest and metadata and links to the real objects. */
export async function createSandbox(ws: Workspace, real: StoreLayout, dir: string, snapshot: string): Promise<Sandbox> {
  mkdirSync(dir, { recursive: true });
  const store = { snapshots: join(dir, 'store', 'snapshots'), metadata: join(dir, 'store', 'metadata'), rehearsal: join(dir, 'store', 'rehearsal') };
  const layout = storeLayout({ dirs: store });
  ensureStoreDirs(layout);
  // Its own audit trail, begun before any snapshot is in it, as a real store's is.
  await appendAudit(layout, { action: 'init', outcome: 'success', details: { sandboxOf: snapshot } });
  const objects = linkObjects(real, layout);
  copyFileSync(manifestPath(real, snapshot), manifestPath(layout, snapshot));
  copyFileSync(metadataPath(real, snapshot), metadataPath(layout, snapshot));
  // The sandbox store sees what the real one sees: the snapshot's signatures, and the same trusted keys.
  if (existsSync(signaturesDir(real, snapshot))) cpSync(signaturesDir(real, snapshot), signaturesDir(layout, snapshot), { recursive: true });
  // The workspace's own config, pointed at the sandbox store: gates that call snapgov work there too.
  const config = withAbsoluteKeyPaths(JSON.parse(ws.configText) as ConfigFile, ws.root);
  const configText = JSON.stringify({ ...config, store }, null, 2) + '\n';
  return { dir, objects, layout, configText };
}

/** An empty workspace folder in the sandbox, ready to be restored into. */
export async function freshWorkspace(sb: Sandbox): Promise<Store> {
  const root = join(sb.dir, 'ws');
  rmSync(root, { recursive: true, force: true });
  mkdirSync(root);
  writeFileSync(join(root, CONFIG_FILE), sb.configText);
  const ws = await loadWorkspace(root);
  return { ws, layout: sb.layout };
}

export function removeSandbox(sb: Pick<Sandbox, 'dir'>): void {
  rmSync(sb.dir, { recursive: true, force: true });
}
