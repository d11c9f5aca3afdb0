/**
 * Capture: the changelog table and the three triggers that fill it, for one source table.
 *
 * The triggers record only the operation and the primary key (old and new for updates): the pipeline
 * reads the row's current state when it applies the change. That keeps the cost on the application's
 * writes close to nothing and makes snapshot and change paths read values the same way.
 */
import { randomBytes } from 'node:crypto';
import type { RowDataPacket } from 'mysql2/promise';
import { TributaryError } from '../errors';
import { mapMysqlError, mysqlErrno } from './errors';
import { boundedName, mysqlStringLiteral, quoteMysql } from '../ident';
import type { SourceColumn, SourceTable } from '../model';
import { boundedMemo } from '../memo';
import { sqlFile } from '../sqlfiles';
import { type SourceHandle, sourceExecute, sourceQuery, sourceQueryQualified } from './connection';
import { introspectTables, isMariaDb } from './introspect';

export interface CaptureNames {
  changelog: string;
  triggers: Record<TriggerEvent, string>;
}

/** What capture is named after: a table, and its configured changelog name if it has one. */
export interface CaptureSubject {
  readonly name: string;
  /** Table setting `changelog`: the changelog's name when the default is taken. */
  readonly changelog?: string | undefined;
}

export type TriggerEvent = 'INSERT' | 'UPDATE' | 'DELETE';
export const EVENTS: TriggerEvent[] = ['INSERT', 'UPDATE', 'DELETE'];
const EVENT_SUFFIX: Record<TriggerEvent, string> = { INSERT: '_ins', UPDATE: '_upd', DELETE: '_del' };
const EVENT_OP: Record<TriggerEvent, string> = { INSERT: 'I', UPDATE: 'U', DELETE: 'D' };

/**
 * The changelog and trigger names of a table: tributary_log_<table> and tributary_<table>_ins|upd|del,
 * or, when the table's changelog is named in the configuration, that name and <changelog>_ins|upd|del
 * (one setting moves every name away from objects that already exist).
 */
export function captureNames(table: string, changelog?: string): CaptureNames {
  const triggers = {} as Record<TriggerEvent, string>;
  for (const event of EVENTS) triggers[event] = changelog ? boundedName('', changelog, EVENT_SUFFIX[event]) : boundedName('tributary_', table, EVENT_SUFFIX[event]);
  return { changelog: changelog ?? boundedName('tributary_log_', table), triggers };
}

// The same few names are asked for every unit of every source on every pass (the idle probe alone asks
// several times per unit): computed once per (table, changelog setting), and shared, hence frozen.
export const namesOf = boundedMemo(
  50_000,
  (subject: CaptureSubject) => (subject.changelog === undefined ? subject.name : `${subject.name}\u0000${subject.changelog}`),
  (subject): CaptureNames => {
    const fresh = captureNames(subject.name, subject.changelog);
    return Object.freeze({ changelog: fresh.changelog, triggers: Object.freeze(fresh.triggers) });
  },
);

const subjectOf = (subject: string | CaptureSubject): CaptureSubject => (typeof subject === 'string' ? { name: subject } : subject);

/** Changelog columns holding key part i (1-based) before and after the change. */
export const oldKeyColumn = (i: number): string => `old_k${i}`;
export const newKeyColumn = (i: number): string => `new_k${i}`;

/** The MySQL type of a column as needed to hold its values exactly elsewhere, with charset and collation. */
export function columnTypeDefinition(column: SourceColumn): string {
  let type = column.columnType;
  if (column.charset && column.charset !== 'binary' && !/^(enum|set)\b/.test(type)) {
    type += ` CHARACTER SET ${column.charset}`;
    if (column.collation) type += ` COLLATE ${column.collation}`;
  } else if (column.charset && column.collation && /^(enum|set)\b/.test(type)) {
    type += ` CHARACTER SET ${column.charset} COLLATE ${column.collation}`;
  }
  return type;
}

export function keyColumns(table: SourceTable): SourceColumn[] {
  return table.key.map((name) => {
    const column = table.columns.find((c) => c.name === name);
    if (!column) throw new Error(`key column ${name} not found in ${table.name}`);
    return column;
  });
}

// ---------------------------------------------------------------------------------------------------
// Ownership markers. Tributary alters, replaces or drops only what carries its marker: a changelog's
// table comment, and a trigger body that writes into such a changelog. A name alone proves nothing.
// ---------------------------------------------------------------------------------------------------

