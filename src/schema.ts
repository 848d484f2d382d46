import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { SnapgovError } from './errors.js';
import type { ValidateFunction } from 'ajv';

export type SchemaName = 'config' | 'oci-config' | 'oci-manifest-delta' | 'metadata' | 'audit-record' | 'audit-head' | 'export-header' | 'live' | 'lock' | 'journal' | 'rehearsal-report';

let userAjv: import('ajv').Ajv | undefined;

/** Users' index schemas are compiled at run time, leniently: they may use keywords ajv does not know. */
function ajv(): import('ajv').Ajv {
  if (!userAjv) {
    // Required, not imported: the bundle runs as plain scripts, which cannot import (ajv is CommonJS).
    const require = createRequire(import.meta.url);
    const { Ajv } = require('ajv') as typeof import('ajv');
    const formats = require('ajv-formats') as typeof import('ajv-formats');
    userAjv = new Ajv({ allErrors: true, strict: false, allowUnionTypes: true });
    (formats.default as unknown as (x: unknown) => void)(userAjv);
  }
  return userAjv;
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

/** The generated index (scripts/build-schemas.mjs): per schema name, a loader of its module. */
type Generated = Partial<Record<SchemaName, () => Promise<{ default: ValidateFunction }>>>;
let generated: Generated | undefined;
const loaded = new Map<SchemaName, ValidateFunction>();

/** The compiled validator of one of snapgov's own schemas, its module loaded on first use. */
async function compiled(name: SchemaName): Promise<ValidateFunction> {
  let fn = loaded.get(name);
  if (!fn) {
    // A variable specifier: the generated modules exist only in dist/, not to the type checker.
    const genPath = './schemas.gen.js';
    generated ??= ((await import(genPath)) as { default: Generated }).default;
    const load = generated[name];
    if (!load) throw new Error(`no compiled validator for schema ${name}`);
    fn = (await load()).default;
    loaded.set(name, fn);
  }
  return fn;
}

/** A synchronous validator for one of snapgov's own schemas (compiled at build time, see scripts/build-schemas.mjs). */
export async function validatorFor(name: SchemaName): Promise<(doc: unknown) => SchemaResult> {
  const fn = await compiled(name);
  return (doc) => {
    const ok = fn(doc) as boolean;
    return { ok, errors: ok ? [] : describe(fn) };
  };
}

/**
 * Reads one of snapgov's own JSON documents: null when the file does not exist; a STORE_CORRUPT
 * error naming `what` (with `hint`) when it is not JSON or does not match its schema.
 */
export async function readDocument<T>(path: string, name: SchemaName, what: string, hint: string): Promise<T | null> {
  let doc: unknown;
  try {
    doc = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new SnapgovError('STORE_CORRUPT', `${what} cannot be read: ${(e as Error).message}`, hint);
  }
  const res = await validate(name, doc);
  if (!res.ok) throw new SnapgovError('STORE_CORRUPT', `${what} is invalid: ${res.errors.join('; ')}`, hint);
  return doc as T;
}

/** Validates a document against one of snapgov's own schemas in `schemas/`. */
export async function validate(name: SchemaName, doc: unknown): Promise<SchemaResult> {
  return (await validatorFor(name))(doc);
}

/** Validates against a user-supplied schema (the artifact index's). Throws when the schema itself is invalid. */
export async function validateWith(schema: object, doc: unknown): Promise<SchemaResult> {
  const { $id: _ignored, ...rest } = schema as { $id?: unknown };
  const v = ajv().compile(rest);
  const ok = v(doc) as boolean;
  return { ok, errors: ok ? [] : describe(v) };
}
