// Compiles snapgov's own JSON Schemas to standalone validation code at build time, so the CLI
// does not load and run the ajv compiler on every start (about 50 ms per run). One module per
// schema, each loaded when first needed: all of them together are some 250 KB of code, which took
// about 9 ms to load on every command, for the two or three that most commands use.
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv } from 'ajv';
import standalone from 'ajv/dist/standalone/index.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const schemas = readdirSync(join(root, 'schemas')).filter((f) => f.endsWith('.schema.json'));
mkdirSync(join(root, 'dist', 'schemas'), { recursive: true });
const loaders = [];
for (const f of schemas) {
  const name = f.replace('.schema.json', '');
  const ajv = new Ajv({ allErrors: true, strict: true, allowUnionTypes: true, code: { source: true, esm: true } });
  const validate = ajv.compile(JSON.parse(readFileSync(join(root, 'schemas', f), 'utf8')));
  // ajv's ESM output still require()s its small runtime helpers; give the module a require.
  const code = `import { createRequire } from 'node:module';\nconst require = createRequire(import.meta.url);\n${standalone.default(ajv, validate).replace(/^"use strict";/, '')}`;
  writeFileSync(join(root, 'dist', 'schemas', `${name}.gen.js`), code);
  loaders.push(`  '${name}': () => import('./schemas/${name}.gen.js'),`);
}
// The index: per schema name, a loader of its module.
writeFileSync(join(root, 'dist', 'schemas.gen.js'), `export default {\n${loaders.join('\n')}\n};\n`);
console.log(`compiled ${schemas.length} schemas to dist/schemas/`);
