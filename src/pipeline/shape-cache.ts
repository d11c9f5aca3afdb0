/**
 * Source table shapes kept in the state schema (tributary.source_shapes), keyed by the digest of the
 * capture check. Every start reads the capture check of each source anyway (triggers, changelogs and
 * a digest of columns, indexes and check constraints, in one statement); when its digest equals the
 * stored one, the stored shapes are what introspection would read, and the four information_schema
 * reads of introspection are skipped. A miss, or anything unexpected in a stored row, introspects.
 */
import { createHash } from 'node:crypto';
import type { CaptureState } from '../mysql/capture';
import type { SourceHandle } from '../mysql/connection';
import { hasSpatialColumns } from '../mysql/introspect';
import type { SourceTable } from '../model';
import { readSourceShapes, storeSourceShapes } from '../postgres/state';
import type { Runtime } from './runtime';

/** The key shapes are stored under: a hash of the capture check's digest (which is long). */
export const shapeDigest = (state: CaptureState): string => createHash('sha256').update(state.shape).digest('hex');

/** A source's tables as stored: without their database (the source's) and comments (read each pass). */
type StoredTable = Omit<SourceTable, 'database' | 'comment'>;

export interface KnownShapes {
  digest: string;
  tables: readonly StoredTable[];
}

/**
 * Identical tables (shards usually have them) are held once: one parsed copy per distinct stored
 * text, shared by every source that has it. Nothing changes a source table once read, so sharing is
 * safe; each source still gets its own table objects (its database, its comments).
 */
class ShapeTexts {
  private readonly byText = new Map<string, { text: string; tables: StoredTable[] }>();

  intern(text: string): { text: string; tables: StoredTable[] } | undefined {
    let entry = this.byText.get(text);
    if (!entry) {
      const tables = parseTables(text);
      if (!tables) return undefined;
      entry = { text, tables };
      this.byText.set(text, entry);
    }
    return entry;
  }
}

function parseTables(text: string): StoredTable[] | undefined {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (!Array.isArray(value)) return undefined;
  const wellFormed = value.every((t: Partial<StoredTable> | null) => t !== null && typeof t === 'object' && typeof t.name === 'string' && Array.isArray(t.columns) && Array.isArray(t.key));
  return wellFormed ? (value as StoredTable[]) : undefined;
}

const textsOf = new WeakMap<Runtime, ShapeTexts>();
const shapeTexts = (runtime: Runtime): ShapeTexts => {
  let texts = textsOf.get(runtime);
  if (!texts) textsOf.set(runtime, (texts = new ShapeTexts()));
  return texts;
};

/** The stored shapes of these sources; none when the state schema has no such table yet or cannot be read. */
export async function loadStoredShapes(runtime: Runtime, sourceIds: readonly string[]): Promise<Map<string, KnownShapes>> {
  const known = new Map<string, KnownShapes>();
  try {
    for (const row of await readSourceShapes(runtime.target.pool, runtime.target.where, sourceIds)) {
      const entry = shapeTexts(runtime).intern(row.tables);
      if (entry) known.set(row.sourceId, { digest: row.digest, tables: entry.tables });
    }
  } catch (error) {
    // A cache: reading it may fail (a role without access, say) and the start goes on introspecting.
    runtime.logger.debug('stored source shapes not read; introspecting every source', { error: error instanceof Error ? error.message : String(error) });
  }
  return known;
}

/** A source's own table objects over shared stored shapes: its database, the table comments of now. */
function ownTables(tables: readonly StoredTable[], source: SourceHandle, state: CaptureState): Map<string, SourceTable> {
  const own = new Map<string, SourceTable>();
  for (const table of tables) {
    const comment = state.comments.get(table.name);
    own.set(table.name, { ...table, database: source.database, ...(comment ? { comment } : {}) });
  }
  return own;
}

/** The stored tables of a source when stored under this digest (comments are not digested: read each pass). */
export function restoreTables(known: KnownShapes | undefined, digest: string, source: SourceHandle, state: CaptureState): Map<string, SourceTable> | undefined {
  if (!known || known.digest !== digest) return undefined;
  return ownTables(known.tables, source, state);
}

/**
 * Keeps what a source's introspection read, to be stored with the digest once the state schema is
 * migrated (storePendingShapes), and returns the tables to use: shared with sources whose tables are
 * identical. Spatial columns are not stored: their SRIDs are not in the digest.
 */
export function rememberShapes(runtime: Runtime, source: SourceHandle, digest: string, found: ReadonlyMap<string, SourceTable>, state: CaptureState): Map<string, SourceTable> {
  const tables = [...found.values()];
  if (tables.some(hasSpatialColumns)) return new Map(found);
  const entry = shapeTexts(runtime).intern(JSON.stringify(tables.map(({ database: _database, comment: _comment, ...table }) => table)));
  if (!entry) return new Map(found);
  runtime.shapesToStore.set(source.id, { sourceId: source.id, digest, tables: entry.text });
  return ownTables(entry.tables, source, state);
}

/** Writes the shapes remembered since the last call. A failure is logged: the next start introspects again. */
export async function storePendingShapes(runtime: Runtime): Promise<void> {
  if (runtime.shapesToStore.size === 0) return;
  const pending = [...runtime.shapesToStore.values()];
  runtime.shapesToStore.clear();
  try {
    await storeSourceShapes(runtime.target.pool, runtime.target.where, pending);
  } catch (error) {
    runtime.logger.warn('could not store source shapes; the next start reads them again', { error: error instanceof Error ? error.message : String(error) });
  }
}
