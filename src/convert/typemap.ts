/**
 * MySQL/MariaDB column types → PostgreSQL column types, and MySQL values → fields of COPY text format.
 * Every mapping must hold every source value exactly; values PostgreSQL has no equivalent for are
 * reported, never bent into something else.
 */
import type { SourceColumn, SourceValue } from '../model';

export type EncodeResult = { ok: true; text: string } | { ok: false; reason: string };

/** Why a value has no PostgreSQL equivalent. Encoders return it instead of the field text. */
export class BadValue {
  constructor(readonly reason: string) {}
}

// The field text, or why there is none: a string per value and no wrapper object, because encoding
// runs for every value of every row and the garbage of one object per value showed in profiles.
type Encoder = (column: SourceColumn, value: string | Buffer) => string | BadValue;
interface Mapping {
  type: string;
  encode: Encoder;
}

/** What the target database offers beyond core PostgreSQL. */
export interface TargetFeatures {
  /** The PostGIS extension is installed: spatial columns become geometry. */
  postgis?: boolean;
}

/** PostgreSQL column type that holds every value of the MySQL column exactly. */
export function pgTypeFor(column: SourceColumn, features: TargetFeatures = {}): string {
  if (features.postgis && isSpatial(column)) return column.srid ? `geometry(Geometry,${column.srid})` : 'geometry';
  return mappingFor(column).type;
}

export function isSpatial(column: SourceColumn): boolean {
  return SPATIAL_TYPES.has(column.dataType.toLowerCase());
}

