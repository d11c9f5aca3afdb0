/** `triggers print --grants`: the least privileges the DBA and the sync user need (README, "For DBAs"). */
import type { TributaryConfig } from '../config';
import { namesOf } from '../mysql/capture';
import { mysqlStringLiteral, quoteMysql, quotePg } from '../ident';

/**
 * What the installing account needs on a source database: SELECT (reading the tables' shapes, and
 * LOCK TABLES needs it), CREATE and ALTER (changelog tables, upgrades), DROP (uninstall), TRIGGER, and
 * LOCK TABLES (a changed trigger is swapped under a write lock). No INDEX: nothing it creates has a
 * secondary index. INSERT because a trigger runs with
 * its definer's privileges: without INSERT on the changelog, every write of the application would
 * fail. The README's table says the same.
 */
export const DBA_PRIVILEGES = 'SELECT, INSERT, CREATE, DROP, ALTER, TRIGGER, LOCK TABLES';

/** With binary logging on, what lets a user without SUPER create triggers, per server kind. */
export const BINARY_LOGGING_NOTE = [
  '-- With binary logging on (the default of MySQL 8, and on RDS and Aurora), creating triggers also',
  '-- needs SUPER, or the server setting log_bin_trust_function_creators = 1:',
  '--   MySQL 8:       SET PERSIST log_bin_trust_function_creators = 1;  (or GRANT SUPER, deprecated there)',
  '--   MariaDB:       SET GLOBAL log_bin_trust_function_creators = 1;   (and in my.cnf, to outlive a restart)',
  '--   RDS / Aurora:  set log_bin_trust_function_creators = 1 in the DB parameter group (Aurora: the DB',
  '--                  cluster parameter group); SUPER cannot be granted there',
];

export function grantStatements(config: TributaryConfig, sourceId?: string): string {
  const out: string[] = [];
  // PROCESS is global to a server: one grant per (server, user), however many databases it holds.
  const processGranted = new Set<string>();
  for (const source of config.sources.filter((s) => !sourceId || s.id === sourceId)) {
    const db = quoteMysql(source.endpoint.database);
    const user = `${mysqlStringLiteral(source.endpoint.user || 'tributary')}@'%'`;
    const registry = quoteMysql(config.consumers.table);
    out.push(
      `-- Source ${source.id} (${source.endpoint.display})`,
      '-- The DBA account that installs capture (triggers install) needs, on this database (INSERT because',
      "-- triggers run with their definer's privileges: without it every write to a captured table fails;",
      '-- the account must not be dropped while capture is installed):',
      `GRANT ${DBA_PRIVILEGES} ON ${db}.* TO 'tributary_dba'@'%';`,
      '-- and, to clean up consumer registrations (triggers uninstall, triggers forget-consumer):',
      `GRANT INSERT, UPDATE, DELETE ON ${db}.${registry} TO 'tributary_dba'@'%';`,
      ...BINARY_LOGGING_NOTE,
      `-- The sync user (${source.endpoint.user || 'tributary'}) needs only:`,
    );
    for (const table of config.tables) {
      // TRIGGER on the source table only lets the sync user see the installed triggers in
      // information_schema.TRIGGERS, so that it can refuse a table whose capture was altered.
      out.push(`GRANT SELECT, TRIGGER ON ${db}.${quoteMysql(table.name)} TO ${user};`);
      out.push(`GRANT SELECT, DELETE ON ${db}.${quoteMysql(namesOf(table).changelog)} TO ${user};`);
    }
    // The consumer registry: each target records there what it has applied, so several targets can
    // read this source without pruning each other's changelog rows.
    out.push(`GRANT SELECT, INSERT, UPDATE ON ${db}.${registry} TO ${user};`);
    const server = `${source.endpoint.host}:${source.endpoint.port} ${user}`;
    if (!processGranted.has(server)) {
      processGranted.add(server);
      out.push(`-- PROCESS (global, once per server) lets it read information_schema.INNODB_TRX, to tell a rolled-back change id from a late one:`, `GRANT PROCESS ON *.* TO ${user};`);
    }
    out.push('');
  }
  const target = config.target.endpoint;
  const pgUser = quotePg(target.user || 'tributary');
  out.push(
    `-- Target (${target.display}): the sync user creates the tributary schema, the target tables and temporary staging tables`,
    `GRANT CREATE, TEMPORARY ON DATABASE ${quotePg(target.database)} TO ${pgUser};`,
    `GRANT USAGE, CREATE ON SCHEMA ${quotePg(config.target.schema)} TO ${pgUser};`,
    '-- Target tables created beforehand by someone else must be owned by, or writable for, the sync user.',
    '-- A monitoring role that only runs `tributary status` needs, once the first sync created the schema:',
    `--   GRANT CONNECT ON DATABASE ${quotePg(target.database)} TO monitoring; GRANT USAGE ON SCHEMA tributary TO monitoring; GRANT SELECT ON ALL TABLES IN SCHEMA tributary TO monitoring;`,
  );
  return out.join('\n') + '\n';
}