const CHANGELOG_MARKER = 'tributary:changelog:v1';
// The table name is the one JSON string of the comment, so no table name can imitate a token.
const MARKER_PATTERN = /^tributary:changelog:v1 token=([0-9a-f]{16}) table=("(?:[^"\\]|\\.)*")(?:;|$)/;
// Versions before the marker wrote exactly this comment; such changelogs are ours too.
const LEGACY_PATTERN = /^tributary changelog token ([0-9a-f]{16}); changes of (.*); rows are deleted once applied, never truncate$/s;

export interface ChangelogMarker {
  /** Changes when the changelog is recreated or capture was repaired. */
  token: string;
  /** The source table whose changes it holds. */
  table: string;
  /** Written by a version before the marker (upgraded by `triggers install`). */
  legacy: boolean;
}

/** Tributary's marker in a table comment, or null when the table is not a Tributary changelog. */
export function readChangelogMarker(comment: string | null | undefined): ChangelogMarker | null {
  const text = comment ?? '';
  const current = MARKER_PATTERN.exec(text);
  if (current) {
    try {
      return { token: current[1]!, table: JSON.parse(current[2]!) as string, legacy: false };
    } catch {
      return null;
    }
  }
  const legacy = LEGACY_PATTERN.exec(text);
  return legacy ? { token: legacy[1]!, table: legacy[2]!, legacy: true } : null;
}

/** The install token in a changelog's table comment: it changes when the changelog is recreated. */
export function tokenFromComment(comment: string | null | undefined): string | null {
  return readChangelogMarker(comment)?.token ?? null;
}

export function newChangelogToken(): string {
  return randomBytes(8).toString('hex');
}

export function changelogComment(table: string, token: string): string {
  return `${CHANGELOG_MARKER} token=${token} table=${JSON.stringify(table)}; changes of this table, written by Tributary's triggers; rows are deleted once applied, never truncate`;
}

