import { existsSync } from 'node:fs';
import { appendAudit, type AuditInput } from './audit-log.js';
import { ensureStoreDirs, manifestPath } from './layout.js';
import { commitStaged, discardStaged, type StagedObjects } from './objects.js';
import { signatureFile, writeSignatureFile } from './signature-files.js';
import { writeMetadata, type Metadata } from './snapshots.js';
import { atomicWriteFile } from '../util/fsx.js';
import type { StoreLayout } from './layout.js';

/**
 * Makes a snapshot that arrived from elsewhere (an export archive, a registry) part of the store,
 * under the caller's exclusive lock: its checked objects, then its manifest, its signature files
 * (under their canonical names, never a path from outside), the audit record, and the metadata last,
 * which makes it visible, as create does. What was staged is removed when any step fails.
 */
export async function adoptSnapshot(layout: StoreLayout, lock: { assertHeld(): void }, manifest: Buffer, metadata: Metadata, staged: StagedObjects, audit: AuditInput): Promise<void> {
  try {
    lock.assertHeld();
    ensureStoreDirs(layout);
    commitStaged(layout, staged);
    if (!existsSync(manifestPath(layout, metadata.id))) atomicWriteFile(manifestPath(layout, metadata.id), manifest, { mode: 0o444 });
    const signatures = metadata.signatures.map((r) => ({ ...r, file: signatureFile(metadata.id, r) }));
    for (const r of signatures) writeSignatureFile(layout, r);
    await appendAudit(layout, audit);
    writeMetadata(layout, { ...metadata, signatures });
  } catch (e) {
    discardStaged(staged);
    throw e;
  }
}
