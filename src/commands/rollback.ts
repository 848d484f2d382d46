import type { ChalkInstance } from 'chalk';
import { isAbsolute, relative, resolve, sep } from 'node:path';
import { pathProblem } from '../core/paths.js';
import { shortId } from '../core/ref.js';
import { SnapgovError } from '../errors.js';
import { formatBytes, outcome, type GlobalOptions, type Outcome } from '../output.js';
import { executeRollback, type RollbackOptions, type RollbackResult, type RollbackRun } from '../rollback/engine.js';
import { openStore, withLock } from '../store/open.js';
import { canAsk, confirm } from '../util/prompt.js';
import { boundedList } from '../util/text.js';


export async function rollback(ref: string | undefined, opts: RollbackOptions & { env?: string; from?: string }, g: GlobalOptions): Promise<Outcome<RollbackResult>> {
  if (opts.from !== undefined) return followRemote(ref, opts, opts.from, g);
  if (opts.env === undefined) return run(ref, opts, g);
  if (ref !== undefined) throw new SnapgovError('USAGE', 'give a REF or --env, not both', `snapgov rollback --env ${opts.env} follows the environment's pin`);
  if (opts.resume) throw new SnapgovError('USAGE', '--resume finishes the interrupted rollback itself', 'snapgov rollback --resume');
  const { layout, ws } = await openStore(g, { rollback: true });
  // Loaded only here: governance brings the signing libraries, which a plain rollback never loads.
  const { pinnedSnapshot } = await import('../governance/pins.js');
  return run(pinnedSnapshot(ws, layout, opts.env), { ...opts, onlyIfChanged: true }, g);
}


/**
 * `rollback --from REMOTE:TAG`, a fleet host's one command: pull what the tag names (checked
 * against the trust policy before any object is downloaded), then roll back to it; a tree already
 * there is left alone, with no safety snapshot and no audit line.
 */
async function followRemote(ref: string | undefined, opts: RollbackOptions & { env?: string }, from: string, g: GlobalOptions): Promise<Outcome<RollbackResult>> {
  if (ref !== undefined || opts.env !== undefined || opts.resume) throw new SnapgovError('USAGE', '--from follows a remote tag: give no REF, --env or --resume with it', 'snapgov rollback --from oci://HOST/REPO:prod --yes');
  const store = await openStore(g, { rollback: true });
  // Loaded only here: the registry client is not part of a plain rollback.
  const [{ parseRemote }, { pullSnapshot }] = await Promise.all([import('../remote/reference.js'), import('../remote/pull.js')]);
  const pulled = await pullSnapshot(store, g, parseRemote(from, store.ws), {}, null);
  return run(pulled.id, { ...opts, onlyIfChanged: true }, g);
}

/** `snapgov restore REF PATH...`: single paths (relative to the current folder, as git takes them) put back as the snapshot has them. */
export async function restore(ref: string, paths: string[], opts: RollbackOptions, g: GlobalOptions): Promise<Outcome<RollbackResult>> {
  if (paths.length === 0) throw new SnapgovError('USAGE', 'name the paths to restore', 'snapgov restore REF PATH..., or snapgov rollback REF for the whole tree');
  return run(ref, opts, g, paths);
}

function workspacePaths(root: string, base: string, paths: string[]): string[] {
  const out = paths.map((p) => {
    const rel = relative(root, resolve(base, p)).split(sep).join('/');
    if (rel === '') throw new SnapgovError('USAGE', `${p} is the whole workspace`, 'snapgov rollback REF restores the whole tree');
    const bad = rel.startsWith('../') || rel === '..' || isAbsolute(rel) ? 'it lies outside the workspace' : pathProblem(rel);
    if (bad) throw new SnapgovError('USAGE', `cannot restore ${p}: ${bad}`, `give paths inside ${root}`);
    return rel;
  });
  return [...new Set(out)];
}