// A trigger body Tributary wrote, or one changed by hand that still feeds a changelog: INSERT INTO it.
const INSERT_INTO = /^\s*INSERT\s+INTO\s+(`(?:[^`]|``)+`|[0-9A-Za-z_$]+)\s*\(/i;

/** The table a trigger body inserts into (unquoted), when it is a single INSERT; else null. */
export function triggerTarget(body: string): string | null {
  const match = INSERT_INTO.exec(body);
  if (!match) return null;
  const name = match[1]!;
  return name.startsWith('`') ? name.slice(1, -1).replace(/``/g, '`') : name;
}

// ---------------------------------------------------------------------------------------------------
// DDL
// ---------------------------------------------------------------------------------------------------

/**
 * The changelog table. A plain CREATE TABLE: run by hand where the name is taken, it fails instead of
 * reusing someone else's table.
 */
export function changelogDdl(table: SourceTable, token: string): string {
  const names = namesOf(table);
  const keyDefs = keyColumns(table).flatMap((column, index) => [
    `  ${quoteMysql(oldKeyColumn(index + 1))} ${columnTypeDefinition(column)} NULL DEFAULT NULL`,
    `  ${quoteMysql(newKeyColumn(index + 1))} ${columnTypeDefinition(column)} NULL DEFAULT NULL`,
  ]);
  const comment = changelogComment(table.name, token);
  return [
    `CREATE TABLE ${quoteMysql(names.changelog)} (`,
    '  `change_id` BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,',
    "  `op` CHAR(1) CHARACTER SET ascii NOT NULL COMMENT 'I insert, U update, D delete',",
    '  `captured_at` TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),',
    ...keyDefs.map((d) => d + ','),
    '  PRIMARY KEY (`change_id`)',
    `) ENGINE=InnoDB COMMENT=${mysqlStringLiteral(comment)}`,
  ].join('\n');
}

/** The statement a trigger runs, exactly as information_schema.TRIGGERS shows it back. */
export function triggerBody(table: SourceTable, event: TriggerEvent): string {
  const names = namesOf(table);
  const keys = keyColumns(table);
  const columns = ['`op`'];
  const values = [`'${EVENT_OP[event]}'`];
  keys.forEach((column, index) => {
    if (event !== 'INSERT') {
      columns.push(quoteMysql(oldKeyColumn(index + 1)));
      values.push(`OLD.${quoteMysql(column.name)}`);
    }
    if (event !== 'DELETE') {
      columns.push(quoteMysql(newKeyColumn(index + 1)));
      values.push(`NEW.${quoteMysql(column.name)}`);
    }
  });
  return `INSERT INTO ${quoteMysql(names.changelog)} (${columns.join(', ')}) VALUES (${values.join(', ')})`;
}

export function triggerDdl(table: SourceTable, event: TriggerEvent): string {
  const name = namesOf(table).triggers[event];
  return `CREATE TRIGGER ${quoteMysql(name)} AFTER ${event} ON ${quoteMysql(table.name)} FOR EACH ROW ${triggerBody(table, event)}`;
}

export function dropTriggerDdl(trigger: string): string {
  return `DROP TRIGGER IF EXISTS ${quoteMysql(trigger)}`;
}

export function dropChangelogDdl(changelog: string): string {
  return `DROP TABLE IF EXISTS ${quoteMysql(changelog)}`;
}

/** Everything a DBA runs to install capture for one table on a server without any of it, in order. */
export function installScript(table: SourceTable, token: string): string[] {
  return [changelogDdl(table, token), ...EVENTS.map((event) => triggerDdl(table, event))];
}

const normalise = (sql: string): string => sql.replace(/\s+/g, ' ').trim();

/**
 * Trigger bodies as compared by every capture check: the same few texts (one per table and event,
 * identical across shards) come back for every source and pass, so each is normalised once. Bounded:
 * dropped whole when it grows past what any configuration needs.
 */
const normalisedBody = boundedMemo(50_000, (sql: string) => sql, normalise);

// ---------------------------------------------------------------------------------------------------
// What is installed
// ---------------------------------------------------------------------------------------------------

export interface InstalledTrigger {
  name: string;
  event: string;
  timing: string;
  table: string;
  body: string;
}

export interface InstalledChangelog {
  /** The install token; null when the table carries no Tributary marker. */
  token: string | null;
  marker: ChangelogMarker | null;
}

export interface CaptureState {
  /** Triggers whose names are tributary_* or one of the expected names, by name. */
  triggers: Map<string, InstalledTrigger>;
  /** Tables present under an expected changelog name, ours or not, by name. */
  changelogs: Map<string, InstalledChangelog>;
  /** pt-online-schema-change's triggers (pt_osc_<db>_<table>_ins/upd/del): table -> events they fire on. */
  onlineSchemaChange: Map<string, Set<string>>;
  /** Source tables present, by name. */
  tables: Set<string>;
  /** The comment of each table and changelog present ('' when none). */
  comments: Map<string, string>;
  /**
   * Digest of the columns of the tables and their changelogs and of the tables' indexes (and, on
   * MariaDB, check constraints): changes with any ALTER TABLE, CREATE or DROP INDEX.
   */
  shape: string;
  /**
   * Lowest and highest change id of each changelog, read in the same statement as the rest when
   * asked for (see CaptureReadOptions.edges); absent when not asked or not readable that way.
   */
  edges?: Map<string, ChangelogEdge>;
  /** The consumer registry's table comment when asked for (CaptureReadOptions.registry): null when absent. */
  registryComment?: string | null;
}

/** What a changelog holds: its lowest and highest change id, both null when empty. */
export interface ChangelogEdge {
  lo: number | null;
  hi: number | null;
}

export interface CaptureReadOptions {
  /**
   * Also read the edges of every expected changelog in the same statement: what the idle probe of a
   * pass needs, one round trip fewer per source. When that statement fails (a changelog missing or not
   * readable), the check is read alone and the edges are left out.
   */
  edges?: boolean;
  /** Also read this table's comment (the consumer registry's marker), without adding it to the digest. */
  registry?: string;
}

function hiddenDefinition(handle: SourceHandle, name: string): TributaryError {
  // MySQL and MariaDB hide trigger definitions from users without the TRIGGER privilege.
  return new TributaryError(
    'SOURCE_QUERY_FAILED',
    `${handle.where}: the definition of trigger ${name} is hidden from this user; grant it TRIGGER on the synced tables (see \`tributary triggers print --grants\`) so that Tributary can check capture`,
  );
}

const edgeValue = (value: unknown): number | null | undefined => {
  if (value === null) return null;
  const id = Number(value);
  return Number.isSafeInteger(id) ? id : undefined;
};

