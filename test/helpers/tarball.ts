import { writeFileSync } from 'node:fs';
import { Header } from 'tar';

export interface Member {
  path: string;
  data?: Buffer | string;
  type?: 'File' | 'SymbolicLink' | 'Link' | 'CharacterDevice' | 'Directory' | 'FIFO';
  linkpath?: string;
  /** Declared size, when it should differ from the data (a lying header). */
  size?: number;
}

/** Writes a tar archive with arbitrary (hostile) members, the way an attacker would. */
export function writeTar(file: string, members: Member[]): void {
  const parts: Buffer[] = [];
  for (const m of members) {
    const data = Buffer.isBuffer(m.data) ? m.data : Buffer.from(m.data ?? '');
    const block = Buffer.alloc(512);
    new Header({ path: m.path, mode: 0o644, size: m.size ?? data.length, mtime: new Date(0), type: m.type ?? 'File', linkpath: m.linkpath, uid: 0, gid: 0 }).encode(block, 0);
    parts.push(block, data, Buffer.alloc((512 - (data.length % 512)) % 512));
  }
  parts.push(Buffer.alloc(1024));
  writeFileSync(file, Buffer.concat(parts));
}
