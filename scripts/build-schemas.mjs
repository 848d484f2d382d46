// Compiles snapgov's own JSON Schemas to standalone validation code at build time, so the CLI
// does not load and run the ajv compiler on every start (about 50 ms per run).
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv } from 'ajv';
import standalone from 'ajv/dist/standalone/index.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const schemas = readdirSync(join(root, 'schemas')).filter((f) => f.endsWith('.schema.json'));
const ajv = new Ajv({ allErrors: true, strict: true, allowUnionTypes: true, code: { source: true, esm: true } });
const refs = {};
for (const f of schemas) {
  const name = f.replace('.schema.json', '');
  const schema = JSON.parse(readFileSync(join(root, 'schemas', f), 'utf8'));
  ajv.addSchema(schema, name);
  refs[name.replace(/-([a-z])/g, (_, c) => c.toUpperCase())] = name;
}
// ajv's ESM output still require()s its small runtime helpers; give the module a require.
const code = `import { createRequire } from 'node:module';\nconst require = createRequire(import.meta.url);\n${standalone.default(ajv, refs).replace(/^"use strict";/, '')}`;
writeFileSync(join(root, 'dist', 'schemas.gen.js'), code);
console.log(`compiled ${schemas.length} schemas to dist/schemas.gen.js`);
