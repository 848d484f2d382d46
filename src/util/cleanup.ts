/** Work to undo if the process is interrupted (SIGINT/SIGTERM): release locks, remove temp files. */
const hooks = new Set<() => void>();

export function onInterrupt(fn: () => void): () => void {
  hooks.add(fn);
  return () => hooks.delete(fn);
}

export function runInterruptHooks(): void {
  for (const fn of hooks) {
    try {
      fn();
    } catch {
      // best effort: the process is exiting
    }
  }
  hooks.clear();
}
