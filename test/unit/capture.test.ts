import type { SourceColumn, SourceTable } from '../../src/model';
import {
  captureNames,
  captureProblems,
  changelogDdl,
  columnTypeDefinition,
  changelogComment,
  installScript,
  nameCollisions,
  planCapture,
  planRemoval,
  planStatements,
  readChangelogMarker,
  onlyMoving,
  tokenFromComment,
  triggerBody,
  triggerDdl,
  triggerTarget,
  type CaptureState,
  type InstalledTrigger,
  type TriggerEvent,
} from '../../src/mysql/capture';

// ---------------------------------------------------------------- fixtures

function column(name: string, columnType: string, ordinal: number, extra: Partial<SourceColumn> = {}): SourceColumn {
  const dataType = /^\w+/.exec(columnType)![0];
  const isString = /char|text|enum|set/.test(dataType);
  return {
    name,
    ordinal,
    dataType,
    columnType,
    nullable: false,
    unsigned: /unsigned/.test(columnType),
    charset: isString ? 'utf8mb4' : null,
    collation: isString ? 'utf8mb4_0900_ai_ci' : null,
    charMaxLength: null,
    numericPrecision: null,
    numericScale: null,
    datetimePrecision: null,
    isJson: false,
    ...extra,
  };
}

function table(name: string, columns: SourceColumn[], key: string[]): SourceTable {
  return { database: 'shop', name, columns, key };
}

const orders = table('orders', [column('id', 'int(11)', 1), column('total', 'decimal(10,2)', 2)], ['id']);

/** Composite key declared in a different order than the columns: (b, a). */
const pairs = table('pairs', [column('a', 'int(11)', 1), column('b', 'varchar(20)', 2), column('v', 'text', 3)], ['b', 'a']);

const EVENTS: TriggerEvent[] = ['INSERT', 'UPDATE', 'DELETE'];

/** What readCaptureState would return for a table whose capture is installed exactly as expected. */
function installedState(t: SourceTable, tweak: (trigger: InstalledTrigger) => InstalledTrigger | null = (x) => x): CaptureState {
  const names = captureNames(t.name);
  const triggers = new Map<string, InstalledTrigger>();
  for (const event of EVENTS) {
    const trigger = tweak({ name: names.triggers[event], event, timing: 'AFTER', table: t.name, body: triggerBody(t, event) });
    if (trigger) triggers.set(trigger.name, trigger);
  }
  const marker = { token: '0123456789abcdef', table: t.name, legacy: false };
  return { triggers, onlineSchemaChange: new Map(), changelogs: new Map([[names.changelog, { token: marker.token, marker }]]), tables: new Set([t.name]), comments: new Map(), shape: '' };
}

/** The changelog table as introspection would describe it after changelogDdl. */
function changelogTableFor(t: SourceTable): SourceTable {
  const columns: SourceColumn[] = [column('change_id', 'bigint(20) unsigned', 1), column('op', 'char(1)', 2, { charset: 'ascii', collation: 'ascii_general_ci' })];
  t.key.forEach((name, i) => {
    const source = t.columns.find((c) => c.name === name)!;
    columns.push({ ...source, name: `old_k${i + 1}`, ordinal: columns.length + 1, nullable: true });
    columns.push({ ...source, name: `new_k${i + 1}`, ordinal: columns.length + 1, nullable: true });
  });
  return table(captureNames(t.name).changelog, columns, ['change_id']);
}

// ---------------------------------------------------------------- a small MySQL lexer

interface Lexed {
  identifiers: string[];
  strings: string[];
  /** The SQL with every quoted identifier replaced by `I` and every string literal by `S`. */
  bare: string;
}

function lexMysql(sql: string): Lexed {
  const identifiers: string[] = [];
  const strings: string[] = [];
  let bare = '';
  let i = 0;
  while (i < sql.length) {
    const ch = sql[i]!;
    if (ch === '`' || ch === "'") {
      let value = '';
      i++;
      for (;;) {
        if (i >= sql.length) throw new Error(`unterminated ${ch} in ${sql}`);
        const c = sql[i]!;
        if (ch === "'" && c === '\\') {
          value += sql[i + 1];
          i += 2;
        } else if (c === ch && sql[i + 1] === ch) {
          value += ch;
          i += 2;
        } else if (c === ch) {
          i++;
          break;
        } else {
          value += c;
          i++;
        }
      }
      if (ch === '`') {
        identifiers.push(value);
        bare += '`I`';
      } else {
        strings.push(value);
        bare += "'S'";
      }
    } else {
      bare += ch;
      i++;
    }
  }
  return { identifiers, strings, bare };
}

