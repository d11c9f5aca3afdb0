/**
 * The source's secondary and unique indexes, rebuilt on the target table: which PostgreSQL index each
 * MySQL index becomes (planIndexes), and bringing the target's set in line with that plan
 * (syncIndexes). Tributary marks the indexes it builds with a comment and only ever drops those, so
 * indexes a user adds to a target table are never touched.
 */
import { createHash } from 'node:crypto';
import { boundedName, pgStringLiteral, qualifiedPg, quotePg } from '../ident';
import type { SourceIndex, SourceTable } from '../model';
import { isGeometryType, isSpatial } from '../convert/typemap';
import { connectTarget, type PoolClient, type TargetHandle, targetQuery } from './connection';
import { SOURCE_COLUMN, type TargetColumn, type TargetTable } from './schema';

/** One element of an index: a whole column, its first characters/bytes, or a text search vector. */
export type IndexElement =
  | { kind: 'column'; column: string }
  | { kind: 'prefix'; column: string; length: number; binary: boolean }
  | { kind: 'fulltext'; columns: string[]; cap: number | null };

export interface TargetIndex {
  /** PostgreSQL name: target table and source index name, cut to fit, and a hash of the definition. */
  name: string;
  /** The index's name in the (first) source that has it. */
  sourceName: string;
  unique: boolean;
  method: 'btree' | 'gin' | 'gist';
  elements: IndexElement[];
}

/** Why a source index is not built on the target. */
export interface IndexNote {
  index: string;
  sources: string[];
  reason: string;
}

// An index of this prefix marks the comments of indexes Tributary built (and may drop).
export const INDEX_MARKER = 'tributary:';
// btree entries must fit in a third of a page (2704 bytes); below this a column is indexed in full.
const BTREE_FULL_BYTES = 2000;
// tsvector is limited to 1 MB: long texts are searched in their first this many characters.
const FULLTEXT_CAP_CHARS = 100_000;
const BYTES_PER_CHAR: Record<string, number> = { utf8mb4: 4, utf8mb3: 3, utf8: 3, utf16: 4, utf16le: 4, utf32: 4, ucs2: 2, binary: 1 };

const sqlList = (values: readonly string[]): string => values.join(', ');

/** The SQL of one element; alias qualifies the columns (for joins in the merge). */
export function elementSql(element: IndexElement, alias?: string): string {
  const col = (name: string): string => (alias ? `${alias}.${quotePg(name)}` : quotePg(name));
  switch (element.kind) {
    case 'column':
      return col(element.column);
    case 'prefix':
      return element.binary ? `substring(${col(element.column)} FROM 1 FOR ${element.length})` : `left(${col(element.column)}, ${element.length})`;
    case 'fulltext': {
      const capped = element.columns.map((c) => (element.cap ? `left(${col(c)}, ${element.cap})` : col(c)));
      const text = capped.length === 1 ? capped[0]! : capped.map((c) => `coalesce(${c}, '')`).join(` || ' ' || `);
      return `to_tsvector('simple'::regconfig, ${text})`;
    }
  }
}

/** What the index is, independent of its name: compared across sources and stored in the marker. */
export function indexDefinition(index: Pick<TargetIndex, 'unique' | 'method' | 'elements'>, keyIncludesSource: boolean): string {
  const elements = index.elements.map((e) => elementSql(e));
  if (index.unique && keyIncludesSource) elements.unshift(quotePg(SOURCE_COLUMN));
  return `${index.unique ? 'UNIQUE ' : ''}USING ${index.method} (${sqlList(elements)})`;
}

export function createIndexSql(table: TargetTable, index: TargetIndex): string {
  const definition = indexDefinition(index, table.keyIncludesSource);
  const [unique, using] = definition.startsWith('UNIQUE ') ? ['UNIQUE ', definition.slice(7)] : ['', definition];
  return `CREATE ${unique}INDEX CONCURRENTLY ${quotePg(index.name)} ON ${table.qualified} ${using}`;
}

type Mapped = { ok: true; unique: boolean; method: TargetIndex['method']; elements: IndexElement[] } | { ok: false; reason: string };

