/**
 * Capture: the changelog table and the three triggers that fill it, for one source table.
 *
 * The triggers record only the operation and the primary key (old and new for updates): the pipeline
 * reads the row's current state when it applies the change. That keeps the cost on the application's
 * writes close to nothing and makes snapshot and change paths read values the same way.
 */
import { randomBytes } from 'node:crypto';
import type { RowDataPacket } from 'mysql2/promise';
import { mapDriverError, TributaryError } from '../errors';
import { boundedName, mysqlStringLiteral, quoteMysql } from '../ident';
import type { SourceColumn, SourceTable } from '../model';
import { sqlFile } from '../sqlfiles';
import { type SourceHandle, sourceExecute, sourceQuery } from './connection';
import { introspectTables } from './introspect';

export interface CaptureNames {
  changelog: string;
  triggers: Record<TriggerEvent, string>;
}

export type TriggerEvent = 'INSERT' | 'UPDATE' | 'DELETE';
const EVENTS: TriggerEvent[] = ['INSERT', 'UPDATE', 'DELETE'];
const EVENT_SUFFIX: Record<TriggerEvent, string> = { INSERT: '_ins', UPDATE: '_upd', DELETE: '_del' };
const EVENT_OP: Record<TriggerEvent, string> = { INSERT: 'I', UPDATE: 'U', DELETE: 'D' };

export function captureNames(table: string): CaptureNames {
  const triggers = {} as Record<TriggerEvent, string>;
  for (const event of EVENTS) triggers[event] = boundedName('tributary_', table, EVENT_SUFFIX[event]);
  return { changelog: boundedName('tributary_log_', table), triggers };
}

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

// The token comes first in the comment, before the table name, so no table name can imitate it.
const TOKEN_PATTERN = /^tributary changelog token ([0-9a-f]{16});/;

/** The install token in a changelog's table comment: it changes when the changelog is recreated. */
export function tokenFromComment(comment: string | null | undefined): string | null {
  return TOKEN_PATTERN.exec(comment ?? '')?.[1] ?? null;
}

export function newChangelogToken(): string {
  return randomBytes(8).toString('hex');
}

function changelogComment(table: SourceTable, token: string): string {
  return `tributary changelog token ${token}; changes of ${table.name}; rows are deleted once applied, never truncate`;
}

export function changelogDdl(table: SourceTable, token: string): string {
  const names = captureNames(table.name);
  const keyDefs = keyColumns(table).flatMap((column, index) => [
    `  ${quoteMysql(oldKeyColumn(index + 1))} ${columnTypeDefinition(column)} NULL DEFAULT NULL`,
    `  ${quoteMysql(newKeyColumn(index + 1))} ${columnTypeDefinition(column)} NULL DEFAULT NULL`,
  ]);
  const comment = changelogComment(table, token);
  return [
    `CREATE TABLE IF NOT EXISTS ${quoteMysql(names.changelog)} (`,
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
  const names = captureNames(table.name);
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
  const name = captureNames(table.name).triggers[event];
  return `CREATE TRIGGER ${quoteMysql(name)} AFTER ${event} ON ${quoteMysql(table.name)} FOR EACH ROW ${triggerBody(table, event)}`;
}

export function dropTriggerDdl(table: string, event: TriggerEvent): string {
  return `DROP TRIGGER IF EXISTS ${quoteMysql(captureNames(table).triggers[event])}`;
}

export function dropChangelogDdl(table: string): string {
  return `DROP TABLE IF EXISTS ${quoteMysql(captureNames(table).changelog)}`;
}

/** Everything a DBA runs to install capture for one table, in order. */
export function installScript(table: SourceTable, token: string): string[] {
  return [changelogDdl(table, token), ...EVENTS.map((event) => triggerDdl(table, event))];
}

export function uninstallScript(table: string): string[] {
  return [...EVENTS.map((event) => dropTriggerDdl(table, event)), dropChangelogDdl(table)];
}

const normalise = (sql: string): string => sql.replace(/\s+/g, ' ').trim();

export interface InstalledTrigger {
  name: string;
  event: string;
  timing: string;
  table: string;
  body: string;
}

export interface CaptureState {
  /** Triggers in the source database whose names start with tributary_, by name. */
  triggers: Map<string, InstalledTrigger>;
  /** Changelog tables present, by name, with their install token. */
  changelogs: Map<string, { token: string | null }>;
  /** Source tables present, by name. */
  tables: Set<string>;
  /** Digest of the columns and indexes of the tables and their changelogs: changes with any ALTER TABLE. */
  shape: string;
}

/** Reads what is installed for the given source tables, in one query whatever their number. */
export async function readCaptureState(handle: SourceHandle, tableNames: readonly string[]): Promise<CaptureState> {
  const changelogNames = tableNames.map((t) => captureNames(t).changelog);
  const names = [...tableNames, ...changelogNames];
  const rows = await sourceQuery<RowDataPacket>(handle, 'checking capture', sqlFile('mysql/pass_check.sql'), [names, names, names]);
  const triggers = new Map<string, InstalledTrigger>();
  const changelogs = new Map<string, { token: string | null }>();
  const tables = new Set<string>();
  const changelogSet = new Set(changelogNames);
  const digests: string[] = [];
  for (const row of rows) {
    const name = String(row.name);
    if (row.kind === 'trigger') {
      if (row.d === null) {
        // MySQL and MariaDB hide trigger definitions from users without the TRIGGER privilege.
        throw new TributaryError(
          'SOURCE_QUERY_FAILED',
          `${handle.where}: the definition of trigger ${name} is hidden from this user; grant it TRIGGER on the synced tables (see \`tributary triggers print --grants\`) so that Tributary can check capture`,
        );
      }
      triggers.set(name, { name, event: row.a, timing: row.b, table: row.c, body: row.d });
    } else if (row.kind === 'table') {
      if (changelogSet.has(name)) changelogs.set(name, { token: tokenFromComment(row.a) });
      if (tableNames.includes(name)) tables.add(name);
    } else {
      digests.push(`${row.kind === 'indexes' ? 'indexes ' : ''}${name}:${row.a}`);
    }
  }
  return { triggers, changelogs, tables, shape: digests.sort().join(',') };
}

export interface CaptureProblem {
  kind: 'table-missing' | 'changelog-missing' | 'trigger-missing' | 'trigger-changed' | 'changelog-key-changed';
  /** The object concerned: a trigger or table name. */
  object: string;
  message: string;
}

/**
 * Compares what is installed with what is expected for one table. An empty list means capture is
 * complete: every insert, update and delete on the table reaches the changelog.
 */
export function captureProblems(table: SourceTable | undefined, tableName: string, state: CaptureState, changelogTable?: SourceTable): CaptureProblem[] {
  const names = captureNames(tableName);
  if (!table || !state.tables.has(tableName)) {
    return [{ kind: 'table-missing', object: tableName, message: `table ${tableName} does not exist in the source` }];
  }
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
    } else if (
      installed.event !== event ||
      installed.timing !== 'AFTER' ||
      installed.table !== tableName ||
      normalise(installed.body) !== normalise(triggerBody(table, event))
    ) {
      problems.push({ kind: 'trigger-changed', object: name, message: `trigger ${name} on ${tableName} differs from the expected definition` });
    }
  }
  return problems;
}

