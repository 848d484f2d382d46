// A pack blob in a registry: its index read with one range request at its end, and checked as a
// local pack's is (the count fits, every record inside the data, in order, no overlaps, no object
// as large as a blob of its own).
import { SnapgovError } from '../errors.js';
import { decodePackTrailer, PACK_RECORD, PACK_TRAILER, packIndexValid, readU64, type PackEntry } from '../store/pack.js';
import { BIG_OBJECT, type ParsedSnapshot } from './format.js';
import type { RegistryClient } from './registry.js';

/** A remote pack's objects, from its index (one range request at the end of the blob). */
export async function remotePackIndex(client: RegistryClient, pack: ParsedSnapshot['packs'][number]): Promise<PackEntry[]> {
  const len = pack.objects * PACK_RECORD + PACK_TRAILER;
  const tail = await client.blobBytes(pack.digest, len, { start: pack.size - len, end: pack.size - 1 });
  const bad = () => new SnapgovError('REMOTE_INVALID', `pack ${pack.digest} has an index that does not fit the pack (or points outside it)`, 'the artifact was not written by snapgov or was tampered with; nothing was written');
  if (decodePackTrailer(tail.subarray(len - PACK_TRAILER), pack.size) !== pack.objects) throw bad();
  const index = tail.subarray(0, len - PACK_TRAILER);
  if (!packIndexValid(index, pack.objects, pack.size - len)) throw bad();
  const entries = Array.from({ length: pack.objects }, (_, i) => ({ hash: index.toString('hex', i * PACK_RECORD, i * PACK_RECORD + 32), offset: readU64(index, i * PACK_RECORD + 32), length: readU64(index, i * PACK_RECORD + 40) }));
  // A push packs only objects below BIG_OBJECT; a larger one would cost that much memory to check.
  if (entries.some((e) => e.length >= BIG_OBJECT)) throw bad();
  return entries;
}
