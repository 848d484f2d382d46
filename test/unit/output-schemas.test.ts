import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
// @ts-expect-error -- a plain ESM build script, without type declarations
import { OUTPUTS, outputSchemas, schemaText } from '../../scripts/output-schemas.mjs';
import { outputFormat } from '../../src/output.js';
import { REPO } from '../helpers/cli.js';

describe('the --json output schemas', () => {
  const made = outputSchemas() as Record<string, { properties: { format: { const?: string } } }>;

  it('are what the result types make (run npm run schemas after changing a result)', () => {
    for (const command of Object.keys(OUTPUTS as Record<string, string>)) {
      expect(readFileSync(join(REPO, 'schemas/output', `${command}.schema.json`), 'utf8'), command).toBe(schemaText(made[command]));
    }
  });

  it("name each document's format as the CLI writes it (stored documents keep their own)", () => {
    const own: Record<string, string> = { info: 'snapgov-metadata/1', rehearse: 'snapgov-rehearsal-report/1' };
    for (const command of Object.keys(made)) expect(made[command]!.properties.format.const, command).toBe(own[command] ?? outputFormat(command));
  });
});
