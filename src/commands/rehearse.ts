import { randomInt } from 'node:crypto';
import type { ChalkInstance } from 'chalk';
import type { SlaConfig } from '../config/config.js';
import { SCENARIOS, type ScenarioName } from '../core/rehearsal.js';
import { shortId } from '../core/ref.js';
import { SnapgovError } from '../errors.js';
import { outcome, type GlobalOptions, type Outcome } from '../output.js';
import { runRehearsal, type RehearsalReport } from '../rehearsal/rehearse.js';
import { prepareStatementSigner, type SignOptions } from '../signing/signer.js';
import { openStore } from '../store/open.js';
import { canAsk } from '../util/prompt.js';
import { parseDuration } from '../util/duration.js';

export interface RehearseOptions extends Pick<SignOptions, 'pgpKey' | 'passphraseFile' | 'sigstoreKey'> {
  scenario?: string[];
  sandbox?: string;
  keepSandbox?: boolean;
  pick?: string;
  window?: string;
  seed?: string;
  slaSnapshot?: string;
  slaVerify?: string;
  slaRollback?: string;
  slaRecovery?: string;
}

function scenarios(names: string[] | undefined): ScenarioName[] {
  if (!names?.length) return [...SCENARIOS];
  for (const n of names) {
    if (!(SCENARIOS as readonly string[]).includes(n)) throw new SnapgovError('USAGE', `unknown scenario ${JSON.stringify(n)}`, `use one of ${SCENARIOS.join(', ')}`);
  }
  return [...new Set(names)] as ScenarioName[];
}

function slaFrom(config: SlaConfig, o: RehearseOptions): SlaConfig {
  const s = (flag: string | undefined, name: string, def: number) => (flag === undefined ? def : parseDuration(flag, name) / 1000);
  return {
    snapshotSeconds: s(o.slaSnapshot, '--sla-snapshot', config.snapshotSeconds),
    verifySeconds: s(o.slaVerify, '--sla-verify', config.verifySeconds),
    rollbackSeconds: s(o.slaRollback, '--sla-rollback', config.rollbackSeconds),
    recoverySeconds: s(o.slaRecovery, '--sla-recovery', config.recoverySeconds),
  };
}

export async function rehearse(ref: string | undefined, o: RehearseOptions, g: GlobalOptions): Promise<Outcome<RehearsalReport>> {
  const started = { ms: performance.now(), at: new Date().toISOString() };
  const store = await openStore(g);
  const names = scenarios(o.scenario);
  const sla = slaFrom(store.ws.config.sla, o);
  if (o.seed !== undefined && !/^\d+$/.test(o.seed)) throw new SnapgovError('USAGE', `--seed ${JSON.stringify(o.seed)} is not a whole number`, 'for example --seed 42');
  const seed = o.seed !== undefined ? Number(o.seed) % 2 ** 32 : randomInt(2 ** 32);
  // A signer given, or one configured for statements: the result is signed (the key is unlocked before the drill).
  const method = store.ws.config.signing.method;
  const signs = !!(o.pgpKey || o.sigstoreKey || process.env.SNAPGOV_PGP_KEY || method === 'pgp' || method === 'sigstore-key');
  const key = signs ? await prepareStatementSigner(store.ws, { pgpKey: o.pgpKey, passphraseFile: o.passphraseFile, sigstoreKey: o.sigstoreKey, ask: canAsk(g.json) }) : null;
  const report = await runRehearsal(g, store, ref, { scenarios: names, sla, seed, pick: o.pick, window: o.window, sandbox: o.sandbox, keepSandbox: o.keepSandbox, key }, started);
  return outcome(report, renderRehearsal, report.ok ? 0 : 1);
}

function renderRehearsal(r: RehearsalReport, s: ChalkInstance): string {
  const sec = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
  const lines = [`${r.ok ? s.green('rehearsal passed') : s.red('rehearsal FAILED')}: snapshot ${s.bold(shortId(r.snapshot.id))} (${r.snapshot.picked}), seed ${r.seed}`];
  for (const x of r.scenarios) {
    const head = x.status === 'passed' ? s.green('pass') : x.status === 'skipped' ? s.yellow('skip') : s.red('FAIL');
    if (x.status === 'skipped') {
      lines.push(`  ${head} ${x.name.padEnd(17)} ${x.skipReason}`);
      continue;
    }
    if (x.restored === false) lines.push(`  ${head} ${x.name.padEnd(17)} not run: the snapshot could not be restored into the sandbox`);
    else lines.push(`  ${head} ${x.name.padEnd(17)} recovery ${sec(x.recoveryMs).padStart(8)} (detect ${sec(x.phases.detect)}, rollback ${sec(x.phases.rollback)}, verify ${sec(x.phases.verify)}); data loss ${x.dataLoss.files} file(s)`);
    for (const f of x.failures) lines.push(s.red(`       ${f}`));
  }
  lines.push(`  report: ${r.reportPath}/report.md${r.sandbox.kept ? `; sandbox kept at ${r.sandbox.path}` : ''}`);
  if (r.statement) lines.push(`  signed: metadata/${r.statement}`);
  return lines.join('\n');
}