/** Splits "a, b, c" at commas outside quotes. */
function splitList(list: string): string[] {
  const parts: string[] = [];
  let current = '';
  let quote: string | null = null;
  for (let i = 0; i < list.length; i++) {
    const c = list[i]!;
    if (quote) {
      current += c;
      if (c === quote) {
        if (list[i + 1] === quote) current += list[++i];
        else quote = null;
      }
    } else if (c === '`' || c === "'") {
      quote = c;
      current += c;
    } else if (c === ',') {
      parts.push(current.trim());
      current = '';
    } else {
      current += c;
    }
  }
  parts.push(current.trim());
  return parts;
}

/** The changelog columns a trigger body writes, each with the expression it writes there. */
function writes(body: string): Record<string, string> {
  const match = /^INSERT INTO `(?:[^`]|``)*` \((.*)\) VALUES \((.*)\)$/s.exec(body);
  if (!match) throw new Error(`not an INSERT: ${body}`);
  const columns = splitList(match[1]!).map((c) => lexMysql(c).identifiers[0]!);
  const values = splitList(match[2]!);
  expect(values).toHaveLength(columns.length);
  return Object.fromEntries(columns.map((c, i) => [c, values[i]!]));
}

// ---------------------------------------------------------------- names

describe('captureNames', () => {
  test('derives changelog and trigger names from the table name', () => {
    expect(captureNames('orders')).toEqual({
      changelog: 'tributary_log_orders',
      triggers: { INSERT: 'tributary_orders_ins', UPDATE: 'tributary_orders_upd', DELETE: 'tributary_orders_del' },
    });
  });

  test('a 64-character table name gives names of at most 64 characters and bytes', () => {
    const names = captureNames('t'.repeat(64));
    for (const name of [names.changelog, ...Object.values(names.triggers)]) {
      expect(name.length).toBeLessThanOrEqual(64);
      expect(Buffer.byteLength(name, 'utf8')).toBeLessThanOrEqual(64);
    }
  });

  test('a 64-character multi-byte table name stays within 64 bytes', () => {
    const names = captureNames('ü'.repeat(64));
    for (const name of [names.changelog, ...Object.values(names.triggers)]) expect(Buffer.byteLength(name, 'utf8')).toBeLessThanOrEqual(64);
  });

  test('two long names sharing a prefix get distinct changelogs and triggers', () => {
    const a = captureNames('customer_order_line_item_' + 'x'.repeat(38) + 'a');
    const b = captureNames('customer_order_line_item_' + 'x'.repeat(38) + 'b');
    expect(a.changelog).not.toBe(b.changelog);
    for (const event of EVENTS) expect(a.triggers[event]).not.toBe(b.triggers[event]);
  });

  test('the three triggers of a long-named table are distinct', () => {
    const names = captureNames('n'.repeat(64));
    expect(new Set(Object.values(names.triggers)).size).toBe(3);
  });
});

// ---------------------------------------------------------------- hostile identifiers

describe('hostile identifiers', () => {
  const evilName = 'a`b; DROP TABLE x';
  const evil = table(evilName, [column('i`d; --', 'int(11)', 1), column('v "x"', 'text', 2)], ['i`d; --']);

  test('the changelog DDL keeps the table name inside quotes', () => {
    const ddl = changelogDdl(evil, '0123456789abcdef');
    const lexed = lexMysql(ddl);
    expect(lexed.bare).not.toContain('DROP');
    expect(lexed.identifiers).toContain(captureNames(evilName).changelog);
    expect(ddl).toContain('`tributary_log_a``b; DROP TABLE x`');
    // The name also appears in the table comment, as a string, never as SQL.
    expect(lexed.strings.some((s) => s.includes(evilName))).toBe(true);
  });

  test('every trigger DDL keeps table and key column names inside backticks', () => {
    for (const event of EVENTS) {
      const ddl = triggerDdl(evil, event);
      const lexed = lexMysql(ddl);
      expect(lexed.bare).not.toContain('DROP');
      expect(lexed.bare).not.toContain('--');
      expect(ddl).toContain(' ON `a``b; DROP TABLE x` ');
      expect(lexed.identifiers).toContain('i`d; --');
      expect(lexed.identifiers).toContain(captureNames(evilName).triggers[event]);
    }
  });

  test('every statement of the install and uninstall scripts lexes as one statement', () => {
    for (const sql of [...installScript(evil, '0123456789abcdef'), ...planRemoval(evil, installedState(evil)).statements]) {
      const bare = lexMysql(sql).bare;
      expect(bare).not.toContain(';');
      expect(bare).not.toContain('DROP TABLE x');
    }
  });

  test('unicode, spaces and double quotes survive as identifiers', () => {
    const t = table('Bestellungen übersicht "2024"', [column('schlüssel id', 'int(11)', 1)], ['schlüssel id']);
    const lexed = lexMysql(triggerDdl(t, 'UPDATE'));
    expect(lexed.identifiers).toEqual(expect.arrayContaining(['Bestellungen übersicht "2024"', 'schlüssel id', 'tributary_log_Bestellungen übersicht "2024"']));
  });
});

