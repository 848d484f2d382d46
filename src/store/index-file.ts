import { createHash } from 'node:crypto';

/**
 * The object index as built from the pack indexes and the loose object folders, saved so that
 * the next command need not build it again (git's multi-pack index plays this part). It is keyed
 * by the names of every pack and loose object, which are the SHA-256 of their content: the same
 * names mean the same objects at the same places. Only a cache: anything unexpected (another
 * key, a bad checksum, a short file) means the index is built from the packs as before.
 *
 * File (little-endian): magic "SGOIDX01", key (32 bytes), object count, slot count, pack count,
 * 4 reserved bytes; per pack its name (32 bytes) and data size (float64); per object its digest
 * (32 bytes), offset and size (float64 each); the hash table's slots (int32); per object its pack
 * number (int32, -1 for loose); then the SHA-256 of everything before it. Every array starts at a
 * multiple of 8 bytes, so that typed arrays can view it in place.
 */
export interface IndexParts {
  packs: string[];
  packBytes: number[];
  count: number;
  hashes: Uint8Array;
  offsets: Float64Array;
  sizes: Float64Array;
  slots: Int32Array;
  packOf: Int32Array;
}

const MAGIC = Buffer.from('SGOIDX01');
const HEADER = MAGIC.length + 32 + 16;
const DIGEST = 32;

/** The key of a store's objects: its pack names and loose object names, in any order. */
export function indexKey(packs: readonly string[], loose: readonly string[]): Buffer {
  return createHash('sha256')
    .update([...packs].sort().join('\n'))
    .update('\0')
    .update([...loose].sort().join('\n'))
    .digest();
}

function layout(count: number, slots: number, packs: number) {
  const names = HEADER;
  const packBytes = names + packs * 32;
  const hashes = packBytes + packs * 8;
  const offsets = hashes + count * 32;
  const sizes = offsets + count * 8;
  const slotsAt = sizes + count * 8;
  const packOf = slotsAt + slots * 4;
  const end = packOf + count * 4;
  return { names, packBytes, hashes, offsets, sizes, slots: slotsAt, packOf, end };
}

export function encodeIndexFile(key: Buffer, p: IndexParts): Buffer {
  const at = layout(p.count, p.slots.length, p.packs.length);
  // Rounded up to 8 so that the digest, and a file read into fresh memory, stay aligned.
  const body = (at.end + 7) & ~7;
  const buf = Buffer.alloc(body + DIGEST);
  MAGIC.copy(buf, 0);
  key.copy(buf, MAGIC.length);
  buf.writeUInt32LE(p.count, MAGIC.length + 32);
  buf.writeUInt32LE(p.slots.length, MAGIC.length + 36);
  buf.writeUInt32LE(p.packs.length, MAGIC.length + 40);
  p.packs.forEach((name, i) => {
    buf.write(name, at.names + i * 32, 32, 'hex');
    buf.writeDoubleLE(p.packBytes[i]!, at.packBytes + i * 8);
  });
  buf.set(p.hashes.subarray(0, p.count * 32), at.hashes);
  const view = (offset: number, bytes: number) => new Uint8Array(buf.buffer, buf.byteOffset + offset, bytes);
  view(at.offsets, p.count * 8).set(new Uint8Array(p.offsets.buffer, p.offsets.byteOffset, p.count * 8));
  view(at.sizes, p.count * 8).set(new Uint8Array(p.sizes.buffer, p.sizes.byteOffset, p.count * 8));
  view(at.slots, p.slots.length * 4).set(new Uint8Array(p.slots.buffer, p.slots.byteOffset, p.slots.length * 4));
  view(at.packOf, p.count * 4).set(new Uint8Array(p.packOf.buffer, p.packOf.byteOffset, p.count * 4));
  createHash('sha256').update(buf.subarray(0, body)).digest().copy(buf, body);
  return buf;
}

/**
 * The parts saved in `buf` (which must start at a multiple of 8 bytes in its memory), or null
 * unless it is a whole, undamaged index file for exactly `key`. The table's digests and slots are
 * copied into shared memory for the worker threads.
 */
export function decodeIndexFile(buf: Buffer, key: Buffer): IndexParts | null {
  if (buf.byteOffset % 8 !== 0 || buf.length < HEADER + DIGEST || !buf.subarray(0, MAGIC.length).equals(MAGIC)) return null;
  if (!buf.subarray(MAGIC.length, MAGIC.length + 32).equals(key)) return null;
  const count = buf.readUInt32LE(MAGIC.length + 32);
  const nSlots = buf.readUInt32LE(MAGIC.length + 36);
  const nPacks = buf.readUInt32LE(MAGIC.length + 40);
  const at = layout(count, nSlots, nPacks);
  const body = (at.end + 7) & ~7;
  if (buf.length !== body + DIGEST || nSlots < 16 || (nSlots & (nSlots - 1)) !== 0 || nSlots < count * 2) return null;
  if (!createHash('sha256').update(buf.subarray(0, body)).digest().equals(buf.subarray(body))) return null;
  const packs: string[] = [];
  const packBytes: number[] = [];
  for (let i = 0; i < nPacks; i++) {
    packs.push(buf.toString('hex', at.names + i * 32, at.names + i * 32 + 32));
    packBytes.push(buf.readDoubleLE(at.packBytes + i * 8));
  }
  const shared = (offset: number, bytes: number) => {
    const out = new Uint8Array(new SharedArrayBuffer(Math.max(bytes, 1)));
    out.set(buf.subarray(offset, offset + bytes));
    return out;
  };
  const hashes = shared(at.hashes, count * 32);
  const slots = new Int32Array(shared(at.slots, nSlots * 4).buffer);
  const packOf = new Int32Array(buf.buffer, buf.byteOffset + at.packOf, count);
  for (let i = 0; i < count; i++) if (packOf[i]! < -1 || packOf[i]! >= nPacks) return null;
  // Every object in exactly one slot, and free slots left: a lookup always ends.
  let used = 0;
  for (let i = 0; i < nSlots; i++) {
    const v = slots[i]!;
    if (v < 0 || v > count) return null;
    if (v !== 0) used++;
  }
  if (used !== count) return null;
  // Copies (slice), so that the file's bytes, digests included, are not kept alive with the index.
  return { packs, packBytes, count, hashes, slots, packOf: packOf.slice(), offsets: new Float64Array(buf.buffer, buf.byteOffset + at.offsets, count).slice(), sizes: new Float64Array(buf.buffer, buf.byteOffset + at.sizes, count).slice() };
}
