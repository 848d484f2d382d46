// Reproducible benchmark trees: the same seed gives the same files, byte for byte.
import { createCipheriv, createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

/** A deterministic pseudo-random stream (AES-256-CTR over zeros), fast enough for gigabytes. */
export class Rng {
  constructor(seed) {
    const key = createHash('sha256').update(String(seed)).digest();
    this.cipher = createCipheriv('aes-256-ctr', key, Buffer.alloc(16));
  }
  bytes(n) {
    return this.cipher.update(Buffer.alloc(n));
  }
  /** Uniform float in [0, 1). */
  next() {
    return this.bytes(6).readUIntBE(0, 6) / 2 ** 48;
  }
  logUniform(min, max) {
    return Math.round(Math.exp(Math.log(min) + this.next() * (Math.log(max) - Math.log(min))));
  }
}

function pathFor(i, fanout) {
  return join(`d${String(i % fanout).padStart(3, '0')}`, `s${String(Math.floor(i / fanout) % 10)}`, `f${String(i).padStart(6, '0')}.bin`);
}

/**
 * medium: ~10,000 files, ~1 GiB, 1 KB to 20 MB (most small, 100 large), plus an artifact index.
 * small: 100,000 files of 0.5 to 4 KB.
 * history: 10,000 files of 1 to 16 KB, the shared tree of the prune benchmark's 100 snapshots.
 * million: 1,000,000 files of 20 to 200 bytes, for the memory bound at scale.
 */
export function generate(kind, root, scale = 1) {
  const rng = new Rng(`snapgov-bench-${kind}`);
  const files = [];
  if (kind === 'medium') {
    const n = Math.round(9_900 * scale);
    for (let i = 0; i < n; i++) files.push([pathFor(i, 100), rng.logUniform(1_000, 256_000)]);
    const big = Math.max(1, Math.round(100 * scale));
    for (let i = 0; i < big; i++) files.push([join('models', `m${String(i).padStart(3, '0')}.bin`), rng.logUniform(1_000_000, 20_000_000)]);
  } else if (kind === 'million') {
    const n = Math.round(1_000_000 * scale);
    for (let i = 0; i < n; i++) files.push([pathFor(i, 1000), 20 + Math.floor(rng.next() * 180)]);
  } else if (kind === 'history') {
    const n = Math.round(10_000 * scale);
    for (let i = 0; i < n; i++) files.push([pathFor(i, 100), rng.logUniform(1_000, 16_000)]);
  } else {
    const n = Math.round(100_000 * scale);
    for (let i = 0; i < n; i++) files.push([pathFor(i, 256), 500 + Math.floor(rng.next() * 3_500)]);
  }
  let bytes = 0;
  const made = new Set();
  for (const [rel, size] of files) {
    const p = join(root, rel);
    const d = dirname(p);
    if (!made.has(d)) {
      mkdirSync(d, { recursive: true });
      made.add(d);
    }
    writeFileSync(p, rng.bytes(size));
    bytes += size;
  }
  if (kind === 'medium') {
    const artifacts = files.slice(0, 200).map(([rel]) => ({ path: rel }));
    mkdirSync(join(root, 'artifacts'), { recursive: true });
    writeFileSync(join(root, 'artifacts', 'index.json'), JSON.stringify({ artifacts: artifacts.map((a) => ({ path: `../${a.path}` })) }, null, 1));
  }
  return { files: files.length, bytes, paths: files.map(([rel]) => rel) };
}

/** Rewrites 1% of the files (every 100th) with new content of the same size class. */
export function changeOnePercent(root, paths, round) {
  const rng = new Rng(`snapgov-change-${round}`);
  let n = 0;
  for (let i = 0; i < paths.length; i += 100) {
    const p = join(root, paths[i]);
    writeFileSync(p, rng.bytes(1_000 + Math.floor(rng.next() * 4_000)));
    n++;
  }
  return n;
}
