// The JSON Schemas of the --json outputs (schemas/output/COMMAND.schema.json), made from the
// result types in src/commands/ so they cannot drift from the code: `npm run schemas` writes them,
// and a unit test checks that the committed files are what this makes. Every e2e test's --json
// document is validated against its command's schema (test/helpers/cli.ts).
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createGenerator } from 'ts-json-schema-generator';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

/** Command (as in `snapgov COMMAND`; `audit-verify` is `snapgov audit verify`) → its result type. */
export const OUTPUTS = {
  init: 'InitResult',
  create: 'CreateResult',
  list: 'ListResult',
  info: 'InfoResult',
  diff: 'DiffResult',
  cat: 'CatResult',
  status: 'StatusResult',
  verify: 'VerifyResult',
  sign: 'SignResult',
  approve: 'ApproveResult',
  reject: 'ApproveResult',
  approvals: 'ApprovalsResult',
  promote: 'PromoteCmdResult',
  evidence: 'EvidenceResult',
  'env-list': 'EnvListResult',
  'env-history': 'EnvHistoryResult',
  'env-resume': 'EnvResumeResult',
  keygen: 'KeygenResult',
  rollback: 'RollbackResult',
  restore: 'RollbackResult',
  prune: 'PruneResult',
  gc: 'GcResult',
  pin: 'PinResult',
  unpin: 'PinResult',
  tag: 'TagResult',
  rehearse: 'RehearsalReport',
  audit: 'AuditListResult',
  'audit-verify': 'AuditVerifyResult',
  'audit-checkpoint': 'AuditCheckpointResult',
  export: 'ExportResult',
  import: 'ImportResult',
  push: 'PushCmdResult',
  pull: 'PullResult',
  'remote-list': 'RemoteListResult',
  completion: 'CompletionResult',
};

/** The `format` of a command's document, unless its result is a stored document with its own (info: the metadata, rehearse: the report). */
export const outputFormat = (command) => `snapgov-${command}/1`;

export function outputSchemas() {
  const generator = createGenerator({ path: join(root, 'src/commands/*.ts'), tsconfig: join(root, 'tsconfig.json'), type: '*', skipTypeCheck: true, expose: 'none', topRef: false, additionalProperties: false, jsDoc: 'basic' });
  const out = {};
  for (const [command, type] of Object.entries(OUTPUTS)) {
    const { $schema: _drop, ...body } = generator.createSchema(type);
    if (!body.properties.format) {
      body.properties = { format: { const: outputFormat(command), description: 'the format of this document and its version' }, ...body.properties };
      body.required = ['format', ...(body.required ?? [])];
    }
    out[command] = {
      $schema: 'http://json-schema.org/draft-07/schema#',
      $id: `https://snapgov.dev/schemas/output/${command}.schema.json`,
      title: `the --json output of snapgov ${command.replace('-', ' ')}`,
      ...body,
    };
  }
  return out;
}

export const schemaText = (schema) => `${JSON.stringify(schema, null, 2)}\n`;

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  mkdirSync(join(root, 'schemas/output'), { recursive: true });
  const all = outputSchemas();
  for (const [command, schema] of Object.entries(all)) writeFileSync(join(root, 'schemas/output', `${command}.schema.json`), schemaText(schema));
  console.log(`wrote ${Object.keys(all).length} schemas to schemas/output/`);
}
