/**
 * A set of SHA-256 digests in two flat typed arrays (open addressing, linear probing), so a
 * store's 100,000s of object names cost a few megabytes, take no garbage-collected objects, and
 * can be shared with worker threads through SharedArrayBuffers.
 */
export interface SharedHashTable {
  hashes: SharedArrayBuffer;
  slots: SharedArrayBuffer;
  count: number;
}

/** The digest's first four bytes, little-endian: its slot before masking (digests are uniformly distributed). */
const firstWord = (b: Buffer, off: number): number => b[off]! | (b[off + 1]! << 8) | (b[off + 2]! << 16) | (b[off + 3]! << 24);

export class HashTable {
  private readonly mask: number;

  private constructor(
    readonly hashes: Buffer,
    private readonly slots: Int32Array,
    public count: number,
  ) {
    this.mask = slots.length - 1;
  }

  /** An empty table able to hold `capacity` digests. */
  static create(capacity: number): HashTable {
    let size = 16;
    while (size < capacity * 2) size *= 2;
    const hashes = Buffer.from(new SharedArrayBuffer(Math.max(1, capacity) * 32));
    return new HashTable(hashes, new Int32Array(new SharedArrayBuffer(size * 4)), 0);
  }

  static fromShared(s: SharedHashTable): HashTable {
    return new HashTable(Buffer.from(s.hashes), new Int32Array(s.slots), s.count);
  }

  share(): SharedHashTable {
    return { hashes: this.hashes.buffer as SharedArrayBuffer, slots: this.slots.buffer as SharedArrayBuffer, count: this.count };
  }

  /** Index of a digest (32 bytes of `buf` at `off`, which callers guarantee are there), or -1. */
  find(buf: Buffer, off = 0): number {
    let slot = firstWord(buf, off) & this.mask;
    for (;;) {
      const v = this.slots[slot]!;
      if (v === 0) return -1;
      const i = v - 1;
      if (this.holds(i, buf, off)) return i;
      slot = (slot + 1) & this.mask;
    }
  }

  /**
   * Whether digest i equals the 32 bytes at `off`. A plain loop: Buffer's compare and copy check
   * their arguments in JavaScript before the native call, which costs more than the 32 bytes
   * (loading a 10,000-object index took twice as long with them).
   */
  private holds(i: number, buf: Buffer, off: number): boolean {
    const h = this.hashes;
    const at = i * 32;
    for (let k = 0; k < 32; k++) if (h[at + k] !== buf[off + k]) return false;
    return true;
  }

  has(buf: Buffer, off = 0): boolean {
    return this.find(buf, off) !== -1;
  }

  /** Adds a digest unless present; returns its index. The table must have room (see create). */
  add(buf: Buffer, off = 0): number {
    let slot = firstWord(buf, off) & this.mask;
    for (;;) {
      const v = this.slots[slot]!;
      if (v === 0) break;
      const i = v - 1;
      if (this.holds(i, buf, off)) return i;
      slot = (slot + 1) & this.mask;
    }
    const i = this.count++;
    const h = this.hashes;
    const at = i * 32;
    for (let k = 0; k < 32; k++) h[at + k] = buf[off + k]!;
    this.slots[slot] = i + 1;
    return i;
  }

  hexAt(i: number): string {
    return this.hashes.toString('hex', i * 32, i * 32 + 32);
  }
}
