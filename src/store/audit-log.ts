import { closeSync, constants, fstatSync, fsyncSync, ftruncateSync, openSync, readFileSync, readSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { lineHash, verifyChain, type AuditRecord, type ChainHead } from '../core/audit-chain.js';
import { SnapgovError } from '../errors.js';
import { validate } from '../schema.js';
import { currentActor } from '../util/actor.js';
import { atomicWriteFile, writeAllSync } from '../util/fsx.js';
import type { StoreLayout } from './layout.js';

export type AuditInput = Omit<AuditRecord, 'seq' | 'prev' | 'time' | 'actor' | 'requestId'> & { time?: string };

/** One request ID per process run, so every line one command writes can be grouped. */
export const REQUEST_ID = randomUUID();

/** The last complete line of the log, cutting off a partial line left by a crash mid-append. */
function lastLine(fd: number): { line: string | null; end: number } {
  const size = fstatSync(fd).size;
  let chunk = 4096;
  for (;;) {
    const start = Math.max(0, size - chunk);
    const buf = Buffer.alloc(size - start);
    readSync(fd, buf, 0, buf.length, start);
    const text = buf.toString('utf8');
    let end = text.lastIndexOf('\n');
    if (end === -1 && start > 0) {
      chunk *= 4;
      continue;
    }
    if (end === -1) return { line: null, end: 0 };
    const complete = text.slice(0, end);
    const prevNl = complete.lastIndexOf('\n');
    if (prevNl === -1 && start > 0) {
      chunk *= 4;
      continue;
    }
    end += start + 1;
    return { line: complete.slice(prevNl + 1), end };
  }
}

/** Appends one record; callers hold the store's exclusive lock, which serializes appends. */
export async function appendAudit(l: StoreLayout, input: AuditInput): Promise<AuditRecord> {
  const fd = openSync(l.auditLog, constants.O_RDWR | constants.O_CREAT | constants.O_APPEND, 0o644);
  try {
    const { line, end } = lastLine(fd);
    if (end < fstatSync(fd).size) ftruncateSync(fd, end);
    let seq = 1;
    let prev: string | null = null;
    if (line !== null) {
      let last: Partial<AuditRecord>;
      try {
        last = JSON.parse(line) as Partial<AuditRecord>;
      } catch {
        throw new SnapgovError('STORE_CORRUPT', `the last line of ${l.auditLog} is not JSON`, 'run `snapgov audit verify`; the log was damaged');
      }
      seq = (typeof last.seq === 'number' ? last.seq : 0) + 1;
      prev = lineHash(line);
    }
    const { time, ...rest } = input;
    const rec: AuditRecord = { seq, time: time ?? new Date().toISOString(), actor: currentActor(), requestId: REQUEST_ID, ...rest, prev };
    const text = JSON.stringify(rec);
    writeAllSync(fd, Buffer.from(text + '\n'));
    fsyncSync(fd);
    const head: ChainHead = { seq, hash: lineHash(text) };
    atomicWriteFile(l.auditHead, JSON.stringify(head) + '\n');
    return rec;
  } finally {
    closeSync(fd);
  }
}

export function readAuditLines(l: StoreLayout): string[] {
  let text: string;
  try {
    text = readFileSync(l.auditLog, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  return lines;
}

async function readAuditHead(l: StoreLayout): Promise<{ head: ChainHead | null; problem: string | null }> {
  let doc: unknown;
  try {
    doc = JSON.parse(readFileSync(l.auditHead, 'utf8'));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { head: null, problem: null };
    return { head: null, problem: 'audit.head is unreadable' };
  }
  return (await validate('audit-head', doc)).ok ? { head: doc as ChainHead, problem: null } : { head: null, problem: 'audit.head does not match its schema' };
}

export async function verifyAudit(l: StoreLayout) {
  const lines = readAuditLines(l);
  const { head, problem } = await readAuditHead(l);
  const res = verifyChain(lines, head);
  if (problem) res.problems.push({ line: 0, message: problem });
  if (!head && !problem && lines.length > 0) res.problems.push({ line: 0, message: 'audit.head is missing while the log has lines' });
  for (let i = 0; i < lines.length; i++) {
    let doc: unknown;
    try {
      doc = JSON.parse(lines[i]!);
    } catch {
      continue; // already reported by verifyChain
    }
    const v = await validate('audit-record', doc);
    if (!v.ok) res.problems.push({ line: i + 1, message: `record does not match the schema: ${v.errors.join('; ')}` });
  }
  res.problems.sort((a, b) => a.line - b.line);
  return { ...res, ok: res.problems.length === 0 };
}
