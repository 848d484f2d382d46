// Bundles the compiled modules (dist/) for the CLI: Node's ES module loader costs about 0.5 ms per
// module, and a rollback used to load some 60 of them. The core (our own modules, commander and
// chalk) becomes one chunk; each command stays a lazily loaded chunk, and so do the signing and
// archive modules with their large libraries (openpgp, sigstore, tar, ajv), which stay packages.
// The chunks are CommonJS, as bin/snapgov is: Node's CommonJS loader costs a few milliseconds less
// than its ES loader; a package.json in the output folder says so to Node (for the worker thread too).
// Output sits two levels below the package root, like every module it came from, so relative
// look-ups (package.json, node_modules) resolve the same. The unbundled dist/ stays for the unit tests.
import { rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { rolldown } from 'rolldown';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const out = join(root, 'dist', 'bundle');
const CORE = /\/node_modules\/(commander|chalk)\/|\/dist\/((core|store|scan|files|pool|verify|util|config|snapshot|rollback)\/|errors\.js|output\.js|schema\.js)/;

rmSync(out, { recursive: true, force: true });
const bundle = await rolldown({
  cwd: root,
  // Two entries: the worker thread loads worker.js beside the chunk that starts it.
  input: { cli: 'dist/cli.js', worker: 'dist/pool/worker.js' },
  platform: 'node',
  external: (id) => id.startsWith('node:') || /^(openpgp|@sigstore\/|tar$|tar\/|ajv|fast-glob)/.test(id),
  preserveEntrySignatures: 'allow-extension',
  // A command both imported lazily by the CLI and statically by another command is expected.
  checks: { ineffectiveDynamicImport: false },
});
await bundle.write({
  dir: out,
  format: 'cjs',
  // No source maps: the package ships the bundle alone, and a map would point at files it does not hold.
  sourcemap: false,
  entryFileNames: '[name].js',
  chunkFileNames: '[name].js',
  // Only the chosen modules form the core chunk: what they import lazily stays lazy.
  // The commands' shared helpers get a chunk of their own: merged into cli.js, a worker thread
  // requiring the core would run the CLI's main.
  codeSplitting: {
    includeDependenciesRecursively: false,
    groups: [
      { name: 'snapgov', test: (id) => CORE.test(id) && !id.endsWith('/pool/worker.js') },
      { name: 'common', test: (id) => id.endsWith('/dist/commands/common.js') },
    ],
  },
});
await bundle.close();
writeFileSync(join(out, 'package.json'), '{ "type": "commonjs" }\n');
console.log('bundled dist/cli.js and its worker into dist/bundle/');
