import { Chalk, type ChalkInstance } from 'chalk';
import { SnapgovError } from './errors.js';
import { printable, printableDeep } from './util/text.js';

export interface GlobalOptions {
  cwd?: string;
  json: boolean;
  quiet: boolean;
  color: boolean;
  lockWaitMs: number;
}

/** What every command returns: one result, rendered either as JSON or for people. */
export interface Outcome<T = unknown> {
  result: T;
  exitCode: number;
  human: (result: T, s: ChalkInstance) => string;
  /** Lines for stderr in human mode (skipped files, notes); always included in JSON via the result. */
  warnings?: string[];
}

export function outcome<T>(result: T, human: (result: T, s: ChalkInstance) => string, exitCode = 0, warnings: string[] = []): Outcome<T> {
  return { result, human, exitCode, warnings };
}

function colorLevel(g: GlobalOptions, stream: NodeJS.WriteStream): 0 | 1 {
  if (!g.color || 'NO_COLOR' in process.env) return 0;
  if (process.env.FORCE_COLOR && process.env.FORCE_COLOR !== '0') return 1;
  return stream.isTTY ? 1 : 0;
}

export function style(g: GlobalOptions, stream: NodeJS.WriteStream = process.stdout): ChalkInstance {
  return new Chalk({ level: colorLevel(g, stream) });
}

/**
 * The `format` of a command's --json document (`audit verify` is `audit-verify`), described by
 * schemas/output/COMMAND.schema.json; a result that is a stored document keeps that document's own.
 */
export function outputFormat(command: string): string {
  return `snapgov-${command}/1`;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- each command's result type differs
export function printOutcome(g: GlobalOptions, o: Outcome<any>, command: string): void {
  if (g.json) {
    const doc = typeof o.result.format === 'string' ? o.result : { format: outputFormat(command), ...o.result };
    process.stdout.write(JSON.stringify(doc, null, 2) + '\n');
    return;
  }
  // --quiet: nothing at all on success (cron mails only when something is wrong).
  if (g.quiet && o.exitCode === 0) return;
  // Names, tags, messages and paths come from users and archives: no control character reaches the terminal raw.
  const s = style(g, process.stderr);
  for (const w of o.warnings ?? []) process.stderr.write(`${s.yellow('warning:')} ${printable(w)}\n`);
  const text = o.human(printableDeep(o.result), style(g));
  if (text) process.stdout.write(text.endsWith('\n') ? text : text + '\n');
}

export function printError(g: Pick<GlobalOptions, 'json' | 'color'>, err: SnapgovError): void {
  if (g.json) {
    const doc: { error: { code: string; message: string; hint: string; details?: unknown } } = { error: { code: err.code, message: err.message, hint: err.hint } };
    if (err.details !== undefined) doc.error.details = err.details;
    process.stderr.write(JSON.stringify(doc) + '\n');
    return;
  }
  const s = style({ ...g, quiet: false, lockWaitMs: 0 }, process.stderr);
  process.stderr.write(`${s.red('snapgov: error:')} ${printable(err.message)}\n`);
  if (err.hint) process.stderr.write(`${s.dim('hint:')} ${printable(err.hint)}\n`);
}

export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${n} B` : `${v.toFixed(1)} ${units[i]}`;
}
