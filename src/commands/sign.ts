import type { ChalkInstance } from 'chalk';
import { shortId } from '../core/ref.js';
import { outcome, type GlobalOptions, type Outcome } from '../output.js';
import { prepareSigner, signSnapshot, type SignOptions, type SignResult } from '../signing/signer.js';
import { openStore, resolveSnapshot, withLock } from '../store/open.js';
import { canAsk } from '../util/prompt.js';

export async function sign(ref: string, o: SignOptions, g: GlobalOptions): Promise<Outcome<SignResult>> {
  const { ws, layout } = await openStore(g);
  const signer = await prepareSigner(ws, { ...o, ask: canAsk(g.json) });
  return withLock(g, layout, 'exclusive', 'sign', async (lock) => {
    const { id } = await resolveSnapshot(layout, ref);
    lock.assertHeld();
    return outcome(await signSnapshot(layout, id, signer), renderSign);
  });
}

function renderSign(r: SignResult, s: ChalkInstance): string {
  const kind = r.type === 'pgp' ? 'OpenPGP' : r.method === 'keyless' ? 'Sigstore keyless' : 'Sigstore key';
  return `${s.green('signed')} ${s.bold(shortId(r.id))} (${kind}, ${r.signer})${r.replaced ? ', replacing the earlier signature by the same signer' : ''}\n  signature: ${r.file} (in the metadata folder)`;
}
