/**
 * Pack files hold small objects back to back so that a snapshot of 100,000 small files costs a
 * handful of files and fsyncs instead of 100,000. Layout:
 *   object bytes, concatenated
 *   index: one 48-byte record per object: SHA-256 (32 bytes), offset (u64 BE), length (u64 BE)
 *   trailer (16 bytes): object count (u64 BE), magic "SGPACK01"
 * The file is named by the SHA-256 of all its bytes. Each object's bytes hash to its own name, so
 * `dd` plus `sha256sum` can check one without snapgov.
 */
export const PACK_MAGIC = Buffer.from('SGPACK01', 'latin1');
export const PACK_RECORD = 48;
export const PACK_TRAILER = 16;

export interface PackEntry {
  hash: string;
  offset: number;
  length: number;
}

export function encodePackIndex(entries: readonly PackEntry[]): Buffer {
  const buf = Buffer.alloc(entries.length * PACK_RECORD + PACK_TRAILER);
  entries.forEach((e, i) => {
    const at = i * PACK_RECORD;
    buf.write(e.hash, at, 32, 'hex');
    buf.writeBigUInt64BE(BigInt(e.offset), at + 32);
    buf.writeBigUInt64BE(BigInt(e.length), at + 40);
  });
  const t = entries.length * PACK_RECORD;
  buf.writeBigUInt64BE(BigInt(entries.length), t);
  PACK_MAGIC.copy(buf, t + 8);
  return buf;
}

/** Object count from the trailer, or null when the trailer is not a pack trailer. */
export function decodePackTrailer(trailer: Buffer, fileSize: number): number | null {
  if (trailer.length !== PACK_TRAILER || !trailer.subarray(8).equals(PACK_MAGIC)) return null;
  const n = Number(trailer.readBigUInt64BE(0));
  if (!Number.isSafeInteger(n) || n * PACK_RECORD + PACK_TRAILER > fileSize) return null;
  return n;
}

/**
 * A u64 big-endian field as a number (pack offsets and lengths stay far below 2^53). From the bytes
 * directly: no BigInt, and none of Buffer.readUInt32BE's argument checks, twice per object of every
 * pack loaded.
 */
export function readU64(buf: Buffer, at: number): number {
  if (!(at >= 0 && at + 8 <= buf.length)) throw new RangeError(`u64 at ${at} is outside the ${buf.length}-byte buffer`);
  return u32be(buf, at) * 0x1_0000_0000 + u32be(buf, at + 4);
}

const u32be = (b: Buffer, at: number): number => b[at]! * 0x100_0000 + ((b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!);

/** True when every record points inside the data area, in order, without overlaps. */
export function packIndexValid(index: Buffer, count: number, dataEnd: number): boolean {
  let end = 0;
  for (let i = 0; i < count; i++) {
    const at = i * PACK_RECORD;
    const offset = readU64(index, at + 32);
    const length = readU64(index, at + 40);
    if (offset < end || offset + length > dataEnd) return false;
    end = offset + length;
  }
  return true;
}
