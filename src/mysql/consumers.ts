/**
 * The consumer registry in a source database: one row per (consumer, changelog) saying up to which
 * change id that consumer (one target warehouse) has applied, and from which id on it still needs
 * the changelog's rows. A changelog is pruned only below the lowest live consumer's need, so several
 * targets can read one source without pruning each other's rows.
 *
 * The table carries Tributary's marker in its comment like the changelogs do: a table under the same
 * name without it is someone else's and is never written to.
 */
import type { RowDataPacket } from 'mysql2/promise';
import { TributaryError } from '../errors';
import { mysqlStringLiteral, quoteMysql } from '../ident';
import { type SourceHandle, sourceExecute, sourceExecuteQualified, sourceQuery } from './connection';

const CONSUMERS_MARKER = 'tributary:consumers:v1';

/** Exactly the DDL of the registry. A plain CREATE TABLE: run by hand where the name is taken, it fails. */
export function consumersDdl(table: string, ifNotExists = false): string {
  const comment = `${CONSUMERS_MARKER}; targets reading the changelogs of this database; changelogs are pruned below the lowest live keep_from`;
  return [
    `CREATE TABLE ${ifNotExists ? 'IF NOT EXISTS ' : ''}${quoteMysql(table)} (`,
    '  `consumer` VARCHAR(191) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,',
    '  `changelog` VARCHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,',
    '  `source_table` VARCHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,',
    "  `watermark` BIGINT UNSIGNED NOT NULL DEFAULT 0 COMMENT 'changes up to this id are applied',",
    "  `keep_from` BIGINT UNSIGNED NOT NULL DEFAULT 0 COMMENT 'rows from this id on are still needed',",
    '  `retention_seconds` INT UNSIGNED NOT NULL DEFAULT 0,',
    '  `registered_at` TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),',
    '  `last_seen` TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),',
    '  `dropped_at` TIMESTAMP(6) NULL DEFAULT NULL,',
    '  `dropped_why` VARCHAR(255) CHARACTER SET utf8mb4 NULL DEFAULT NULL,',
    '  PRIMARY KEY (`consumer`, `changelog`)',
    `) ENGINE=InnoDB COMMENT=${mysqlStringLiteral(comment)}`,
  ].join('\n');
}

export type RegistryState = 'absent' | 'ours' | 'taken';

/** Whether the registry table exists, and whether it is Tributary's (by its marker). */
export async function readRegistryState(handle: SourceHandle, table: string): Promise<RegistryState> {
  const rows = await sourceQuery<RowDataPacket>(
    handle,
    'looking for the consumer registry',
    "SELECT TABLE_COMMENT AS comment FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? AND TABLE_TYPE = 'BASE TABLE'",
    [table],
  );
  return registryStateOf(rows.length === 0 ? null : String(rows[0]!.comment));
}

/** The registry's state from its table comment (null: no such table), as read by readRegistryState or the capture check. */
export function registryStateOf(comment: string | null): RegistryState {
  if (comment === null) return 'absent';
  return comment.startsWith(CONSUMERS_MARKER) ? 'ours' : 'taken';
}

export function registryTaken(handle: SourceHandle, table: string): TributaryError {
  return new TributaryError(
    'NAME_TAKEN',
    `${handle.where}: table ${table} exists but was not created by Tributary (its comment carries no Tributary marker), so it cannot be the consumer registry; Tributary leaves it alone: set \`consumers: { table: <a free name> }\` in the configuration, or rename that table`,
  );
}

/**
 * Creates the registry when it is absent, then checks that the table under its name is Tributary's
 * (IF NOT EXISTS keeps two processes creating it at once from failing; the check keeps a user's table
 * under that name from being used).
 */
export async function ensureRegistry(handle: SourceHandle, table: string): Promise<void> {
  const state = await readRegistryState(handle, table);
  if (state === 'ours') return;
  if (state === 'absent') await sourceExecute(handle, `creating ${table}`, consumersDdl(table, true));
  // Read again after creating: another process (or a user) may have created a table under the name first.
  if (state === 'taken' || (await readRegistryState(handle, table)) !== 'ours') throw registryTaken(handle, table);
}

/**
 * A registry created by a DBA may be readable but not writable for the sync user. MySQL checks
 * privileges when it prepares a statement, so these writes that match no row fail with the same
 * "command denied" error as a real write would, before the first pass depends on one.
 */
