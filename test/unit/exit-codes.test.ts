import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { EXIT_STATUS, type ErrorCode } from '../../src/errors.js';
import { REPO } from '../helpers/cli.js';

/** The README's exit-code table is the contract; it must say what errors.ts does. */
describe('README exit-code table', () => {
  const readme = readFileSync(join(REPO, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('## Exit codes'), readme.indexOf('## Configuration'));
  const rows = new Map<number, string>();
  for (const m of section.matchAll(/^\| *(\d+) *\|(.*)$/gm)) rows.set(Number(m[1]), m[2]!);

  it('documents exactly the brief\'s codes, and 4 for a deferred promotion', () => {
    expect([...rows.keys()].sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 10, 11, 12, 130]);
  });

  it.each(Object.entries(EXIT_STATUS) as [ErrorCode, number][])('lists %s under exit %i', (code, status) => {
    expect(rows.get(status)).toContain(`\`${code}\``);
  });
});
