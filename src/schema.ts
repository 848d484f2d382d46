import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ValidateFunction } from 'ajv';

export type SchemaName = 'config' | 'metadata' | 'audit-record' | 'audit-head' | 'export-header' | 'live' | 'lock';

export const SCHEMA_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', 'schemas');

const compiled = new Map<string, ValidateFunction>();
const instances = new Map<boolean, import('ajv').Ajv>();

/** Our schemas compile in strict mode; users' index schemas may use keywords ajv does not know. */
async function ajv(strict: boolean): Promise<import('ajv').Ajv> {
  let a = instances.get(strict);
  if (!a) {
    // Loaded on first use: commands that read no JSON document do not pay for it.
    const [{ Ajv }, formats] = await Promise.all([import('ajv'), import('ajv-formats')]);
    const inst = new Ajv({ allErrors: true, strict, allowUnionTypes: true });
    (formats.default as unknown as (x: unknown) => void)(inst);
    a = inst;
    instances.set(strict, a);
  }
  return a;
}

export interface SchemaResult {
  ok: boolean;
  errors: string[];
}

function describe(v: ValidateFunction): string[] {
  return (v.errors ?? []).map((e) => {
    const where = e.instancePath === '' ? '(top level)' : e.instancePath;
    const extra = e.keyword === 'additionalProperties' ? ` "${String((e.params as { additionalProperty?: string }).additionalProperty)}"` : e.keyword === 'enum' ? `: ${JSON.stringify((e.params as { allowedValues?: unknown }).allowedValues)}` : '';
    return `${where} ${e.message ?? 'is invalid'}${extra}`;
  });
}

/** A synchronous validator for one of snapgov's own schemas in `schemas/` (for stream handlers). */
export async function validatorFor(name: SchemaName): Promise<(doc: unknown) => SchemaResult> {
  let v = compiled.get(name);
  if (!v) {
    v = (await ajv(true)).compile(JSON.parse(readFileSync(join(SCHEMA_DIR, `${name}.schema.json`), 'utf8')) as object);
    compiled.set(name, v);
  }
  const fn = v;
  return (doc) => {
    const ok = fn(doc) as boolean;
    return { ok, errors: ok ? [] : describe(fn) };
  };
}

/** Validates a document against one of snapgov's own schemas in `schemas/`. */
export async function validate(name: SchemaName, doc: unknown): Promise<SchemaResult> {
  return (await validatorFor(name))(doc);
}

/** Validates against a user-supplied schema (the artifact index's). Throws when the schema itself is invalid. */
export async function validateWith(schema: object, doc: unknown): Promise<SchemaResult> {
  const { $id: _ignored, ...rest } = schema as { $id?: unknown };
  const v = (await ajv(false)).compile(rest);
  const ok = v(doc) as boolean;
  return { ok, errors: ok ? [] : describe(v) };
}
