/**
 * The names of the columns Tributary adds to the tables it creates in PostgreSQL: the one list. A
 * source column (after `rename:`) with one of these names would clash with Tributary's own, so it is
 * refused at start-up (pipeline/projection.ts), and creating a table checks it again.
 *
 * Working columns of verify's temporary tables (_tributary_ord, ...) are not listed: they are renamed
 * around the table's own columns when they would clash (compare.ts).
 */

/** Column stored in every target row: the id of the source the row came from. */
export const SOURCE_COLUMN = '_source';

/** Staging column telling the merge what to do with the row: 'U' upsert, 'D' delete ('K': keep, see replace.ts). */
export const OP_COLUMN = '_tributary_op';

/**
 * Staging column with the row's key as Tributary identifies it, for tables whose sources share one key
 * space: a row refused for a conflict is reported by it.
 */
export const KEY_COLUMN = '_tributary_key';

export const INTERNAL_COLUMNS: readonly string[] = [SOURCE_COLUMN, OP_COLUMN, KEY_COLUMN];

/** PostgreSQL's limit for identifiers, in bytes; a longer name is silently cut, so it is refused instead. */
export const PG_NAME_BYTES = 63;
