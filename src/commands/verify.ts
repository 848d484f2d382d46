import type { ChalkInstance } from 'chalk';
import { shortId } from '../core/ref.js';
import { outcome, type GlobalOptions, type Outcome } from '../output.js';
import { openStore } from '../store/open.js';
import { verifySnapshots, type VerifyOptions, type VerifyResult } from '../verify/verify.js';

export async function verify(refs: string[], opts: VerifyOptions, g: GlobalOptions): Promise<Outcome<VerifyResult>> {
  const result = await verifySnapshots(g, await openStore(g), refs, opts);
  return outcome(result, renderVerify, result.ok ? 0 : 1);
}

function renderVerify(r: VerifyResult, s: ChalkInstance): string {
  const what = ['structure', ...(r.readData ? ['data'] : []), ...(r.worktree ? ['live tree'] : []), ...(r.signaturesRequired ? ['trusted signatures'] : [])].join(', ');
  const lines: string[] = [];
  for (const x of r.snapshots) {
    const verdict = x.ok ? '' : `  ${x.problems.length} problem(s); integrity ${x.integrity ? 'ok' : 'FAILED'}`;
    lines.push(`${x.ok ? s.green('ok  ') : s.red('FAIL')} ${shortId(x.id)}${verdict}${x.trustExempt ? '  (safety snapshot: trust policy not applied)' : ''}`);
    for (const sig of x.signatures) lines.push(`     ${sig.valid ? (sig.trusted ? s.green('trusted  ') : s.yellow('untrusted')) : s.red('invalid  ')} ${sig.type === 'pgp' ? 'OpenPGP' : sig.method === 'keyless' ? 'keyless' : 'sigstore'} ${sig.signer}${sig.valid && sig.trusted ? '' : `: ${sig.reason}`}`);
    for (const p of x.problems.slice(0, 50)) lines.push(`     ${s.red(p.code)} ${p.path}: ${p.message}`);
    if (x.problems.length > 50) lines.push(`     … and ${x.problems.length - 50} more (--json lists them all)`);
  }
  lines.push(r.ok ? s.green(`verified ${r.snapshots.length} snapshot(s): ${what}`) : s.red(`verification failed (${what})`));
  return lines.join('\n');
}
