import { isatty } from 'node:tty';

/**
 * Progress for a person at a terminal: one line on stderr, rewritten in place. Never on a pipe or a
 * file (cron, CI), and never with --json or --quiet, so scripts see exactly what they saw before.
 */
let enabled = false;
let shown = false;
let last = 0;

export function enableProgress(g: { json: boolean; quiet: boolean }): void {
  enabled = !g.json && !g.quiet && isatty(2);
}

/** Replaces the progress line (at most ten times a second unless `now`). */
export function progress(text: string, now = true): void {
  if (!enabled) return;
  const t = Date.now();
  if (!now && t - last < 100) return;
  last = t;
  process.stderr.write(`\r\x1b[2K${text}`);
  shown = true;
}

/** A line that stays (one per rehearsal scenario), printed above the progress line. */
export function progressNote(text: string): void {
  if (!enabled) return;
  clearProgress();
  process.stderr.write(`${text}\n`);
}

export function clearProgress(): void {
  if (!shown) return;
  process.stderr.write('\r\x1b[2K');
  shown = false;
}

/** Bytes moved so far with the rate and the time left, for transfers: `12.0 of 96.3 MiB, 8.1 MiB/s, 10 s left`. */
export function transferLine(what: string, done: number, total: number, startedMs: number): string {
  const mib = (n: number) => (n / 2 ** 20).toFixed(1);
  const secs = Math.max(0.001, (Date.now() - startedMs) / 1000);
  const rate = done / secs;
  const left = rate > 0 ? Math.max(0, (total - done) / rate) : NaN;
  return `${what}: ${mib(done)} of ${mib(total)} MiB, ${mib(rate)} MiB/s${Number.isFinite(left) ? `, ${Math.ceil(left)} s left` : ''}`;
}
