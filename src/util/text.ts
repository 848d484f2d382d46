/** At most `max` items joined, then "and N more": no error message grows with its input. */
export function boundedList(items: readonly string[], max = 10): string {
  return items.length <= max ? items.join('; ') : `${items.slice(0, max).join('; ')}; and ${items.length - max} more`;
}

// C0 controls but tab and line feed, DEL, and C1 (0x9b is a one-byte CSI on some terminals).
const CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g;

/** Whether a string carries a control character (line breaks and tabs too, unless `lines`). */
export function hasControl(s: string, lines = false): boolean {
  return lines ? new RegExp(CONTROL.source).test(s) : /[\u0000-\u001f\u007f-\u009f]/.test(s);
}

/** A string safe to print on a terminal: control characters (ESC, BEL, CR, C1…) written as \u001b; tab and line feed kept. */
export function printable(s: string): string {
  return s.replace(CONTROL, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** Every string of a result made printable, for the human renderers (the JSON renderer escapes on its own). */
export function printableDeep<T>(v: T): T {
  if (typeof v === 'string') return printable(v) as T;
  if (Array.isArray(v)) return v.map(printableDeep) as T;
  if (v !== null && typeof v === 'object' && (Object.getPrototypeOf(v) === Object.prototype || Object.getPrototypeOf(v) === null)) {
    const out = Object.create(Object.getPrototypeOf(v)) as Record<string, unknown>;
    for (const [k, x] of Object.entries(v)) out[printable(k)] = printableDeep(x);
    return out as T;
  }
  return v;
}