export async function assertRegistryWritable(handle: SourceHandle, table: string): Promise<void> {
  const name = quoteMysql(table);
  await sourceExecute(handle, `checking that ${table} is writable`, `UPDATE ${name} SET \`last_seen\` = \`last_seen\` WHERE 1 = 0`);
  await sourceExecute(handle, `checking that ${table} is writable`, `INSERT INTO ${name} SELECT * FROM ${name} WHERE 1 = 0`);
}

export interface Registration {
  consumer: string;
  changelog: string;
  sourceTable: string;
}

/**
 * Marks the consumer seen for one changelog and lowers what it keeps to at most keepAtMost. Returns
 * 'registered' for a consumer new to this changelog, 'dropped' when others stopped holding rows for
 * it (then nothing is changed), else 'seen'. The dropped check and the heartbeat are one statement,
 * so another consumer cannot drop this one between them.
 */
export async function enterRegistry(handle: SourceHandle, table: string, who: Registration, keepAtMost: number, retentionSeconds: number): Promise<'registered' | 'seen' | 'dropped'> {
  const t = quoteMysql(table);
  const seen = await sourceExecute(
    handle,
    `registering in ${table}`,
    `UPDATE ${t} SET \`last_seen\` = NOW(6), \`keep_from\` = LEAST(\`keep_from\`, ?), \`retention_seconds\` = ? WHERE \`consumer\` = ? AND \`changelog\` = ? AND \`dropped_at\` IS NULL`,
    [keepAtMost, retentionSeconds, who.consumer, who.changelog],
  );
  if (seen > 0) return 'seen';
  // Registered holding every row (keep_from 0) until its first pass says what it has applied.
  const inserted = await sourceExecute(
    handle,
    `registering in ${table}`,
    `INSERT IGNORE INTO ${t} (\`consumer\`, \`changelog\`, \`source_table\`, \`watermark\`, \`keep_from\`, \`retention_seconds\`) VALUES (?, ?, ?, ?, 0, ?)`,
    [who.consumer, who.changelog, who.sourceTable, keepAtMost, retentionSeconds],
  );
  return inserted > 0 ? 'registered' : 'dropped';
}

/** After a consumer dropped by others has started over (fresh snapshot): holding every row again. */
export async function rejoinRegistry(handle: SourceHandle, table: string, who: Registration): Promise<void> {
  await sourceExecute(
    handle,
    `registering again in ${table}`,
    `UPDATE ${quoteMysql(table)} SET \`dropped_at\` = NULL, \`dropped_why\` = NULL, \`watermark\` = 0, \`keep_from\` = 0, \`registered_at\` = NOW(6), \`last_seen\` = NOW(6) WHERE \`consumer\` = ? AND \`changelog\` = ?`,
    [who.consumer, who.changelog],
  );
}

/** Publishes what the consumer has applied; false when it was dropped meanwhile. */
export async function publishProgress(handle: SourceHandle, table: string, who: Registration, watermark: number, keepFrom: number): Promise<boolean> {
  const changed = await sourceExecute(
    handle,
    `recording progress in ${table}`,
    `UPDATE ${quoteMysql(table)} SET \`watermark\` = ?, \`keep_from\` = ?, \`last_seen\` = NOW(6) WHERE \`consumer\` = ? AND \`changelog\` = ? AND \`dropped_at\` IS NULL`,
    [watermark, keepFrom, who.consumer, who.changelog],
  );
  return changed > 0;
}

/** Marks the consumer seen for the given changelogs (idle units do not pass through enterRegistry). */
export async function heartbeat(handle: SourceHandle, table: string, consumer: string, changelogs: readonly string[]): Promise<void> {
  if (changelogs.length === 0) return;
  // Named with its database: sent on any connection to the server, without a `USE` per source.
  await sourceExecuteQualified(handle, `recording a heartbeat in ${table}`, `UPDATE ${quoteMysql(handle.database)}.${quoteMysql(table)} SET \`last_seen\` = NOW(6) WHERE \`consumer\` = ? AND \`changelog\` IN (?) AND \`dropped_at\` IS NULL`, [consumer, [...changelogs]]);
}

export interface OtherConsumers {
  /** How many other live consumers read the changelog. */
  count: number;
  /** The lowest id any of them still needs; Infinity when none. */
  floor: number;
  /** The longest retention any of them asks for. */
  retentionSeconds: number;
}