/** Reads what is installed for the given source tables, in one query whatever their number. */
export async function readCaptureState(handle: SourceHandle, subjects: readonly CaptureSubject[], options: CaptureReadOptions = {}): Promise<CaptureState> {
  const tableNames = subjects.map((s) => s.name);
  const names = subjects.map(namesOf);
  const changelogNames = names.map((n) => n.changelog);
  const triggerNames = names.flatMap((n) => Object.values(n.triggers));
  const expectedTriggers = new Set(triggerNames);
  const wanted = [...tableNames, ...changelogNames];
  const wantedSet = new Set(wanted);
  const mariadb = await isMariaDb(handle);
  const sql = mariadb ? `${sqlFile('mysql/pass_check.sql')}\nUNION ALL\n${sqlFile('mysql/mariadb_check_digest.sql')}` : sqlFile('mysql/pass_check.sql');
  // The registry is listed with the tables (for its comment) but not with the columns: the digest, and
  // so the stored shapes keyed by it, stay what they were.
  const listed = options.registry === undefined ? wanted : [...wanted, options.registry];
  const db = handle.database;
  const params = [db, db, triggerNames, db, listed, db, wanted, db, tableNames, ...(mariadb ? [db, tableNames] : [])];
  let rows: RowDataPacket[] | undefined;
  if (options.edges && changelogNames.length > 0) {
    // MIN and MAX of the primary key: two index dives per changelog, appended to the check.
    const edgeSql = changelogNames
      .map((name) => `SELECT 'edge', ?, MIN(\`change_id\`), MAX(\`change_id\`), NULL, NULL FROM ${quoteMysql(db)}.${quoteMysql(name)}`)
      .join('\nUNION ALL\n');
    try {
      rows = await sourceQueryQualified<RowDataPacket>(handle, 'checking capture', `${sql}\nUNION ALL\n${edgeSql}`, [...params, ...changelogNames]);
    } catch (error) {
      // The server refused the statement (a changelog missing, not readable or not a changelog):
      // the check alone says what is wrong. A connection failure is not asked twice.
      if (mysqlErrno(error) === undefined) throw error;
    }
  }
  rows ??= await sourceQueryQualified<RowDataPacket>(handle, 'checking capture', sql, params);
  // The database is gone or not visible to the user: in the database itself, the server says which.
  if (!rows.some((row) => row.kind === 'schema')) rows = await sourceQuery<RowDataPacket>(handle, 'checking capture', sql, params);
  const triggers = new Map<string, InstalledTrigger>();
  const changelogs = new Map<string, InstalledChangelog>();
  const tables = new Set<string>();
  const comments = new Map<string, string>();
  const changelogSet = new Set(changelogNames);
  // The server's kind is part of the digest: what introspection reads differs between the two.
  const digests: string[] = [`server ${mariadb ? 'mariadb' : 'mysql'}`];
  const onlineSchemaChange = new Map<string, Set<string>>();
  let edges: Map<string, ChangelogEdge> | undefined;
  let registryComment: string | null | undefined = options.registry === undefined ? undefined : null;
  for (const row of rows) {
    const name = String(row.name);
    if (row.kind === 'schema') continue;
    if (row.kind === 'edge') {
      const lo = edgeValue(row.a);
      const hi = edgeValue(row.b);
      edges ??= new Map();
      if (lo !== undefined && hi !== undefined) edges.set(name, { lo, hi });
      continue;
    }
    if (row.kind === 'table' && name === options.registry) {
      registryComment = String(row.a ?? '');
      if (!wantedSet.has(name)) continue;
    }
    if (row.kind === 'trigger' && name.startsWith('pt_osc_') && !expectedTriggers.has(name)) {
      const events = onlineSchemaChange.get(String(row.c)) ?? new Set<string>();
      events.add(String(row.a));
      onlineSchemaChange.set(String(row.c), events);
    } else if (row.kind === 'trigger') {
      if (row.d === null) throw hiddenDefinition(handle, name);
      triggers.set(name, { name, event: row.a, timing: row.b, table: row.c, body: row.d });
    } else if (row.kind === 'table') {
      comments.set(name, String(row.a ?? ''));
      if (changelogSet.has(name)) {
        const marker = readChangelogMarker(row.a);
        changelogs.set(name, { token: marker?.token ?? null, marker });
      }
      if (tableNames.includes(name)) tables.add(name);
    } else {
      digests.push(`${row.kind === 'shape' ? '' : `${String(row.kind)} `}${name}:${row.a}`);
    }
  }
  return {
    triggers,
    onlineSchemaChange,
    changelogs,
    tables,
    comments,
    shape: digests.sort().join(','),
    ...(edges ? { edges } : {}),
    ...(registryComment !== undefined ? { registryComment } : {}),
  };
}

