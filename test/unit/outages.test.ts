/** The retry schedule of a down source and what /healthz says while some sources are down. */
import { TributaryError } from '../../src/errors';
import { silentLogger } from '../../src/log';
import { Metrics } from '../../src/metrics';
import { FIRST_RETRY_MS, markSourceDown, MAX_RETRY_MS, sourceAvailability } from '../../src/pipeline/outages';
import type { PassResult } from '../../src/pipeline/pass';
import type { Runtime } from '../../src/pipeline/runtime';

const down = new TributaryError('SOURCE_UNREACHABLE', 'cannot reach source a (127.0.0.1:1/x): connect ECONNREFUSED', { transient: true });

function runtimeWith(sourceIds: string[]): Runtime {
  const config = { sources: sourceIds.map((id) => ({ id })), tables: [{ name: 'items', target: 'items' }] };
  return { config, logger: silentLogger(), outages: new Map() } as unknown as Runtime;
}

test('a down source is tried again after 1 s, then twice as long each time, never more than a minute apart', () => {
  const runtime = runtimeWith(['a', 'b']);
  const delays: number[] = [];
  for (let i = 0; i < 10; i++) {
    markSourceDown(runtime, 'a', down);
    delays.push(runtime.outages.get('a')!.delayMs);
  }
  expect(delays).toEqual([1000, 2000, 4000, 8000, 16000, 32000, 60000, 60000, 60000, 60000]);
  expect(FIRST_RETRY_MS).toBe(1000);
  expect(MAX_RETRY_MS).toBe(60000);
  const outage = runtime.outages.get('a')!;
  expect(outage.retryAt - Date.now()).toBeLessThanOrEqual(MAX_RETRY_MS);
  expect(sourceAvailability(runtime)).toEqual([
    { sourceId: 'a', up: false, reason: down.message, errorCode: 'SOURCE_UNREACHABLE', downSince: expect.any(Date) },
    { sourceId: 'b', up: true },
  ]);
});

test('going down is logged once, however many failed tries follow', () => {
  const lines: string[] = [];
  const runtime = runtimeWith(['a']);
  runtime.logger = { warn: (m: string) => lines.push(m), debug: () => undefined, info: () => undefined } as unknown as Runtime['logger'];
  for (let i = 0; i < 5; i++) markSourceDown(runtime, 'a', down);
  expect(lines).toEqual(['source down']);
});

function pass(sources: PassResult['sources'], units: Partial<PassResult['units'][number]>[]): PassResult {
  const full = units.map((u) => ({ status: 'ok', lagSeconds: 0, changes: 0, openGaps: 0, inserted: 0, updated: 0, deleted: 0, rejects: 0, batchMs: [], ...u })) as PassResult['units'];
  return { startedAt: new Date(), ms: 1, units: full, failed: full.filter((u) => u.status === 'failed').length, skipped: 0, sources };
}

describe('health with sources down', () => {
  const aDown = { sourceId: 'a', up: false, reason: down.message, errorCode: 'SOURCE_UNREACHABLE', downSince: new Date() };
  const bUp = { sourceId: 'b', up: true };

  test('some sources down: healthy (200), the down ones listed', () => {
    const metrics = new Metrics(1000);
    metrics.observe(pass([aDown, bUp], [{ sourceId: 'a', table: 'items', status: 'failed', errorCode: 'SOURCE_UNREACHABLE', sourceDown: true }, { sourceId: 'b', table: 'items' }]));
    const health = metrics.health(300);
    expect(health.healthy).toBe(true);
    expect(health.sourcesDown.map((d) => d.source)).toEqual(['a']);
    expect(health.reason).toMatch(/1 source\(s\) down/);
  });

  test('every source down: unhealthy', () => {
    const metrics = new Metrics(1000);
    metrics.observe(pass([aDown, { ...aDown, sourceId: 'b' }], [{ sourceId: 'a', table: 'items', status: 'failed', sourceDown: true }, { sourceId: 'b', table: 'items', status: 'failed', sourceDown: true }]));
    expect(metrics.health(300)).toMatchObject({ healthy: false, reason: expect.stringMatching(/every source is down/) });
  });

  test('a failed table of a reachable source, or a pass that failed as a whole: unhealthy', () => {
    const metrics = new Metrics(1000);
    metrics.observe(pass([aDown, bUp], [{ sourceId: 'b', table: 'items', status: 'failed', errorCode: 'TRIGGER_DRIFT' }]));
    expect(metrics.health(300)).toMatchObject({ healthy: false, reason: expect.stringMatching(/b\.items \(TRIGGER_DRIFT\)/) });
    metrics.observe(pass([bUp], [{ sourceId: 'b', table: 'items' }]));
    expect(metrics.health(300).healthy).toBe(true);
    metrics.passFailed(new TributaryError('TARGET_UNREACHABLE', 'cannot reach target'));
    expect(metrics.health(300)).toMatchObject({ healthy: false, reason: expect.stringMatching(/last pass failed: cannot reach target/) });
  });
});