/** The other consumers of a changelog that still hold rows back (stale ones too, until dropped). */
export async function otherConsumers(handle: SourceHandle, table: string, who: Registration): Promise<OtherConsumers> {
  const rows = await sourceQuery<RowDataPacket>(
    handle,
    `reading ${table}`,
    `SELECT COUNT(*) AS n, MIN(\`keep_from\`) AS floor, MAX(\`retention_seconds\`) AS retention FROM ${quoteMysql(table)} WHERE \`changelog\` = ? AND \`consumer\` <> ? AND \`dropped_at\` IS NULL`,
    [who.changelog, who.consumer],
  );
  const row = rows[0]!;
  const count = Number(row.n);
  return { count, floor: count === 0 ? Infinity : Number(row.floor), retentionSeconds: count === 0 ? 0 : Number(row.retention) };
}

/**
 * Drops the other consumers of a changelog unseen for longer than staleAfterSeconds: they stop holding
 * rows back and will snapshot again if they return. The staleness test is in the UPDATE itself, so a
 * consumer whose heartbeat lands first is not dropped. Returns the names dropped.
 */
export async function dropStale(handle: SourceHandle, table: string, who: Registration, staleAfterSeconds: number): Promise<string[]> {
  const t = quoteMysql(table);
  const condition = `\`changelog\` = ? AND \`consumer\` <> ? AND \`dropped_at\` IS NULL AND \`last_seen\` < NOW(6) - INTERVAL ? SECOND`;
  const params = [who.changelog, who.consumer, staleAfterSeconds];
  const stale = await sourceQuery<RowDataPacket>(handle, `reading ${table}`, `SELECT \`consumer\` FROM ${t} WHERE ${condition}`, params);
  if (stale.length === 0) return [];
  await sourceExecute(handle, `dropping stale consumers in ${table}`, `UPDATE ${t} SET \`dropped_at\` = NOW(6), \`dropped_why\` = ? WHERE ${condition}`, [
    `unseen for more than ${staleAfterSeconds} s`,
    ...params,
  ]);
  return stale.map((r) => String(r.consumer));
}

/** `triggers forget-consumer`: the consumer stops holding rows back everywhere in this source. */
export async function forgetConsumer(handle: SourceHandle, table: string, consumer: string): Promise<number> {
  return sourceExecute(handle, `forgetting ${consumer} in ${table}`, `UPDATE ${quoteMysql(table)} SET \`dropped_at\` = NOW(6), \`dropped_why\` = 'forgotten by triggers forget-consumer' WHERE \`consumer\` = ? AND \`dropped_at\` IS NULL`, [consumer]);
}

/** Removes every registration for a changelog that is being dropped. */
export async function deleteRegistrations(handle: SourceHandle, table: string, changelog: string): Promise<void> {
  await sourceExecute(handle, `cleaning ${table}`, `DELETE FROM ${quoteMysql(table)} WHERE \`changelog\` = ?`, [changelog]);
}

export interface ConsumerRow {
  consumer: string;
  changelog: string;
  sourceTable: string;
  watermark: number;
  keepFrom: number;
  lastSeen: string;
  secondsSinceSeen: number;
  state: 'live' | 'stale' | 'dropped';
  droppedWhy: string | null;
}

/** Every registration, with its state by MySQL's clock. */
export async function listConsumers(handle: SourceHandle, table: string, staleAfterSeconds: number): Promise<ConsumerRow[]> {
  const rows = await sourceQuery<RowDataPacket>(
    handle,
    `reading ${table}`,
    `SELECT \`consumer\`, \`changelog\`, \`source_table\`, CAST(\`watermark\` AS CHAR) AS watermark, CAST(\`keep_from\` AS CHAR) AS keep_from,
            CAST(\`last_seen\` AS CHAR) AS last_seen, TIMESTAMPDIFF(SECOND, \`last_seen\`, NOW(6)) AS ago, \`dropped_at\` IS NOT NULL AS dropped, \`dropped_why\`
     FROM ${quoteMysql(table)} ORDER BY \`changelog\`, \`consumer\``,
  );
  return rows.map((r) => ({
    consumer: String(r.consumer),
    changelog: String(r.changelog),
    sourceTable: String(r.source_table),
    watermark: Number(r.watermark),
    keepFrom: Number(r.keep_from),
    lastSeen: String(r.last_seen),
    secondsSinceSeen: Number(r.ago),
    state: Number(r.dropped) ? 'dropped' : Number(r.ago) > staleAfterSeconds ? 'stale' : 'live',
    droppedWhy: r.dropped_why === null ? null : String(r.dropped_why),
  }));
}