export interface CaptureProblem {
  /**
   * trigger-moving: pt-online-schema-change is swapping the table: Tributary's trigger, unchanged,
   * sits on pt-osc's shadow table while pt-osc's own triggers copy every write of the table into it.
   * The table is skipped until the swap is over (not drift).
   */
  kind: 'table-missing' | 'name-taken' | 'changelog-missing' | 'trigger-missing' | 'trigger-changed' | 'trigger-moving' | 'changelog-key-changed' | 'orphan';
  /** The object concerned: a trigger or table name. */
  object: string;
  message: string;
}

const wayOut = (subject: CaptureSubject): string =>
  `set \`changelog: <a free name>\` on table ${subject.name} in the configuration (its triggers are then named <changelog>_ins, _upd, _del), or rename the other object`;

/**
 * Objects under the names capture of this table needs that Tributary did not create: a table without
 * the changelog marker (or with the marker of another table), a trigger that does not write into
 * this table's changelog. Tributary never alters, replaces or drops them.
 */
export function nameCollisions(subject: string | CaptureSubject, state: CaptureState): CaptureProblem[] {
  const s = subjectOf(subject);
  const names = namesOf(s);
  const problems: CaptureProblem[] = [];
  const changelog = state.changelogs.get(names.changelog);
  if (changelog && !changelog.marker) {
    problems.push({
      kind: 'name-taken',
      object: names.changelog,
      message: `table ${names.changelog} exists but was not created by Tributary (its comment carries no Tributary marker), so it cannot be the changelog of ${s.name}; Tributary leaves it alone: ${wayOut(s)}`,
    });
  } else if (changelog?.marker && changelog.marker.table !== s.name) {
    problems.push({
      kind: 'name-taken',
      object: names.changelog,
      message: `table ${names.changelog} is the changelog of table ${changelog.marker.table}, not of ${s.name}: ${wayOut(s)}`,
    });
  }
  // A trigger is Tributary's when it writes into this table's changelog and that changelog is ours.
  const changelogOurs = !changelog || changelog.marker?.table === s.name;
  for (const event of EVENTS) {
    const installed = state.triggers.get(names.triggers[event]);
    if (installed && (!changelogOurs || triggerTarget(installed.body) !== names.changelog)) {
      problems.push({
        kind: 'name-taken',
        object: installed.name,
        message: `trigger ${installed.name} (on ${installed.table}) exists but does not write into ${names.changelog}, so it is not Tributary's; Tributary leaves it alone: ${wayOut(s)}`,
      });
    }
  }
  return problems;
}

/**
 * Compares what is installed with what is expected for one table. An empty list means capture is
 * complete: every insert, update and delete on the table reaches the changelog.
 */
export function captureProblems(table: SourceTable | undefined, subject: string | CaptureSubject, state: CaptureState, changelogTable?: SourceTable): CaptureProblem[] {
  const s = subjectOf(subject);
  const tableName = s.name;
  const names = namesOf(s);
  if (!table || !state.tables.has(tableName)) {
    return [{ kind: 'table-missing', object: tableName, message: `table ${tableName} does not exist in the source` }];
  }
  const taken = nameCollisions(s, state);
  if (taken.length > 0) return taken;
  const problems: CaptureProblem[] = [];
  if (!state.changelogs.has(names.changelog)) {
    problems.push({ kind: 'changelog-missing', object: names.changelog, message: `changelog table ${names.changelog} is missing` });
  } else if (changelogTable) {
    keyColumns(table).forEach((column, index) => {
      for (const logName of [oldKeyColumn(index + 1), newKeyColumn(index + 1)]) {
        const logColumn = changelogTable.columns.find((c) => c.name === logName);
        if (!logColumn || columnTypeDefinition(logColumn) !== columnTypeDefinition(column)) {
          problems.push({
            kind: 'changelog-key-changed',
            object: names.changelog,
            message: `changelog ${names.changelog} column ${logName} is ${logColumn ? columnTypeDefinition(logColumn) : 'missing'} but key column ${column.name} is ${columnTypeDefinition(column)}`,
          });
        }
      }
    });
  }
  for (const event of EVENTS) {
    const name = names.triggers[event];
    const installed = state.triggers.get(name);
    if (!installed) {
      problems.push({ kind: 'trigger-missing', object: name, message: `trigger ${name} (AFTER ${event} on ${tableName}) is missing` });
      continue;
    }
    const sameDefinition = installed.event === event && installed.timing === 'AFTER' && normalisedBody(installed.body) === normalisedBody(triggerBody(table, event));
    if (sameDefinition && installed.table === tableName) continue;
    if (sameDefinition && isShadowTable(installed.table, tableName) && onlineSchemaChangeCopies(state, tableName)) {
      problems.push({
        kind: 'trigger-moving',
        object: name,
        message: `trigger ${name} is on ${installed.table} while pt-online-schema-change swaps ${tableName}; its triggers copy every write into ${installed.table}`,
      });
    } else if (installed.table !== tableName) {
      problems.push({ kind: 'trigger-changed', object: name, message: `trigger ${name} is on ${installed.table}, not on ${tableName}` });
    } else {
      problems.push({ kind: 'trigger-changed', object: name, message: `trigger ${name} on ${tableName} differs from the expected definition` });
    }
  }
  return problems;
}