/** The PostgreSQL index for one source index of one source (view: that source's target columns). */
export function mapIndex(index: SourceIndex, view: TargetTable, merged: TargetTable): Mapped {
  const columns: TargetColumn[] = [];
  for (const part of index.parts) {
    if (part.column === null) return { ok: false, reason: 'it indexes an expression (functional index), which is not copied' };
    const column = view.columns.find((c) => c.source.name === part.column);
    if (!column) return { ok: false, reason: `column ${part.column} is not synced (columns setting)` };
    columns.push(merged.columns.find((c) => c.name === column.name) ?? column);
  }
  switch (index.kind) {
    case 'FULLTEXT': {
      const cap = columns.some((c) => maxBytes(c) === null || maxBytes(c)! > 65_535) ? FULLTEXT_CAP_CHARS : null;
      return { ok: true, unique: false, method: 'gin', elements: [{ kind: 'fulltext', columns: columns.map((c) => c.name), cap }] };
    }
    case 'SPATIAL':
      if (columns.length !== 1 || !isGeometryType(columns[0]!.pgType)) {
        return { ok: false, reason: 'it is a SPATIAL index and the target database has no PostGIS (the column is bytea)' };
      }
      return { ok: true, unique: false, method: 'gist', elements: [{ kind: 'column', column: columns[0]!.name }] };
    case 'BTREE':
    case 'HASH': {
      const elements: IndexElement[] = [];
      for (const [i, part] of index.parts.entries()) {
        const column = columns[i]!;
        if (isSpatial(column.source)) {
          return { ok: false, reason: `column ${column.name} is spatial; only a SPATIAL index on it is copied` };
        }
        if (part.prefix !== null && column.source.isJson) return { ok: false, reason: `it indexes a prefix of JSON column ${column.name}` };
        const bytes = maxBytes(column);
        // A prefix index becomes an index of the whole column where btree can hold every value: it serves
        // the same lookups, and as a unique index it is never stricter than MySQL's.
        if (part.prefix === null || (bytes !== null && bytes <= BTREE_FULL_BYTES)) elements.push({ kind: 'column', column: column.name });
        else elements.push({ kind: 'prefix', column: column.name, length: part.prefix, binary: column.pgType === 'bytea' });
      }
      return { ok: true, unique: index.unique, method: 'btree', elements };
    }
    default:
      return { ok: false, reason: `index type ${index.kind} has no PostgreSQL counterpart here` };
  }
}

/** Largest value of a column in bytes, or null when unbounded (text, blob and JSON types). */
function maxBytes(column: TargetColumn): number | null {
  const source = column.source;
  if (source.charMaxLength === null || source.isJson) return /^(?:tiny)?(?:text|blob)$/.test(source.dataType) ? 65_535 : null;
  const perChar = source.charset === null ? 1 : BYTES_PER_CHAR[source.charset.toLowerCase()] ?? 4;
  return Number(source.charMaxLength) * perChar;
}

/**
 * The indexes of the merged target table: the union of every source's indexes, one per definition.
 * An index is unique only where every source has it unique (otherwise a source without the
 * constraint could hold values that break it); the primary key's own columns are not indexed again.
 */
export function planIndexes(merged: TargetTable, views: readonly { sourceId: string; sourceTable: SourceTable; table: TargetTable }[]): { indexes: TargetIndex[]; notes: IndexNote[] } {
  const notes = new Map<string, IndexNote>();
  const byDefinition = new Map<string, { index: Omit<TargetIndex, 'name'>; uniqueIn: Set<string> }>();
  for (const view of views) {
    for (const sourceIndex of view.sourceTable.indexes ?? []) {
      const mapped = mapIndex(sourceIndex, view.table, merged);
      if (!mapped.ok) {
        const note = notes.get(sourceIndex.name + '\u0000' + mapped.reason) ?? { index: sourceIndex.name, sources: [], reason: mapped.reason };
        note.sources.push(view.sourceId);
        notes.set(sourceIndex.name + '\u0000' + mapped.reason, note);
        continue;
      }
      const shape = indexDefinition({ ...mapped, unique: false }, false);
      const entry = byDefinition.get(shape) ?? { index: { sourceName: sourceIndex.name, unique: false, method: mapped.method, elements: mapped.elements }, uniqueIn: new Set<string>() };
      if (mapped.unique) entry.uniqueIn.add(view.sourceId);
      byDefinition.set(shape, entry);
    }
  }
  const keyShape = indexDefinition({ unique: false, method: 'btree', elements: merged.key.map((column) => ({ kind: 'column', column })) }, false);
  const indexes: TargetIndex[] = [];
  for (const [shape, { index, uniqueIn }] of byDefinition) {
    const unique = views.every((v) => uniqueIn.has(v.sourceId));
    if (unique && shape === keyShape) continue;
    if (uniqueIn.size > 0 && !unique) {
      notes.set(`${index.sourceName}\u0000unique`, {
        index: index.sourceName,
        sources: [...uniqueIn],
        reason: 'unique in some sources only: built as a plain index (a unique index would refuse rows of the other sources)',
      });
    }
    const full = { ...index, unique };
    const hash = createHash('sha1').update(`${merged.name}\u0000${indexDefinition(full, merged.keyIncludesSource)}`).digest('hex').slice(0, 8);
    indexes.push({ ...full, name: boundedName('', `${merged.name}_${index.sourceName}`, `_${hash}`, 63) });
  }
  return { indexes, notes: [...notes.values()] };
}

interface PresentIndex {
  name: string;
  valid: boolean;
  comment: string | null;
}

