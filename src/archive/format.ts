/** Member names of a snapgov export archive, in the order they are written and must be read. */
export const EXPORT_FORMAT = 'snapgov-export/1';

export const MEMBER = {
  header: 'snapgov-export.json',
  manifest: 'manifest.json',
  metadata: 'metadata.json',
  objectsDir: 'objects/',
} as const;