/** pt-online-schema-change's new table: `_<table>_new` (more leading underscores if that name was taken). */
function isShadowTable(candidate: string, tableName: string): boolean {
  return /^_+$/.test(candidate.slice(0, candidate.length - tableName.length - 4)) && candidate.endsWith(`${tableName}_new`) && candidate.length > tableName.length + 4;
}

/** pt-online-schema-change's triggers on the table copy inserts, updates and deletes alike. */
function onlineSchemaChangeCopies(state: CaptureState, tableName: string): boolean {
  const events = state.onlineSchemaChange.get(tableName);
  return events !== undefined && EVENTS.every((event) => events.has(event));
}

/** True when the only problems are triggers being moved by pt-online-schema-change: wait, don't repair. */
export function onlyMoving(problems: readonly CaptureProblem[]): boolean {
  return problems.length > 0 && problems.every((p) => p.kind === 'trigger-moving');
}

// A table that DDL is renaming or altering at this very moment (pt-online-schema-change's swap, the
// last step of an ALTER TABLE) may be left out of information_schema.TRIGGERS on MariaDB: its triggers
// look missing for a few milliseconds. Missing triggers are looked for once more after this pause
// before they count as drift.
const MISSING_TRIGGER_RECHECK_MS = 500;

/** The problems of one table, read again after a pause (see MISSING_TRIGGER_RECHECK_MS). */
export async function captureProblemsAgain(handle: SourceHandle, table: SourceTable | undefined, subject: CaptureSubject, changelogTable?: SourceTable): Promise<CaptureProblem[]> {
  await new Promise((resolve) => setTimeout(resolve, MISSING_TRIGGER_RECHECK_MS));
  return captureProblems(table, subject, await readCaptureState(handle, [subject]), changelogTable);
}

// ---------------------------------------------------------------------------------------------------
// Install: planned first (for print and for the refusal), then carried out
// ---------------------------------------------------------------------------------------------------

export interface CapturePlan {
  table: SourceTable;
  names: CaptureNames;
  /** Names taken by objects Tributary did not create: nothing may be done for this table. */
  collisions: CaptureProblem[];
  createChangelog: boolean;
  /** ALTER TABLE clauses bringing the changelog's key columns in line with the table's key. */
  keyFixes: string[];
  /** The changelog still carries the comment of a version before the marker. */
  legacyMarker: boolean;
  create: TriggerEvent[];
  replace: TriggerEvent[];
  /** The token of the changelog once the plan is carried out. */
  token: string;
  /** Capture had a hole (a trigger missing or changed): a new token makes every sync snapshot again. */
  renewToken: boolean;
}

export function planCapture(table: SourceTable, state: CaptureState, changelogTable: SourceTable | undefined): CapturePlan {
  const names = namesOf(table);
  const collisions = nameCollisions(table, state);
  const existing = state.changelogs.get(names.changelog);
  const plan: CapturePlan = { table, names, collisions, createChangelog: !existing, keyFixes: [], legacyMarker: existing?.marker?.legacy === true, create: [], replace: [], token: existing?.token ?? newChangelogToken(), renewToken: false };
  if (collisions.length > 0) return plan;
  if (existing) {
    plan.keyFixes = keyColumns(table).flatMap((column, index) =>
      [oldKeyColumn(index + 1), newKeyColumn(index + 1)]
        .filter((logName) => {
          const logColumn = changelogTable?.columns.find((c) => c.name === logName);
          return !logColumn || columnTypeDefinition(logColumn) !== columnTypeDefinition(column);
        })
        .map((logName) => {
          const exists = changelogTable?.columns.some((c) => c.name === logName);
          return `${exists ? 'MODIFY' : 'ADD'} COLUMN ${quoteMysql(logName)} ${columnTypeDefinition(column)} NULL DEFAULT NULL`;
        }),
    );
  }
  const problems = new Map(captureProblems(table, table, state).map((p) => [p.object, p]));
  plan.replace = EVENTS.filter((e) => problems.get(names.triggers[e])?.kind === 'trigger-changed');
  plan.create = EVENTS.filter((e) => problems.get(names.triggers[e])?.kind === 'trigger-missing');
  // A trigger that was missing or different let changes slip past the existing changelog: a new token
  // tells every sync that the changelog no longer tells the whole story, and the table is snapshotted.
  if (existing && (plan.create.length > 0 || plan.replace.length > 0)) {
    plan.renewToken = true;
    plan.token = newChangelogToken();
  }
  return plan;
}