async function run(ref: string | undefined, opts: RollbackOptions & { onlyIfChanged?: boolean }, g: GlobalOptions, paths?: string[]): Promise<Outcome<RollbackResult>> {
  const started = performance.now();
  const store = await openStore(g, { rollback: true });
  // The time a person takes to answer is not part of the rollback's duration.
  let answeringMs = 0;
  const ask = async (question: string) => {
    const t0 = performance.now();
    try {
      return await confirm(question);
    } finally {
      answeringMs += performance.now() - t0;
    }
  };
  const selected = paths && workspacePaths(store.ws.root, resolve(g.cwd ?? process.cwd()), paths);
  const runOpts: RollbackRun = { ...opts, ...(selected ? { paths: selected } : {}), ...(canAsk(g.json) ? { ask } : {}), gates: true };
  const result = await withLock(g, store.layout, 'exclusive', selected ? 'restore' : 'rollback', (lock) => executeRollback(store, lock, ref, runOpts));
  result.durationMs = Math.round(performance.now() - started - answeringMs);
  const ok = result.dryRun || (result.verified && result.gates.every((x) => x.ok));
  const warnings = result.excluded.length ? [`${result.excluded.length} path(s) of ${shortId(result.to)} are not managed under the current include/exclude rules and were left alone: ${boundedList(result.excluded, 5)} (to restore them too, change "include"/"exclude" in snapgov.json and roll back again)`] : [];
  return outcome(result, renderRollback, ok ? 0 : 1, warnings);
}

function renderRollback(r: RollbackResult, s: ChalkInstance): string {
  const failed = r.gates.filter((x) => !x.ok).map((x) => x.name);
  const done = r.paths ? `restored ${boundedList(r.paths, 3)} from` : 'rolled back';
  if (r.unchanged) return `${s.green('unchanged')}: the live tree is already at ${s.bold(shortId(r.to))}`;
  const head = r.dryRun ? s.cyan('plan') : !r.verified ? s.red(`${r.paths ? 'restore' : 'rollback'} incomplete`) : failed.length ? s.red(`${r.paths ? 'restore' : 'rollback'} failed at gate ${failed.join(', ')}${r.reverted ? `; reverted to the safety snapshot ${shortId(r.safetySnapshot!)}` : r.safetySnapshot ? `; the tree stays at the target (undo: snapgov rollback ${shortId(r.safetySnapshot)})` : '; the tree stays at the target'}`) : s.green(done);
  const arrow = r.paths ? `${s.bold(shortId(r.to))} (the rest of the tree is left as it is)` : `${r.from ? shortId(r.from) : '(untracked tree)'} -> ${s.bold(shortId(r.to))}`;
  const lines = [`${head}${r.paths && !r.dryRun ? ' ' : ': '}${arrow}`, `  ${r.paths ? 'source' : 'target'}:   ${r.to} (${r.chosen.why})`];
  for (const x of r.chosen.rejected) lines.push(s.yellow(`  skipped ${shortId(x.id)}: ${x.problems.join(', ')}`));
  if (r.safetySnapshot) lines.push(`  safety:   ${r.safetySnapshot} (undo with: snapgov rollback ${shortId(r.safetySnapshot)})`);
  const p = r.plan;
  if (r.dryRun) {
    lines.push(`  would write ${p.write} file(s) and ${p.link} symlink(s) (${formatBytes(p.bytes)}), remove ${p.remove}, re-mode ${p.chmod}`);
    for (const [k, list] of Object.entries(p.paths ?? {})) for (const path of list.slice(0, 50)) lines.push(`    ${k.padEnd(6)} ${path}`);
    return lines.join('\n');
  }
  lines.push(`  wrote ${r.written} (${formatBytes(r.bytesWritten)}), removed ${r.removed}, re-moded ${r.modeChanged}; took ${(r.durationMs / 1000).toFixed(2)} s`);
  lines.push(`  verified: ${r.verified ? s.green(r.paths ? 'the restored paths equal the snapshot, the rest is unchanged' : 'the live tree equals the target') : s.red(`${r.drift.length} difference(s) remain: ${r.drift.slice(0, 5).join(', ')}`)}`);
  for (const gate of r.gates) {
    lines.push(`  gate ${gate.name}: ${gate.ok ? s.green('ok') : s.red(gate.timedOut ? 'timed out' : `failed (exit ${gate.exitCode})`)} in ${(gate.durationMs / 1000).toFixed(2)} s`);
    if (gate.outputTail) for (const l of gate.outputTail.split('\n')) lines.push(`    | ${l}`);
  }
  if (r.reverted) lines.push(s.yellow(`  a gate failed: the tree was restored to the safety snapshot ${shortId(r.safetySnapshot!)}`));
  return lines.join('\n');
}
