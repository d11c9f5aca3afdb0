/** `triggers print --grants`: the least privileges the DBA and the sync user need. */
import type { TributaryConfig } from '../config';
import { namesOf } from '../mysql/capture';
import { mysqlStringLiteral, quoteMysql, quotePg } from '../ident';

export function grantStatements(config: TributaryConfig, sourceId?: string): string {
  const out: string[] = [];
  for (const source of config.sources.filter((s) => !sourceId || s.id === sourceId)) {
    const db = quoteMysql(source.endpoint.database);
    const user = `${mysqlStringLiteral(source.endpoint.user || 'tributary')}@'%'`;
    const registry = quoteMysql(config.consumers.table);
    out.push(
      `-- Source ${source.id} (${source.endpoint.display})`,
      '-- The DBA account that installs capture (triggers install) needs, on this database (INSERT because',
      "-- triggers run with their definer's privileges: without it every write to a captured table fails):",
      `GRANT SELECT, INSERT, CREATE, DROP, ALTER, INDEX, TRIGGER, LOCK TABLES ON ${db}.* TO 'tributary_dba'@'%';`,
      '-- and, to clean up consumer registrations (triggers uninstall, triggers forget-consumer):',
      `GRANT INSERT, UPDATE, DELETE ON ${db}.${registry} TO 'tributary_dba'@'%';`,
      '-- With binary logging on, creating triggers also needs SUPER, or on the server:',
      '--   SET GLOBAL log_bin_trust_function_creators = 1;',
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
    out.push(`-- PROCESS lets it read information_schema.INNODB_TRX, to tell a rolled-back change id from a late one:`, `GRANT PROCESS ON *.* TO ${user};`, '');
  }
  const target = config.target.endpoint;
  const pgUser = quotePg(target.user || 'tributary');
  out.push(
    `-- Target (${target.display}): the sync user creates the tributary schema, the target tables and temporary staging tables`,
    `GRANT CREATE, TEMPORARY ON DATABASE ${quotePg(target.database)} TO ${pgUser};`,
    `GRANT USAGE, CREATE ON SCHEMA ${quotePg(config.target.schema)} TO ${pgUser};`,
    '-- Target tables created beforehand by someone else must be owned by, or writable for, the sync user.',
  );
  return out.join('\n') + '\n';
}