/** The comment change (new token, or the marker replacing a legacy comment) a plan ends with. */
function commentChange(plan: CapturePlan): string | null {
  if (plan.createChangelog || (!plan.renewToken && !plan.legacyMarker)) return null;
  return `ALTER TABLE ${quoteMysql(plan.names.changelog)} COMMENT = ${mysqlStringLiteral(changelogComment(plan.table.name, plan.token))}`;
}

/** The statements carrying out a plan, as a DBA would run them (triggers swapped under a write lock). */
export function planStatements(plan: CapturePlan): string[] {
  if (plan.collisions.length > 0) return [];
  const out: string[] = [];
  if (plan.createChangelog) out.push(changelogDdl(plan.table, plan.token));
  if (plan.keyFixes.length > 0) out.push(`ALTER TABLE ${quoteMysql(plan.names.changelog)} ${plan.keyFixes.join(', ')}`);
  if (plan.replace.length > 0) {
    out.push(`LOCK TABLES ${quoteMysql(plan.table.name)} WRITE, ${quoteMysql(plan.names.changelog)} WRITE`);
    for (const event of plan.replace) out.push(dropTriggerDdl(plan.names.triggers[event]), triggerDdl(plan.table, event));
    out.push('UNLOCK TABLES');
  }
  for (const event of plan.create) out.push(triggerDdl(plan.table, event));
  const comment = commentChange(plan);
  if (comment) out.push(comment);
  return out;
}

export interface InstallOutcome {
  table: string;
  created: string[];
  replaced: string[];
  unchanged: string[];
}

/**
 * Carries out a plan made from a fresh read. A changed trigger is swapped while the table is
 * write-locked, so no write can happen between the DROP and the CREATE and slip past capture.
 */
export async function executeCapturePlan(handle: SourceHandle, plan: CapturePlan): Promise<InstallOutcome> {
  const { names, table } = plan;
  if (plan.collisions.length > 0) throw new TributaryError('NAME_TAKEN', plan.collisions.map((c) => c.message).join('; '));
  const outcome: InstallOutcome = { table: table.name, created: [], replaced: [], unchanged: [] };
  if (plan.createChangelog) {
    await sourceExecute(handle, `creating ${names.changelog}`, changelogDdl(table, plan.token));
    outcome.created.push(names.changelog);
  } else if (plan.keyFixes.length > 0 || plan.legacyMarker) {
    if (plan.keyFixes.length > 0) await sourceExecute(handle, `upgrading ${names.changelog}`, `ALTER TABLE ${quoteMysql(names.changelog)} ${plan.keyFixes.join(', ')}`);
    outcome.replaced.push(names.changelog);
  } else {
    outcome.unchanged.push(names.changelog);
  }
  for (const event of EVENTS) if (!plan.replace.includes(event) && !plan.create.includes(event)) outcome.unchanged.push(names.triggers[event]);
  if (plan.replace.length > 0) {
    const connection = await handle.pool.getConnection();
    try {
      await connection.query(`LOCK TABLES ${quoteMysql(table.name)} WRITE, ${quoteMysql(names.changelog)} WRITE`);
      try {
        for (const event of plan.replace) {
          await connection.query(dropTriggerDdl(names.triggers[event]));
          await connection.query(triggerDdl(table, event));
          outcome.replaced.push(names.triggers[event]);
        }
      } finally {
        await connection.query('UNLOCK TABLES');
      }
    } catch (error) {
      throw mapMysqlError(error, { where: handle.where, doing: `replacing triggers on ${table.name}` });
    } finally {
      connection.release();
    }
  }
  for (const event of plan.create) {
    await sourceExecute(handle, `creating trigger ${names.triggers[event]}`, triggerDdl(table, event));
    outcome.created.push(names.triggers[event]);
  }
  const comment = commentChange(plan);
  if (comment) await sourceExecute(handle, `renewing the marker of ${names.changelog}`, comment);
  return outcome;
}

