/**
 * Crash injection for tests: with SNAPGOV_FAULT=NAME:N the process kills itself (SIGKILL, like a
 * power cut) the N-th time it passes the fault point NAME; NAME:N:INT sends SIGINT instead (a
 * Ctrl-C at that moment). Unset, it costs one comparison.
 */
const spec = process.env.SNAPGOV_FAULT ?? '';
const counts = new Map<string, number>();

export function faultPoint(name: string): void {
  if (spec === '' || !spec.startsWith(`${name}:`)) return;
  const n = (counts.get(name) ?? 0) + 1;
  counts.set(name, n);
  if (spec === `${name}:${n}`) process.kill(process.pid, 'SIGKILL');
  else if (spec === `${name}:${n}:INT`) process.kill(process.pid, 'SIGINT');
}
