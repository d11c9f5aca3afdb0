/** Shapes shared by the source (MySQL) side, the target (PostgreSQL) side and the pipeline. */

/** One column of a source table, as information_schema describes it. */
export interface SourceColumn {
  name: string;
  /** 1-based position in the table. */
  ordinal: number;
  /** information_schema.COLUMNS.DATA_TYPE, lower case: 'int', 'varchar', 'datetime', 'enum', ... */
  dataType: string;
  /** information_schema.COLUMNS.COLUMN_TYPE, lower case: 'int(10) unsigned', "enum('a','b')", 'tinyint(1)' */
  columnType: string;
  nullable: boolean;
  unsigned: boolean;
  /** Character set of string columns ('utf8mb4', 'latin1', 'binary'); null for non-string types. */
  charset: string | null;
  collation: string | null;
  /** CHARACTER_MAXIMUM_LENGTH: characters for char/varchar/text, bytes for binary/varbinary/blob. */
  charMaxLength: number | null;
  numericPrecision: number | null;
  numericScale: number | null;
  /** DATETIME_PRECISION for date/time types (fractional second digits). */
  datetimePrecision: number | null;
  /** MySQL JSON, or MariaDB's LONGTEXT carrying a JSON_VALID check constraint. */
  isJson: boolean;
  /** COLUMN_COMMENT; absent or '' when the column has none. */
  comment?: string;
  /** Spatial columns: the SRID the column declares (MySQL 8 SRID attribute, MariaDB REF_SYSTEM_ID), if any. */
  srid?: number;
}

/** One part of a source index, in index order. */
export interface SourceIndexPart {
  /** Source column name; null for a functional part (MySQL 8 expression index). */
  column: string | null;
  /** SUB_PART: a prefix index's length (characters for text, bytes for binary), else null. */
  prefix: number | null;
}

/** A secondary or unique index of a source table (the primary key is not among them). */
export interface SourceIndex {
  name: string;
  unique: boolean;
  /** INDEX_TYPE, upper case: BTREE, HASH, FULLTEXT, SPATIAL, ... */
  kind: string;
  parts: SourceIndexPart[];
}

export interface SourceTable {
  /** The database (schema) the table lives in on the source server. */
  database: string;
  name: string;
  columns: SourceColumn[];
  /** Key columns in key order: the primary key, else a unique key on NOT NULL columns, else configured. */
  key: string[];
  /** Columns of each unique index indexed in full (no prefix), the primary key among them. */
  uniqueIndexes?: string[][];
  /** A MySQL boolean expression limiting which rows are synced (table setting `where`). */
  filter?: string;
  /** The changelog's name when configured (table setting `changelog`); else derived from the name. */
  changelog?: string;
  /** Secondary and unique indexes (not the primary key), as the source declares them. */
  indexes?: SourceIndex[];
  /** TABLE_COMMENT; absent or '' when the table has none. */
  comment?: string;
}

/**
 * A value as read from MySQL by this tool: the exact text MySQL sends for the value, a Buffer for
 * binary data (binary-charset strings and blobs, BIT, GEOMETRY), or null.
 */
export type SourceValue = string | Buffer | null;
export type SourceRow = Record<string, SourceValue>;

/** A run of consecutive change ids, both ends included. */
export interface IdRange {
  first: number;
  last: number;
}

/**
 * A column of a snapshot row line: one binary value per row in which MySQL joins the row's columns
 * (see snapshotQuery in mysql/changes.ts and convert/copy-line.ts). toUtf8: the column's character
 * set is not already UTF-8 and MySQL converts it, as it converts values it sends to the client.
 */
export interface LineColumn {
  name: string;
  toUtf8: boolean;
}

/** The name a snapshot query gives the row line it selects beside the key columns. */
export const LINE_ALIAS = 'tributary_row_line';
/** Joins the fields of a row line: a byte that never occurs in UTF-8 text, numbers or dates. */
export const LINE_SEPARATOR = 0xff;
/** A NULL field of a row line: alone in its field, a byte no UTF-8 text holds. */
export const LINE_NULL = 0xfe;
