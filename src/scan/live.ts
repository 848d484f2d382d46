import type { Entry } from '../core/manifest.js';
import type { Store } from '../store/open.js';
import { scanTree, type Skipped } from './scan.js';

/** The live tree as entries, read without writing anything to the store. */
export async function liveEntries(store: Store, opts: { written?: Buffer[]; noCache?: boolean } = {}): Promise<{ entries: Entry[]; skipped: Skipped[] }> {
  const scan = await scanTree(store.ws, { objects: null, layout: store.layout, ...opts });
  return { entries: scan.entries, skipped: scan.skipped };
}
