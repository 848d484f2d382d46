import { chmodSync, closeSync, lstatSync, mkdirSync, openSync, readdirSync, readSync, rmSync, truncateSync, utimesSync, writeFileSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Workspace } from '../config/config.js';
import type { Entry, FileEntry } from '../core/manifest.js';
import type { ScenarioName } from '../core/rehearsal.js';
import { CONFIG_FILE } from '../config/config.js';

export type Injection = { description: string; paths: string[] } | { skip: string };

/** Picks one of `items` with the drill's generator. */
function pick<T>(items: readonly T[], random: () => number): T {
  return items[Math.floor(random() * items.length)]!;
}

function readByte(path: string, offset: number): number {
  const fd = openSync(path, 'r');
  try {
    const b = Buffer.alloc(1);
    readSync(fd, b, 0, 1, offset);
    return b[0]!;
  } finally {
    closeSync(fd);
  }
}

function writeBytes(path: string, offset: number, bytes: Buffer): void {
  const fd = openSync(path, 'r+');
  try {
    writeSync(fd, bytes, 0, bytes.length, offset);
  } finally {
    closeSync(fd);
  }
}

/** Removes everything in the workspace but its config, as an operator's `rm -rf` would. */
function wipe(root: string): void {
  for (const name of readdirSync(root)) if (name !== CONFIG_FILE) rmSync(join(root, name), { recursive: true, force: true });
}

/**
 * Damages a freshly restored tree the way each scenario describes, choosing files with the seeded
 * generator so the same seed damages the same bytes. Changes keep sizes and timestamps where the
 * scenario allows, so detection cannot lean on a cheap stat comparison alone.
 */
export function inject(scenario: ScenarioName, ws: Workspace, entries: readonly Entry[], random: () => number): Injection {
  const root = ws.root;
  const indexPath = ws.config.index?.path ?? null;
  const files = entries.filter((e): e is FileEntry => e.type === 'file');
  const artifacts = files.filter((e) => e.path !== indexPath);
  switch (scenario) {
    case 'index-truncated':
    case 'index-garbled': {
      if (!indexPath || !files.some((e) => e.path === indexPath)) return { skip: 'the workspace has no artifact index in this snapshot' };
      const p = join(root, indexPath);
      const size = lstatSync(p).size;
      if (size === 0) return { skip: 'the artifact index is empty' };
      if (scenario === 'index-truncated') {
        const keep = Math.floor(size / 2);
        truncateSync(p, keep);
        return { description: `${indexPath} cut from ${size} to ${keep} bytes`, paths: [indexPath] };
      }
      const at = Math.floor(random() * size);
      const n = Math.min(16, size - at);
      const garbage = Buffer.from(Array.from({ length: n }, () => Math.floor(random() * 256)));
      garbage[0] = (readByte(p, at) ^ 0xff) & 0xff; // at least one byte really changes
      const st = lstatSync(p);
      writeBytes(p, at, garbage);
      utimesSync(p, st.atime, st.mtime);
      return { description: `${n} byte(s) of ${indexPath} overwritten with garbage at offset ${at} (size and mtime kept)`, paths: [indexPath] };
    }
    case 'artifact-deleted': {
      if (artifacts.length === 0) return { skip: 'the snapshot has no artifact files' };
      const e = pick(artifacts, random);
      rmSync(join(root, e.path));
      return { description: `${e.path} deleted`, paths: [e.path] };
    }
    case 'artifact-bitflip': {
      const candidates = artifacts.filter((e) => e.size > 0);
      if (candidates.length === 0) return { skip: 'the snapshot has no non-empty artifact files' };
      const e = pick(candidates, random);
      const p = join(root, e.path);
      const offset = Math.floor(random() * e.size);
      const bit = Math.floor(random() * 8);
      const st = lstatSync(p);
      writeBytes(p, offset, Buffer.from([readByte(p, offset) ^ (1 << bit)]));
      utimesSync(p, st.atime, st.mtime);
      return { description: `bit ${bit} of byte ${offset} of ${e.path} flipped (size and mtime kept)`, paths: [e.path] };
    }
    case 'stray-file': {
      const dir = files.length ? dirname(pick(files, random).path) : '.';
      const rel = dir === '.' ? `stray-${Math.floor(random() * 1e9)}.bin` : `${dir}/stray-${Math.floor(random() * 1e9)}.bin`;
      mkdirSync(dirname(join(root, rel)), { recursive: true });
      writeFileSync(join(root, rel), Buffer.from(Array.from({ length: 1024 }, () => Math.floor(random() * 256))));
      return { description: `unexpected file ${rel} (1 KiB) added`, paths: [rel] };
    }
    case 'mode-changed': {
      if (files.length === 0) return { skip: 'the snapshot has no files' };
      const e = pick(files, random);
      const mode = e.mode === '0755' ? 0o644 : 0o755;
      chmodSync(join(root, e.path), mode);
      return { description: `${e.path} changed from mode ${e.mode} to 0${mode.toString(8)}`, paths: [e.path] };
    }
    case 'tree-wiped': {
      wipe(root);
      return { description: `every managed file removed (${entries.length} entries)`, paths: [] };
    }
  }
}
