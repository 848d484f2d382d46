import { SnapgovError } from '../errors.js';

// Flag parsing shared by the commands (cli.ts loads it at start: keep it small); opening the store is store/open.ts.

/** Labels as given: a null-prototype map, so a key such as `__proto__` is kept as a label, never dropped. */
export function parseLabels(labels: string[]): Record<string, string> {
  const out = Object.create(null) as Record<string, string>;
  for (const l of labels) {
    const eq = l.indexOf('=');
    if (eq <= 0) throw new SnapgovError('USAGE', `invalid label ${JSON.stringify(l)}`, 'write labels as KEY=VALUE, for example --label ticket=INC-42');
    out[l.slice(0, eq)] = l.slice(eq + 1);
  }
  return out;
}

export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}
