/** Work to undo if the process is interrupted (SIGINT/SIGTERM): release locks, remove temp files. */
const hooks = new Set<() => void>();

export function onInterrupt(fn: () => void): () => void {
  hooks.add(fn);
  return () => hooks.delete(fn);
}

/** Last registered first, as nested work unwinds: a gate is killed before its sandbox is removed. */
export function runInterruptHooks(): void {
  for (const fn of [...hooks].reverse()) {
    try {
      fn();
    } catch {
      // best effort: the process is exiting
    }
  }
  hooks.clear();
}

const DEFAULT_NOTE = 'nothing was half-written: temporary files were removed and the store is unchanged';
let note = DEFAULT_NOTE;

/**
 * What is true if the process is interrupted now, said in the error's hint: a command that leaves
 * work to finish (a rollback part-way through the live tree) says how to finish it. Returns a
 * function that puts the default back once that window has passed.
 */
export function setInterruptNote(text: string): () => void {
  note = text;
  return () => {
    note = DEFAULT_NOTE;
  };
}

export function interruptNote(): string {
  return note;
}