// ---------------------------------------------------------------- changelog DDL

describe('changelogDdl', () => {
  test('holds old and new columns for each key part, typed like the key column, in key order', () => {
    const lexed = lexMysql(changelogDdl(pairs, '0123456789abcdef'));
    const keyCols = lexed.identifiers.filter((n) => /^(old|new)_k\d$/.test(n));
    expect(keyCols).toEqual(['old_k1', 'new_k1', 'old_k2', 'new_k2']);
    const ddl = changelogDdl(pairs, '0123456789abcdef');
    expect(ddl).toContain('`old_k1` varchar(20) CHARACTER SET utf8mb4 COLLATE utf8mb4_0900_ai_ci NULL');
    expect(ddl).toContain('`new_k1` varchar(20) CHARACTER SET utf8mb4 COLLATE utf8mb4_0900_ai_ci NULL');
    expect(ddl).toContain('`old_k2` int(11) NULL');
    expect(ddl).toContain('`new_k2` int(11) NULL');
  });

  test('does not copy non-key columns', () => {
    expect(lexMysql(changelogDdl(pairs, '0123456789abcdef')).identifiers).not.toContain('v');
  });

  test('is a plain CREATE TABLE: run where the name is taken, it fails instead of reusing that table', () => {
    expect(changelogDdl(orders, '0123456789abcdef')).toMatch(/^CREATE TABLE `tributary_log_orders` \(/);
    expect(changelogDdl(orders, '0123456789abcdef')).not.toContain('IF NOT EXISTS');
  });

  test('the token written into the comment is the one tokenFromComment reads back', () => {
    const comment = lexMysql(changelogDdl(orders, 'feedfacecafebeef')).strings.at(-1)!;
    expect(tokenFromComment(comment)).toBe('feedfacecafebeef');
  });

  test('the token is read back even when the table name itself looks like a token', () => {
    const t = table('x token 0000000000000000', [column('id', 'int(11)', 1)], ['id']);
    const comment = lexMysql(changelogDdl(t, 'feedfacecafebeef')).strings.at(-1)!;
    expect(tokenFromComment(comment)).toBe('feedfacecafebeef');
  });
});

describe('tokenFromComment', () => {
  test('returns null for a missing or token-less comment', () => {
    expect(tokenFromComment(null)).toBeNull();
    expect(tokenFromComment(undefined)).toBeNull();
    expect(tokenFromComment('')).toBeNull();
    expect(tokenFromComment('some other table')).toBeNull();
    expect(tokenFromComment('token 0123')).toBeNull();
  });
});

// ---------------------------------------------------------------- triggers

describe('trigger bodies', () => {
  test('insert records the new key only', () => {
    expect(writes(triggerBody(orders, 'INSERT'))).toEqual({ op: "'I'", new_k1: 'NEW.`id`' });
  });

  test('delete records the old key only', () => {
    expect(writes(triggerBody(orders, 'DELETE'))).toEqual({ op: "'D'", old_k1: 'OLD.`id`' });
  });

  test('update records old and new key', () => {
    expect(writes(triggerBody(orders, 'UPDATE'))).toEqual({ op: "'U'", old_k1: 'OLD.`id`', new_k1: 'NEW.`id`' });
  });

  test('a composite key maps to old_k1/new_k1, old_k2/new_k2 in key order, not column order', () => {
    expect(writes(triggerBody(pairs, 'UPDATE'))).toEqual({ op: "'U'", old_k1: 'OLD.`b`', new_k1: 'NEW.`b`', old_k2: 'OLD.`a`', new_k2: 'NEW.`a`' });
    expect(writes(triggerBody(pairs, 'INSERT'))).toEqual({ op: "'I'", new_k1: 'NEW.`b`', new_k2: 'NEW.`a`' });
    expect(writes(triggerBody(pairs, 'DELETE'))).toEqual({ op: "'D'", old_k1: 'OLD.`b`', old_k2: 'OLD.`a`' });
  });

  test('the body writes into the table\'s own changelog', () => {
    expect(lexMysql(triggerBody(orders, 'INSERT')).identifiers[0]).toBe(captureNames('orders').changelog);
  });

  test('triggerDdl is an AFTER row trigger on the table running exactly triggerBody', () => {
    for (const event of EVENTS) {
      const prefix = `CREATE TRIGGER \`${captureNames('orders').triggers[event]}\` AFTER ${event} ON \`orders\` FOR EACH ROW `;
      expect(triggerDdl(orders, event)).toBe(prefix + triggerBody(orders, event));
    }
  });

  test('installScript creates the changelog before the triggers; removal drops triggers first', () => {
    const install = installScript(orders, '0123456789abcdef');
    expect(install).toHaveLength(4);
    expect(install[0]).toMatch(/^CREATE TABLE/);
    expect(install.slice(1).every((s) => s.startsWith('CREATE TRIGGER'))).toBe(true);
    const uninstall = planRemoval(orders, installedState(orders)).statements;
    expect(uninstall).toEqual([
      'DROP TRIGGER IF EXISTS `tributary_orders_ins`',
      'DROP TRIGGER IF EXISTS `tributary_orders_upd`',
      'DROP TRIGGER IF EXISTS `tributary_orders_del`',
      'DROP TABLE IF EXISTS `tributary_log_orders`',
    ]);
  });
});

// ---------------------------------------------------------------- captureProblems

describe('captureProblems', () => {
  test('no problems when everything is installed as expected', () => {
    expect(captureProblems(pairs, 'pairs', installedState(pairs), changelogTableFor(pairs))).toEqual([]);
  });

  test('a body that differs only in whitespace is still fine', () => {
    const state = installedState(orders, (t) => ({ ...t, body: '\n  ' + t.body.replace(/ /g, '\n\t  ') + '  \n' }));
    expect(captureProblems(orders, 'orders', state)).toEqual([]);
  });

  test('a body writing something else is trigger-changed, for that trigger only', () => {
    const state = installedState(orders, (t) => (t.event === 'UPDATE' ? { ...t, body: t.body.replace('OLD.`id`', 'NEW.`id`') } : t));
    const problems = captureProblems(orders, 'orders', state);
    expect(problems.map((p) => [p.kind, p.object])).toEqual([['trigger-changed', 'tributary_orders_upd']]);
  });

  test('a trigger with a different timing or on a different table is trigger-changed', () => {
    const before = installedState(orders, (t) => (t.event === 'INSERT' ? { ...t, timing: 'BEFORE' } : t));
    expect(captureProblems(orders, 'orders', before).map((p) => p.kind)).toEqual(['trigger-changed']);
    const elsewhere = installedState(orders, (t) => (t.event === 'DELETE' ? { ...t, table: 'orders_old' } : t));
    expect(captureProblems(orders, 'orders', elsewhere).map((p) => p.kind)).toEqual(['trigger-changed']);
  });

  test('a missing trigger is trigger-missing and names the trigger', () => {
    const state = installedState(orders, (t) => (t.event === 'DELETE' ? null : t));
    const problems = captureProblems(orders, 'orders', state);
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatchObject({ kind: 'trigger-missing', object: 'tributary_orders_del' });
    expect(problems[0]!.message).toContain('tributary_orders_del');
  });

  test('a table that does not exist is table-missing and nothing else', () => {
    const gone = { ...installedState(orders), tables: new Set<string>() };
    expect(captureProblems(orders, 'orders', gone)).toEqual([expect.objectContaining({ kind: 'table-missing', object: 'orders' })]);
    expect(captureProblems(undefined, 'orders', installedState(orders))).toEqual([expect.objectContaining({ kind: 'table-missing', object: 'orders' })]);
  });

  test('a missing changelog is changelog-missing', () => {
    const state = { ...installedState(orders), changelogs: new Map() };
    expect(captureProblems(orders, 'orders', state)).toEqual([expect.objectContaining({ kind: 'changelog-missing', object: 'tributary_log_orders' })]);
  });

  test('a changelog key column whose type differs from the source key is changelog-key-changed', () => {
    const widened = { ...orders, columns: [column('id', 'bigint(20)', 1), orders.columns[1]!] };
    const problems = captureProblems(widened, 'orders', installedState(widened), changelogTableFor(orders));
    expect(problems.map((p) => [p.kind, p.object])).toEqual([
      ['changelog-key-changed', 'tributary_log_orders'],
      ['changelog-key-changed', 'tributary_log_orders'],
    ]);
    expect(problems[0]!.message).toContain('bigint(20)');
  });

  test('a changed collation of a string key is changelog-key-changed', () => {
    const binaryCollation = { ...pairs, columns: pairs.columns.map((c) => (c.name === 'b' ? { ...c, collation: 'utf8mb4_bin' } : c)) };
    const kinds = captureProblems(binaryCollation, 'pairs', installedState(binaryCollation), changelogTableFor(pairs)).map((p) => p.kind);
    expect(kinds).toEqual(['changelog-key-changed', 'changelog-key-changed']);
  });

  test('a key that gained a column the changelog lacks is changelog-key-changed', () => {
    const wider = table('orders', [...orders.columns, column('region', 'int(11)', 3)], ['id', 'region']);
    const problems = captureProblems(wider, 'orders', installedState(wider), changelogTableFor(orders));
    expect(problems.filter((p) => p.kind === 'changelog-key-changed')).toHaveLength(2);
  });

  test('triggers of the old key definition are trigger-changed once the key changes', () => {
    const wider = table('orders', [...orders.columns, column('region', 'int(11)', 3)], ['id', 'region']);
    const kinds = captureProblems(wider, 'orders', installedState(orders)).map((p) => p.kind);
    expect(kinds).toEqual(['trigger-changed', 'trigger-changed', 'trigger-changed']);
  });
});

describe('captureProblems: pt-online-schema-change moving triggers', () => {
  const ptOsc = (state: CaptureState, events = ['INSERT', 'UPDATE', 'DELETE']): CaptureState => ({ ...state, onlineSchemaChange: new Map([['orders', new Set(events)]]) });
  const onShadow = (shadow: string) => (t: InstalledTrigger): InstalledTrigger => (t.event === 'DELETE' ? { ...t, table: shadow } : t);

  test("our unchanged trigger on pt-osc's shadow table while pt-osc's triggers copy into it: moving, not drift", () => {
    const problems = captureProblems(orders, 'orders', ptOsc(installedState(orders, onShadow('_orders_new'))));
    expect(problems.map((p) => [p.kind, p.object])).toEqual([['trigger-moving', 'tributary_orders_del']]);
    expect(onlyMoving(problems)).toBe(true);
    expect(onlyMoving(captureProblems(orders, 'orders', ptOsc(installedState(orders, onShadow('__orders_new')))))).toBe(true);
  });

  test("without pt-osc's triggers (a failed pt-osc cleaned up after itself) the same state is drift naming the real table", () => {
    const problems = captureProblems(orders, 'orders', installedState(orders, onShadow('_orders_new')));
    expect(problems.map((p) => p.kind)).toEqual(['trigger-changed']);
    expect(problems[0]!.message).toContain('is on _orders_new, not on orders');
    expect(onlyMoving(problems)).toBe(false);
  });

  test("pt-osc's triggers missing an event do not make it a move", () => {
    expect(onlyMoving(captureProblems(orders, 'orders', ptOsc(installedState(orders, onShadow('_orders_new')), ['INSERT', 'UPDATE'])))).toBe(false);
  });

  test('a changed body on the shadow table, another table, or a missing trigger stay drift', () => {
    const changed = ptOsc(installedState(orders, (t) => (t.event === 'DELETE' ? { ...t, table: '_orders_new', body: t.body.replace('OLD', 'NEW') } : t)));
    expect(captureProblems(orders, 'orders', changed).map((p) => p.kind)).toEqual(['trigger-changed']);
    expect(captureProblems(orders, 'orders', ptOsc(installedState(orders, onShadow('orders_new')))).map((p) => p.kind)).toEqual(['trigger-changed']);
    const moving = ptOsc(installedState(orders, (t) => (t.event === 'DELETE' ? { ...t, table: '_orders_new' } : t.event === 'INSERT' ? null : t)));
    expect(onlyMoving(captureProblems(orders, 'orders', moving))).toBe(false);
  });
});

describe('columnTypeDefinition', () => {
  test('numbers keep their column type as is', () => {
    expect(columnTypeDefinition(column('id', 'int(10) unsigned', 1))).toBe('int(10) unsigned');
  });

  test('strings carry their character set and collation', () => {
    expect(columnTypeDefinition(column('s', 'varchar(20)', 1, { charset: 'latin1', collation: 'latin1_swedish_ci' }))).toBe(
      'varchar(20) CHARACTER SET latin1 COLLATE latin1_swedish_ci',
    );
  });

  test('enums carry their character set and collation', () => {
    expect(columnTypeDefinition(column('e', "enum('a','b')", 1))).toBe("enum('a','b') CHARACTER SET utf8mb4 COLLATE utf8mb4_0900_ai_ci");
  });

  test('binary strings get no character set', () => {
    expect(columnTypeDefinition(column('b', 'varbinary(16)', 1, { charset: 'binary', collation: 'binary' }))).toBe('varbinary(16)');
  });
});

// ---------------------------------------------------------------- ownership

describe('ownership markers', () => {
  test('the changelog comment carries marker, token and table, and reads back exactly', () => {
    for (const name of ['orders', 'a"b\\c; table="x"', 'Bestellungen übersicht']) {
      const comment = changelogComment(name, 'feedfacecafebeef');
      expect(comment.startsWith('tributary:changelog:v1 token=feedfacecafebeef table=')).toBe(true);
      expect(readChangelogMarker(comment)).toEqual({ token: 'feedfacecafebeef', table: name, legacy: false });
    }
  });

  test('the exact comment of versions before the marker is recognised as ours (legacy)', () => {
    const old = 'tributary changelog token 0123456789abcdef; changes of orders; rows are deleted once applied, never truncate';
    expect(readChangelogMarker(old)).toEqual({ token: '0123456789abcdef', table: 'orders', legacy: true });
    const tricky = 'tributary changelog token 0123456789abcdef; changes of a; b; rows are deleted once applied, never truncate';
    expect(readChangelogMarker(tricky)?.table).toBe('a; b');
  });

  test('comments that only resemble the marker are not ours', () => {
    for (const comment of [
      '',
      'audit log of foo',
      'tributary changelog token 0123456789abcdef;',
      'tributary changelog token 0123456789abcdef; changes of foo',
      'tributary:changelog:v1 token=0123 table="foo"',
      'tributary:changelog:v1 token=0123456789abcdef table=foo',
      'see tributary:changelog:v1 token=0123456789abcdef table="foo"',
    ]) {
      expect(readChangelogMarker(comment)).toBeNull();
    }
  });

  test('triggerTarget reads the table an INSERT body writes into, quoted or not', () => {
    expect(triggerTarget(triggerBody(orders, 'INSERT'))).toBe('tributary_log_orders');
    expect(triggerTarget("INSERT INTO tributary_log_items (op, old_k1) VALUES ('U', OLD.id)")).toBe('tributary_log_items');
    expect(triggerTarget('insert into `a``b` (x) values (1)')).toBe('a`b');
    expect(triggerTarget('BEGIN INSERT INTO audit (x) VALUES (1); END')).toBeNull();
    expect(triggerTarget('SET @x = 1')).toBeNull();
  });
});

describe('taken names', () => {
  const userChangelog = (t: SourceTable): CaptureState => ({
    ...installedState(t, () => null),
    changelogs: new Map([[captureNames(t.name).changelog, { token: null, marker: null }]]),
  });

  test('a table under the changelog name without the marker is taken, naming it and the changelog setting', () => {
    const problems = captureProblems(orders, 'orders', userChangelog(orders));
    expect(problems).toEqual([expect.objectContaining({ kind: 'name-taken', object: 'tributary_log_orders' })]);
    expect(problems[0]!.message).toContain('changelog:');
    const plan = planCapture(orders, userChangelog(orders), undefined);
    expect(plan.collisions).toHaveLength(1);
    expect(planStatements(plan)).toEqual([]);
  });

  test('the changelog of another table is taken', () => {
    const state = installedState(orders);
    state.changelogs.set('tributary_log_orders', { token: 'feedfacecafebeef', marker: { token: 'feedfacecafebeef', table: 'other', legacy: false } });
    expect(nameCollisions('orders', state).map((p) => p.object)).toContain('tributary_log_orders');
  });

  test('a trigger under our name that does not write into our changelog is taken; a drifted one of ours is not', () => {
    const user = installedState(orders, (t) => (t.event === 'INSERT' ? { ...t, body: 'INSERT INTO audit (id) VALUES (NEW.id)' } : t));
    expect(nameCollisions('orders', user)).toEqual([expect.objectContaining({ kind: 'name-taken', object: 'tributary_orders_ins' })]);
    const drifted = installedState(orders, (t) => (t.event === 'UPDATE' ? { ...t, body: "INSERT INTO tributary_log_orders (op, old_k1, new_k1) VALUES ('U', OLD.id, OLD.id)" } : t));
    expect(nameCollisions('orders', drifted)).toEqual([]);
    expect(planCapture(orders, drifted, changelogTableFor(orders)).replace).toEqual(['UPDATE']);
  });

  test('removal drops only what is ours and lists the rest as left alone', () => {
    const state = userChangelog(orders);
    state.triggers.set('tributary_orders_ins', { name: 'tributary_orders_ins', event: 'INSERT', timing: 'AFTER', table: 'orders', body: triggerBody(orders, 'INSERT') });
    const plan = planRemoval(orders, state);
    expect(plan.statements).toEqual([]);
    expect(plan.leftAlone).toEqual(['tributary_orders_ins', 'tributary_log_orders']);
  });

  test('a configured changelog name moves the changelog and the triggers', () => {
    const named = { ...orders, changelog: 'my_log_orders' };
    expect(captureNames('orders', 'my_log_orders')).toEqual({
      changelog: 'my_log_orders',
      triggers: { INSERT: 'my_log_orders_ins', UPDATE: 'my_log_orders_upd', DELETE: 'my_log_orders_del' },
    });
    expect(triggerTarget(triggerBody(named, 'DELETE'))).toBe('my_log_orders');
    expect(changelogDdl(named, 'feedfacecafebeef')).toMatch(/^CREATE TABLE `my_log_orders`/);
  });

  test('an install over a legacy comment keeps the token and writes the marker', () => {
    const state = installedState(orders);
    state.changelogs.set('tributary_log_orders', { token: '0123456789abcdef', marker: { token: '0123456789abcdef', table: 'orders', legacy: true } });
    const statements = planStatements(planCapture(orders, state, changelogTableFor(orders)));
    expect(statements).toHaveLength(1);
    expect(statements[0]).toMatch(/^ALTER TABLE `tributary_log_orders` COMMENT = 'tributary:changelog:v1 token=0123456789abcdef table="orders"/);
  });
});