/** Plans capture of one table from what is installed now. */
export async function readCapturePlan(handle: SourceHandle, table: SourceTable): Promise<CapturePlan> {
  const state = await readCaptureState(handle, [table]);
  const changelog = namesOf(table).changelog;
  const logTable = state.changelogs.has(changelog) ? (await introspectTables(handle, [changelog])).get(changelog) : undefined;
  return planCapture(table, state, logTable);
}

/** Installs or upgrades capture for one table; refuses (NAME_TAKEN) when a name is taken. */
export async function installCapture(handle: SourceHandle, table: SourceTable): Promise<InstallOutcome> {
  return executeCapturePlan(handle, await readCapturePlan(handle, table));
}

// ---------------------------------------------------------------------------------------------------
// Inventory and removal: only what carries the marker
// ---------------------------------------------------------------------------------------------------

export interface CaptureInventoryEntry {
  changelog: string;
  marker: ChangelogMarker;
  /** Triggers writing into this changelog. */
  triggers: InstalledTrigger[];
}

/** Every Tributary changelog in the source database (by its marker), with the triggers feeding it. */
export async function readCaptureInventory(handle: SourceHandle): Promise<CaptureInventoryEntry[]> {
  const rows = await sourceQuery<RowDataPacket>(handle, 'listing installed capture', sqlFile('mysql/capture_inventory.sql'));
  const entries = new Map<string, CaptureInventoryEntry>();
  for (const row of rows) {
    if (row.kind !== 'table') continue;
    const marker = readChangelogMarker(row.a);
    if (marker) entries.set(String(row.name), { changelog: String(row.name), marker, triggers: [] });
  }
  for (const row of rows) {
    if (row.kind !== 'trigger') continue;
    if (row.d === null) throw hiddenDefinition(handle, String(row.name));
    const entry = entries.get(triggerTarget(String(row.d)) ?? '');
    entry?.triggers.push({ name: String(row.name), event: row.a, timing: row.b, table: row.c, body: row.d });
  }
  return [...entries.values()].sort((a, b) => (a.marker.table < b.marker.table ? -1 : a.marker.table > b.marker.table ? 1 : 0));
}

export interface RemovalPlan {
  table: string;
  /** Statements dropping Tributary's triggers first, then its changelog. */
  statements: string[];
  /** The objects those statements drop. */
  dropped: string[];
  /** Changelogs dropped. */
  changelogs: string[];
  /** Objects under capture names that are not Tributary's: left alone. */
  leftAlone: string[];
}

/**
 * What removing capture of a configured table drops: the triggers under its names that write into its
 * changelog, and the changelog if it carries the marker of this table. Anything else is left alone.
 */
export function planRemoval(subject: CaptureSubject, state: CaptureState): RemovalPlan {
  const names = namesOf(subject);
  const plan: RemovalPlan = { table: subject.name, statements: [], dropped: [], changelogs: [], leftAlone: [] };
  const changelog = state.changelogs.get(names.changelog);
  const changelogOurs = !changelog || changelog.marker?.table === subject.name;
  for (const event of EVENTS) {
    const installed = state.triggers.get(names.triggers[event]);
    if (!installed) continue;
    if (changelogOurs && triggerTarget(installed.body) === names.changelog) {
      plan.statements.push(dropTriggerDdl(installed.name));
      plan.dropped.push(installed.name);
    } else {
      plan.leftAlone.push(installed.name);
    }
  }
  if (changelog?.marker?.table === subject.name) {
    plan.statements.push(dropChangelogDdl(names.changelog));
    plan.dropped.push(names.changelog);
    plan.changelogs.push(names.changelog);
  } else if (changelog) {
    plan.leftAlone.push(names.changelog);
  }
  return plan;
}

/** What removing capture of a table found by its marker (say, one no longer configured) drops. */
export function planRemovalOf(entry: CaptureInventoryEntry): RemovalPlan {
  return {
    table: entry.marker.table,
    statements: [...entry.triggers.map((t) => dropTriggerDdl(t.name)), dropChangelogDdl(entry.changelog)],
    dropped: [...entry.triggers.map((t) => t.name), entry.changelog],
    changelogs: [entry.changelog],
    leftAlone: [],
  };
}

export async function executeRemoval(handle: SourceHandle, plan: RemovalPlan): Promise<void> {
  for (const statement of plan.statements) await sourceExecute(handle, `removing capture of ${plan.table}`, statement);
}
