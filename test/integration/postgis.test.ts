/**
 * Spatial columns: PostGIS geometry with their SRID when the target database has the extension,
 * MySQL's bytes in bytea when not; values round-trip exactly (WKB and SRID compared on both sides).
 */
import { comparisonOf, verifyOnce } from '../helpers/verify';
import { createScratch, installTriggers, type Scratch, syncOnce } from '../helpers/scratch';

let s: Scratch;
beforeEach(async () => {
  s = await createScratch(['a']);
  await s.mysqlExec(
    'a',
    `CREATE TABLE places (
       id INT PRIMARY KEY,
       shape GEOMETRY NULL,
       area GEOMETRY REF_SYSTEM_ID=4326 NOT NULL,
       spot POINT NULL,
       SPATIAL INDEX idx_area (area)
     )`,
  );
  const rows: [number, string, number, string, string | null][] = [
    [1, 'POINT(1 2)', 0, 'POINT(10.5 59.9)', 'POINT(3 4)'],
    [2, 'POLYGON((0 0,4 0,4 4,0 4,0 0),(1 1,2 1,2 2,1 2,1 1))', 0, 'POLYGON((10 59,11 59,11 60,10 60,10 59))', null],
    [3, 'GEOMETRYCOLLECTION(POINT(1 1),LINESTRING(0 0,1 1,2 0))', 4326, 'MULTIPOINT(10 59,11 60)', 'POINT(-1.25 0.5)'],
    [4, 'MULTIPOLYGON(((0 0,1 0,1 1,0 0)),((5 5,6 5,6 6,5 5)))', 4326, 'LINESTRING(10 59,11 60)', null],
  ];
  for (const [id, shape, srid, area, spot] of rows) {
    await s.mysqlExec('a', 'INSERT INTO places VALUES (?, ST_GeomFromText(?, ?), ST_GeomFromText(?, 4326), ST_GeomFromText(?))', [id, shape, srid, area, spot]);
  }
  await s.mysqlExec('a', 'INSERT INTO places (id, area) VALUES (5, ST_GeomFromText(?, 4326))', ['GEOMETRYCOLLECTION(POLYGON((0 0,1 0,1 1,0 0)),MULTILINESTRING((0 0,1 1),(2 2,3 3)))']);
});
afterEach(async () => {
  await s.cleanup();
});

const COLUMNS = ['shape', 'area', 'spot'];

/** Each value as WKB hex and SRID, by row: MySQL's ST_AsWKB/ST_SRID. */
async function sourceGeometries(): Promise<string[]> {
  const select = COLUMNS.map((c) => `IF(${c} IS NULL, 'NULL', CONCAT(LOWER(HEX(ST_AsWKB(${c}))), '/', ST_SRID(${c})))`).join(", '|', ");
  const rows = await s.mysqlRows('a', `SELECT CONCAT(id, '|', ${select}) AS v FROM places ORDER BY id`);
  return rows.map((r) => String(r.v));
}

/** The same from PostGIS: ST_AsBinary/ST_SRID. */
async function targetGeometries(): Promise<string[]> {
  const select = COLUMNS.map((c) => `CASE WHEN ${c} IS NULL THEN 'NULL' ELSE encode(ST_AsBinary(${c}), 'hex') || '/' || ST_SRID(${c}) END`).join(" || '|' || ");
  const rows = await s.pgRows(`SELECT id || '|' || ${select} AS v FROM places ORDER BY id`);
  return rows.map((r) => String(r.v));
}

async function columnTypes(): Promise<Record<string, string>> {
  const rows = await s.pgRows("SELECT attname AS n, format_type(atttypid, atttypmod) AS t FROM pg_attribute WHERE attrelid = 'places'::regclass AND attnum > 0 AND NOT attisdropped");
  return Object.fromEntries(rows.map((r) => [r.n, r.t]));
}

async function indexDefinitions(): Promise<string[]> {
  return (await s.pgRows("SELECT indexdef AS d FROM pg_indexes WHERE tablename = 'places' AND indexname <> 'places_pkey'")).map((r) => String(r.d));
}

test('with PostGIS: geometry with the declared SRID, exact round trip on snapshot and changes, GiST index, verify compares WKB and SRID', async () => {
  await s.pgRows('CREATE EXTENSION postgis');
  const config = s.config('places');
  await installTriggers(config);
  expect((await syncOnce(config)).failed).toBe(0);
  expect(await columnTypes()).toMatchObject({ shape: 'geometry', area: 'geometry(Geometry,4326)', spot: 'geometry' });
  expect(await targetGeometries()).toEqual(await sourceGeometries());
  expect(await indexDefinitions()).toEqual([expect.stringMatching(/USING gist \(area\)$/)]);

  await s.mysqlExec('a', "UPDATE places SET shape = ST_GeomFromText('LINESTRING(5 5,6 6)', 4326), spot = NULL WHERE id = 1");
  await s.mysqlExec('a', "INSERT INTO places VALUES (6, NULL, ST_GeomFromText('POINT(1 1)', 4326), ST_GeomFromText('POINT(7 8)'))");
  expect((await syncOnce(config)).failed).toBe(0);
  expect(await targetGeometries()).toEqual(await sourceGeometries());

  expect(comparisonOf(await verifyOnce(config), 'a', 'places')).toMatchObject({ missing: 0, extra: 0, different: 0 });
  // Same coordinates, another SRID: a difference.
  await s.pgRows('UPDATE places SET shape = ST_SetSRID(shape, 3857) WHERE id = 1');
  expect(comparisonOf(await verifyOnce(config), 'a', 'places')).toMatchObject({ different: 1 });
});

test('without PostGIS: bytea holding MySQL’s bytes, no spatial index; installing PostGIS later converts the column', async () => {
  const config = s.config('places');
  await installTriggers(config);
  expect((await syncOnce(config)).failed).toBe(0);
  expect(await columnTypes()).toMatchObject({ shape: 'bytea', area: 'bytea', spot: 'bytea' });
  const source = await s.mysqlRows('a', 'SELECT id, LOWER(HEX(shape)) AS shape, LOWER(HEX(area)) AS area FROM places ORDER BY id');
  const target = await s.pgRows("SELECT id, encode(shape, 'hex') AS shape, encode(area, 'hex') AS area FROM places ORDER BY id");
  expect(target).toEqual(source.map((r) => ({ ...r, shape: r.shape === null ? null : r.shape })));
  expect(await indexDefinitions()).toEqual([]);
  expect(comparisonOf(await verifyOnce(config), 'a', 'places')).toMatchObject({ missing: 0, extra: 0, different: 0 });

  await s.pgRows('CREATE EXTENSION postgis');
  expect((await syncOnce(config)).failed).toBe(0);
  expect(await columnTypes()).toMatchObject({ shape: 'geometry', area: 'geometry(Geometry,4326)', spot: 'geometry' });
  expect(await targetGeometries()).toEqual(await sourceGeometries());
  expect(await indexDefinitions()).toEqual([expect.stringMatching(/USING gist \(area\)$/)]);
});