/** PostGIS's type, with or without a typmod, in Tributary's or PostgreSQL's spelling. */
export function isGeometryType(pgType: string): boolean {
  return /^(?:[\w"]+\.)?geometry(?:\(.*\))?$/i.test(pgType);
}

/**
 * One field of COPY text format (delimiter tab, NULL `\N`), already escaped. targetType: the target
 * column's type, which decides how a spatial value is written (geometry or bytea).
 */
export function encodeCopyValue(column: SourceColumn, value: SourceValue, targetType?: string): EncodeResult {
  const field = encodeCopyField(column, value, targetType);
  return typeof field === 'string' ? { ok: true, text: field } : { ok: false, reason: field.reason };
}

/** encodeCopyValue for the hot path: the field text itself, or a BadValue. */
export function encodeCopyField(column: SourceColumn, value: SourceValue, targetType?: string): string | BadValue {
  if (value === null) return NULL_FIELD;
  const mapping = cachedMapping(column);
  // The spatial flag first: the type test is a regular expression, too dear for every value.
  if (mapping.spatial && targetType !== undefined && isGeometryType(targetType)) return encodeGeometry(column, value);
  return mapping.encode(column, value);
}

/**
 * MySQL stores a spatial value as a 4-byte little-endian SRID followed by WKB. PostGIS reads EWKB
 * (hex): the same WKB with a flag in the geometry type and the SRID after it, so the value and its
 * SRID arrive unchanged. SRID 0 (none) is plain WKB.
 */
export function mysqlGeometryToEwkb(value: Buffer): Buffer | string {
  if (value.length < 9) return `a spatial value of ${value.length} bytes is too short to hold an SRID and WKB`;
  const srid = value.readUInt32LE(0);
  const wkb = value.subarray(4);
  const order = wkb[0];
  if (order !== 0 && order !== 1) return `unrecognised WKB byte order ${order}`;
  const type = order === 1 ? wkb.readUInt32LE(1) : wkb.readUInt32BE(1);
  if (srid === 0) return Buffer.from(wkb);
  const header = Buffer.alloc(9);
  header[0] = order;
  const flagged = (type | EWKB_SRID_FLAG) >>> 0;
  if (order === 1) {
    header.writeUInt32LE(flagged, 1);
    header.writeUInt32LE(srid, 5);
  } else {
    header.writeUInt32BE(flagged, 1);
    header.writeUInt32BE(srid, 5);
  }
  return Buffer.concat([header, wkb.subarray(5)]);
}

const EWKB_SRID_FLAG = 0x20000000;

// Hex EWKB is what geometry's input function reads; hex holds nothing COPY would need escaped.
const encodeGeometry: Encoder = (column, value) => {
  const bytes = asBuffer(column, value);
  const ewkb = mysqlGeometryToEwkb(bytes);
  if (typeof ewkb === 'string') return fail(column, ewkb);
  const srid = bytes.readUInt32LE(0);
  // MySQL 8 refuses such values; MariaDB's REF_SYSTEM_ID does not, and PostGIS would fail the whole COPY.
  if (column.srid && srid !== column.srid) return fail(column, `spatial value has SRID ${srid}, but the column declares SRID ${column.srid}`);
  return ok(ewkb.toString('hex'));
};

const NULL_FIELD = '\\N';

// Encoding runs for every value of every row: the mapping of a column is worked out once.
const mappings = new WeakMap<SourceColumn, Mapping & { spatial: boolean }>();
function cachedMapping(column: SourceColumn): Mapping & { spatial: boolean } {
  let mapping = mappings.get(column);
  if (!mapping) {
    mapping = { ...mappingFor(column), spatial: isSpatial(column) };
    mappings.set(column, mapping);
  }
  return mapping;
}

// [signed, unsigned]: unsigned widens one size because its upper half does not fit the same size.
// tinyint(1) stays an integer: MySQL lets it hold -128..127, not just 0/1.
const INTEGER_TYPES: Record<string, [string, string]> = {
  tinyint: ['smallint', 'smallint'],
  smallint: ['smallint', 'integer'],
  mediumint: ['integer', 'integer'],
  int: ['integer', 'bigint'],
  bigint: ['bigint', 'numeric(20,0)'],
};

const TEXT_TYPES = new Set(['char', 'varchar', 'tinytext', 'text', 'mediumtext', 'longtext']);
const BINARY_TYPES = new Set(['binary', 'varbinary', 'tinyblob', 'blob', 'mediumblob', 'longblob']);
// Kept as MySQL's internal bytes (SRID + WKB) so nothing is lost and no PostGIS is required.
const SPATIAL_TYPES = new Set([
  'geometry', 'point', 'linestring', 'polygon', 'multipoint', 'multilinestring', 'multipolygon',
  'geometrycollection', 'geomcollection',
]);

function mappingFor(column: SourceColumn): Mapping {
  const dataType = column.dataType.toLowerCase();
  // MariaDB's JSON is a LONGTEXT, so the flag wins over the data type.
  if (column.isJson) return { type: 'jsonb', encode: encodeJson };
  if (column.charset?.toLowerCase() === 'binary' || BINARY_TYPES.has(dataType) || SPATIAL_TYPES.has(dataType)) {
    return { type: 'bytea', encode: encodeBytea };
  }
  const integer = INTEGER_TYPES[dataType];
  if (integer) return { type: integer[isUnsigned(column) ? 1 : 0], encode: encodeNumber };
  if (TEXT_TYPES.has(dataType)) {
    if (dataType !== 'char' && dataType !== 'varchar') return { type: 'text', encode: encodeText };
    // MySQL allows char(0)/varchar(0) (only '' fits); PostgreSQL's varchar needs a length of at least 1.
    const length = Math.max(1, column.charMaxLength ?? typeArgs(column)[0] ?? 1);
    return { type: `varchar(${length})`, encode: encodeText };
  }
  switch (dataType) {
    case 'bit': {
      const bits = column.numericPrecision ?? typeArgs(column)[0] ?? 1;
      return bits === 1 ? { type: 'boolean', encode: encodeBoolBit } : { type: `bit(${bits})`, encode: encodeBits(bits) };
    }
    case 'decimal':
    case 'numeric': {
      const [p, s] = typeArgs(column);
      return { type: `numeric(${column.numericPrecision ?? p ?? 10},${column.numericScale ?? s ?? 0})`, encode: encodeNumber };
    }
    case 'float':
      return { type: 'real', encode: encodeNumber };
    case 'double':
      return { type: 'double precision', encode: encodeNumber };
    case 'year':
      return { type: 'smallint', encode: encodeNumber };
    case 'date':
      return { type: 'date', encode: encodeDate('') };
    case 'datetime':
      return { type: `timestamp(${fractionDigits(column)}) without time zone`, encode: encodeDate('') };
    case 'timestamp':
      // Read with session time_zone '+00:00', so the text is UTC and says so.
      return { type: `timestamptz(${fractionDigits(column)})`, encode: encodeDate('+00') };
    case 'time':
      // MySQL TIME spans -838:59:59..838:59:59; PostgreSQL time is a time of day (0..24h).
      return { type: 'interval', encode: encodeNumber };
    case 'enum':
      return { type: 'text', encode: encodeText };
    case 'set':
      return { type: 'text[]', encode: encodeSet };
    default:
      throw new Error(`column ${JSON.stringify(column.name)}: no PostgreSQL type for MySQL type ${column.columnType}`);
  }
}

function isUnsigned(column: SourceColumn): boolean {
  return column.unsigned || /\bunsigned\b/i.test(column.columnType);
}

/** The numbers in a column type's parentheses: 'decimal(10,2)' → [10, 2]. */
function typeArgs(column: SourceColumn): number[] {
  const m = /^\w+\(([\d,\s]+)\)/.exec(column.columnType);
  return m ? m[1].split(',').map((n) => Number(n.trim())) : [];
}

// MySQL's default is whole seconds; PostgreSQL's is 6 digits, so the precision is always written.
function fractionDigits(column: SourceColumn): number {
  return column.datetimePrecision ?? typeArgs(column)[0] ?? 0;
}

/** COPY text format: backslash first, then the characters that would end a field or a row. */
const NEEDS_ESCAPE = /[\\\t\n\r]/;
export function escapeCopy(text: string): string {
  // Most values need no escaping: a test is cheaper than a replace that allocates.
  return NEEDS_ESCAPE.test(text) ? text.replace(/[\\\t\n\r]/g, (c) => COPY_ESCAPES[c]!) : text;
}
const COPY_ESCAPES: Record<string, string> = { '\\': '\\\\', '\t': '\\t', '\n': '\\n', '\r': '\\r' };

function ok(text: string): string {
  return text;
}

function fail(column: SourceColumn, reason: string): BadValue {
  return new BadValue(`column ${JSON.stringify(column.name)}: ${reason}`);
}

function asString(column: SourceColumn, value: string | Buffer): string {
  if (typeof value === 'string') return value;
  throw new Error(`column ${JSON.stringify(column.name)} (${column.columnType}): expected text from MySQL, got binary data`);
}

function asBuffer(column: SourceColumn, value: string | Buffer): Buffer {
  if (Buffer.isBuffer(value)) return value;
  throw new Error(`column ${JSON.stringify(column.name)} (${column.columnType}): expected binary data from MySQL, got text`);
}

// Numbers, years and times as MySQL prints them hold no character COPY would need escaped.
const encodeNumber: Encoder = (column, value) => ok(asString(column, value));

// PostgreSQL text types cannot store NUL at all.
const encodeText: Encoder = (column, value) => {
  const text = asString(column, value);
  const at = text.indexOf('\u0000');
  if (at >= 0) return fail(column, `text contains a NUL character (at character ${at}), which PostgreSQL text cannot hold`);
  return ok(escapeCopy(text));
};

// An odd run of backslashes before u0000 is the escape \u0000; an even run is an escaped backslash.
const JSON_NUL_ESCAPE = /(?:^|[^\\])(?:\\\\)*\\u0000/;

const encodeJson: Encoder = (column, value) => {
  const text = asString(column, value);
  if (text.includes('\u0000') || JSON_NUL_ESCAPE.test(text)) {
    return fail(column, 'JSON contains \\u0000, which jsonb rejects');
  }
  return ok(escapeCopy(text));
};

// COPY text turns the doubled backslash into one, so PostgreSQL receives bytea hex input \x....
const encodeBytea: Encoder = (column, value) => ok('\\\\x' + asBuffer(column, value).toString('hex'));

const encodeBoolBit: Encoder = (column, value) => ok(asBuffer(column, value).some((b) => b !== 0) ? 't' : 'f');

function encodeBits(bits: number): Encoder {
  return (column, value) => {
    const all = [...asBuffer(column, value)].map((b) => b.toString(2).padStart(8, '0')).join('').padStart(bits, '0');
    const extra = all.slice(0, all.length - bits);
    if (extra.includes('1')) return fail(column, `value has more than ${bits} significant bits`);
    return ok(all.slice(all.length - bits));
  };
}

/** MySQL SET text 'a,b' → array literal {"a","b"}; quoting every element keeps 'NULL' or '' a string. */
const encodeSet: Encoder = (column, value) => {
  const text = asString(column, value);
  if (text.includes('\u0000')) return fail(column, 'SET value contains a NUL character, which PostgreSQL text cannot hold');
  if (text === '') return ok('{}');
  const elements = text.split(',').map((e) => '"' + e.replace(/[\\"]/g, (c) => '\\' + c) + '"');
  return ok(escapeCopy('{' + elements.join(',') + '}'));
};

const DAYS_IN_MONTH = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/**
 * date/datetime/timestamp. PostgreSQL has no year 0, month 0 or day 0, and rejects days a month does not
 * have (MySQL stores them under ALLOW_INVALID_DATES), so those are reported instead of failing the COPY.
 */
/**
 * True for the common case, decided from character codes alone: digits in YYYY-MM-DD, year not 0000,
 * month 01-12, day 01-28 (valid in every month). Anything else takes the full check below.
 */
function plainlyValidDate(text: string): boolean {
  if (text.length < 10 || text.charCodeAt(4) !== 45 || text.charCodeAt(7) !== 45) return false;
  if (!isDigit(text, 0) || !isDigit(text, 1) || !isDigit(text, 2) || !isDigit(text, 3)) return false;
  if (!isDigit(text, 5) || !isDigit(text, 6) || !isDigit(text, 8) || !isDigit(text, 9)) return false;
  if (text.startsWith('0000')) return false;
  const month = (text.charCodeAt(5) - 48) * 10 + (text.charCodeAt(6) - 48);
  const day = (text.charCodeAt(8) - 48) * 10 + (text.charCodeAt(9) - 48);
  return month >= 1 && month <= 12 && day >= 1 && day <= 28;
}

function isDigit(text: string, at: number): boolean {
  const c = text.charCodeAt(at);
  return c >= 48 && c <= 57;
}

function encodeDate(zoneSuffix: string): Encoder {
  return (column, value) => {
    const text = asString(column, value);
    if (plainlyValidDate(text)) return ok(zoneSuffix ? text + zoneSuffix : text);
    const m = /^(\d{4})-(\d{2})-(\d{2})/.exec(text);
    if (!m) return fail(column, `unrecognised date/time value '${text}'`);
    const [year, month, day] = [Number(m[1]), Number(m[2]), Number(m[3])];
    if (year === 0 || month === 0 || day === 0) {
      return fail(column, `zero or partial-zero date '${text}' has no PostgreSQL value`);
    }
    const leap = year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
    if (month > 12 || day > DAYS_IN_MONTH[month - 1] || (month === 2 && day === 29 && !leap)) {
      return fail(column, `invalid calendar date '${text}' has no PostgreSQL value`);
    }
    // Dates print as digits, '-', ':', '.' and a space: nothing to escape.
    return ok(zoneSuffix ? text + zoneSuffix : text);
  };
}