/** The indexes on a target table besides its primary key, with validity and comment. */
export async function readIndexes(client: PoolClient, where: string, table: TargetTable): Promise<PresentIndex[]> {
  const result = await targetQuery<PresentIndex>(
    client,
    where,
    `reading indexes of ${table.name}`,
    `SELECT c.relname AS name, i.indisvalid AS valid, obj_description(c.oid, 'pg_class') AS comment
       FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
      WHERE i.indrelid = $1::regclass AND NOT i.indisprimary`,
    [table.qualified],
  );
  return result.rows;
}

export interface IndexSyncResult {
  created: string[];
  dropped: string[];
  /** Indexes that could not be built (a unique index over duplicate values, say); tried again later. */
  failed: { name: string; reason: string }[];
  /** Another process was bringing the same table's indexes in line; nothing was done. */
  busy: boolean;
}

/**
 * Brings the target table's Tributary indexes in line with table.indexes, without blocking readers or
 * writers: CREATE/DROP INDEX CONCURRENTLY, which cannot run in a transaction, on a connection of its
 * own. An invalid index left by a crash during a build is dropped and built again. Only indexes that
 * carry Tributary's marker comment, or have the exact name of one it wants, are dropped.
 */
export async function syncIndexes(handle: TargetHandle, table: TargetTable): Promise<IndexSyncResult> {
  const result: IndexSyncResult = { created: [], dropped: [], failed: [], busy: false };
  const where = handle.where;
  const client = await connectTarget(handle, `building indexes of ${table.name}`);
  const lock = `tributary:indexes:${table.schema}.${table.name}`;
  try {
    const locked = await targetQuery<{ locked: boolean }>(client, where, 'locking index builds', 'SELECT pg_try_advisory_lock(hashtextextended($1, 0)) AS locked', [lock]);
    if (!locked.rows[0]?.locked) return { ...result, busy: true };
    try {
      const wanted = new Map(table.indexes.map((i) => [i.name, i]));
      const present = await readIndexes(client, where, table);
      const valid = new Set<string>();
      for (const index of present) {
        const ours = index.comment?.startsWith(INDEX_MARKER) === true || wanted.has(index.name);
        if (!ours) continue;
        if (index.valid && wanted.has(index.name)) {
          valid.add(index.name);
          if (!index.comment?.startsWith(INDEX_MARKER)) await markIndex(client, where, table, wanted.get(index.name)!);
          continue;
        }
        await dropIndex(client, where, table, index.name);
        if (!wanted.has(index.name)) result.dropped.push(index.name);
      }
      for (const index of table.indexes) {
        if (valid.has(index.name)) continue;
        try {
          await targetQuery(client, where, `building index ${index.name}`, createIndexSql(table, index));
          await markIndex(client, where, table, index);
          result.created.push(index.name);
        } catch (error) {
          // A failed concurrent build leaves an invalid index behind.
          await dropIndex(client, where, table, index.name).catch(() => undefined);
          result.failed.push({ name: index.name, reason: (error as Error).message });
        }
      }
    } finally {
      await targetQuery(client, where, 'unlocking index builds', 'SELECT pg_advisory_unlock(hashtextextended($1, 0))', [lock]);
    }
  } finally {
    client.release();
  }
  return result;
}

async function markIndex(client: PoolClient, where: string, table: TargetTable, index: TargetIndex): Promise<void> {
  const marker = `${INDEX_MARKER} copy of source index ${index.sourceName}: ${indexDefinition(index, table.keyIncludesSource)}`;
  await targetQuery(client, where, `marking index ${index.name}`, `COMMENT ON INDEX ${qualifiedPg(table.schema, index.name)} IS ${pgStringLiteral(marker)}`);
}

async function dropIndex(client: PoolClient, where: string, table: TargetTable, name: string): Promise<void> {
  await targetQuery(client, where, `dropping index ${name}`, `DROP INDEX CONCURRENTLY IF EXISTS ${qualifiedPg(table.schema, name)}`);
}

/** Whether the target table holds any row (an empty table gets its indexes after its first snapshot). */
export async function tableIsEmpty(client: PoolClient, where: string, table: TargetTable): Promise<boolean> {
  const result = await targetQuery<{ empty: boolean }>(client, where, `looking into ${table.name}`, `SELECT NOT EXISTS (SELECT 1 FROM ${table.qualified}) AS empty`);
  return result.rows[0]?.empty ?? true;
}

/** Names of the valid unique Tributary indexes present on the table (the merge guards against them). */
export async function builtUniqueIndexes(client: PoolClient, where: string, table: TargetTable): Promise<TargetIndex[]> {
  const unique = table.indexes.filter((i) => i.unique);
  if (unique.length === 0) return [];
  const result = await targetQuery<{ name: string }>(
    client,
    where,
    `reading unique indexes of ${table.name}`,
    `SELECT c.relname AS name FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
      WHERE i.indrelid = $1::regclass AND i.indisvalid AND i.indisunique AND c.relname = ANY ($2::text[])`,
    [table.qualified, unique.map((i) => i.name)],
  );
  const built = new Set(result.rows.map((r) => r.name));
  return unique.filter((i) => built.has(i.name));
}