export interface InstallOutcome {
  table: string;
  created: string[];
  replaced: string[];
  unchanged: string[];
}

/**
 * Installs or upgrades capture for one table. A changed trigger is swapped while the table is
 * write-locked, so no write can happen between the DROP and the CREATE and slip past capture.
 */
export async function installCapture(handle: SourceHandle, table: SourceTable): Promise<InstallOutcome> {
  const names = captureNames(table.name);
  const outcome: InstallOutcome = { table: table.name, created: [], replaced: [], unchanged: [] };
  const state = await readCaptureState(handle, [table.name]);
  if (!state.changelogs.has(names.changelog)) {
    await sourceExecute(handle, `creating ${names.changelog}`, changelogDdl(table, newChangelogToken()));
    outcome.created.push(names.changelog);
  } else {
    const logTable = (await introspectTables(handle, [names.changelog])).get(names.changelog);
    const keyFixes = keyColumns(table).flatMap((column, index) =>
      [oldKeyColumn(index + 1), newKeyColumn(index + 1)]
        .filter((logName) => {
          const logColumn = logTable?.columns.find((c) => c.name === logName);
          return !logColumn || columnTypeDefinition(logColumn) !== columnTypeDefinition(column);
        })
        .map((logName) => {
          const exists = logTable?.columns.some((c) => c.name === logName);
          return `${exists ? 'MODIFY' : 'ADD'} COLUMN ${quoteMysql(logName)} ${columnTypeDefinition(column)} NULL DEFAULT NULL`;
        }),
    );
    if (keyFixes.length > 0) {
      await sourceExecute(handle, `upgrading ${names.changelog}`, `ALTER TABLE ${quoteMysql(names.changelog)} ${keyFixes.join(', ')}`);
      outcome.replaced.push(names.changelog);
    } else {
      outcome.unchanged.push(names.changelog);
    }
  }
  const problems = new Map(captureProblems(table, table.name, state).map((p) => [p.object, p]));
  const toReplace = EVENTS.filter((e) => problems.get(names.triggers[e])?.kind === 'trigger-changed');
  const toCreate = EVENTS.filter((e) => problems.get(names.triggers[e])?.kind === 'trigger-missing');
  for (const event of EVENTS) if (!toReplace.includes(event) && !toCreate.includes(event)) outcome.unchanged.push(names.triggers[event]);
  if (toReplace.length > 0) {
    const connection = await handle.pool.getConnection();
    try {
      await connection.query(`LOCK TABLES ${quoteMysql(table.name)} WRITE, ${quoteMysql(names.changelog)} WRITE`);
      try {
        for (const event of toReplace) {
          await connection.query(dropTriggerDdl(table.name, event));
          await connection.query(triggerDdl(table, event));
          outcome.replaced.push(names.triggers[event]);
        }
      } finally {
        await connection.query('UNLOCK TABLES');
      }
    } catch (error) {
      throw mapDriverError(error, { side: 'source', where: handle.where, doing: `replacing triggers on ${table.name}` });
    } finally {
      connection.release();
    }
  }
  for (const event of toCreate) {
    await sourceExecute(handle, `creating trigger ${names.triggers[event]}`, triggerDdl(table, event));
    outcome.created.push(names.triggers[event]);
  }
  // A trigger that was missing or different let changes slip past the existing changelog: a new token
  // tells every sync that the changelog no longer tells the whole story, and the table is snapshotted.
  if (state.changelogs.has(names.changelog) && (toCreate.length > 0 || toReplace.length > 0)) {
    const comment = changelogComment(table, newChangelogToken());
    await sourceExecute(handle, `renewing the token of ${names.changelog}`, `ALTER TABLE ${quoteMysql(names.changelog)} COMMENT = ${mysqlStringLiteral(comment)}`);
  }
  return outcome;
}

export async function uninstallCapture(handle: SourceHandle, tableName: string): Promise<void> {
  for (const statement of uninstallScript(tableName)) {
    await sourceExecute(handle, `removing capture of ${tableName}`, statement);
  }
}
