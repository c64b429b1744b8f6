import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PostgresEventLog } from '../src/adapters/postgres/event-log.js';
import {
  checkpointOf,
  type LogCheckpoint,
  type LogEntry,
  logStart,
  type NewLogEntry,
} from '../src/domain/event-log.js';
import { countRows, createTestDatabase, eventually, type TestDatabase } from './support/database.js';

const entry = (key: string, data: unknown = { key }): NewLogEntry => ({
  environment: 'test',
  type: 'stripe.event',
  version: 1,
  dedupeKey: key,
  stream: `test/${key}`,
  data: JSON.stringify(data),
  metadata: {},
});

describe('the Postgres event log', () => {
  let db: TestDatabase;
  let log: PostgresEventLog;

  beforeAll(async () => {
    db = await createTestDatabase();
    log = db.log;
  });
  afterAll(async () => {
    await db.drop();
  });

  it('stores an entry once and reports every later append of its key as a duplicate', async () => {
    const first = await log.append(entry('once'));
    const again = await log.append(entry('once', { changed: true }));
    expect(first.status).toBe('appended');
    expect(again).toEqual({ status: 'duplicate' });
    const { rows } = await db.pool.query("select data from payfold.events where dedupe_key = 'once'");
    expect(rows).toEqual([{ data: { key: 'once' } }]);
  });

  it('keeps the data verbatim, byte for byte', async () => {
    const raw = '{"id":  "evt_x",\n "b":1, "a":  [2,1]}';
    await log.append({ ...entry('verbatim'), data: raw });
    const { rows } = await db.pool.query(
      "select data::text from payfold.events where dedupe_key = 'verbatim'",
    );
    expect(rows[0].data).toBe(raw);
  });

  it('stores one of 50 concurrent appends of the same key, and calls the other 49 duplicates', async () => {
    const results = await Promise.all(Array.from({ length: 50 }, () => log.append(entry('crowd'))));
    expect(results.filter((result) => result.status === 'appended')).toHaveLength(1);
    expect(results.filter((result) => result.status === 'duplicate')).toHaveLength(49);
    expect(await countRows(db.pool, "payfold.events where dedupe_key = 'crowd'")).toBe(1);
  });

  it('stores a key once when two event logs (two processes) append it at the same time', async () => {
    const other = new PostgresEventLog(db.pool, db.url);
    const keys = Array.from({ length: 200 }, (_, index) => `race-${index}`);
    const results = await Promise.all(
      keys.flatMap((key) => [log.append(entry(key)), other.append(entry(key))]),
    );
    expect(results.filter((result) => result.status === 'appended')).toHaveLength(200);
    expect(await countRows(db.pool, "payfold.events where dedupe_key like 'race-%'")).toBe(200);
  });

  it('groups concurrent appends into few commits', async () => {
    const before = log.stats.batchesWritten;
    await Promise.all(Array.from({ length: 1000 }, (_, index) => log.append(entry(`group-${index}`))));
    const batches = log.stats.batchesWritten - before;
    expect(batches).toBeGreaterThan(0);
    expect(batches).toBeLessThanOrEqual(10);
  });

  it('fails only the entry Postgres refuses, not the others appended in the same batch', async () => {
    // JSON that JavaScript parses and Postgres's json does not store (nested past its stack limit).
    const tooDeep = `${'{"a":'.repeat(100_000)}1${'}'.repeat(100_000)}`;
    const appends = Array.from({ length: 9 }, (_, index) =>
      log.append(index === 4 ? { ...entry('refused-4'), data: tooDeep } : entry(`beside-${index}`)),
    );
    const results = await Promise.allSettled(appends);
    expect(results.map((result) => result.status)).toEqual([
      ...Array(4).fill('fulfilled'),
      'rejected',
      ...Array(4).fill('fulfilled'),
    ]);
    expect(await countRows(db.pool, "payfold.events where dedupe_key like 'beside-%'")).toBe(8);
  });

  it('reads by bytes as well as by count, and always at least one entry', async () => {
    // A log of its own, so that only these entries are in it.
    const own = await createTestDatabase();
    try {
      const padding = 'p'.repeat(100_000);
      for (let index = 0; index < 5; index += 1)
        await own.log.append(entry(`large-${index}`, { padding, index }));
      // Readable once every older transaction in the cluster has ended.
      await eventually(async () => {
        const bounded = await own.log.readAll(logStart, 100, 250_000);
        expect(bounded.map((read) => read.dedupeKey)).toEqual(['large-0', 'large-1', 'large-2']);
      });
      const one = await own.log.readAll(logStart, 100, 10);
      expect(one.map((read) => read.dedupeKey)).toEqual(['large-0']);
    } finally {
      await own.drop();
    }
  });

  it('refuses to change or delete a stored entry', async () => {
    await log.append(entry('immutable'));
    await expect(
      db.pool.query("update payfold.events set stream = 'x' where dedupe_key = 'immutable'"),
    ).rejects.toThrow(/append-only/);
    await expect(db.pool.query("delete from payfold.events where dedupe_key = 'immutable'")).rejects.toThrow(
      /append-only/,
    );
  });

  it('never lets a reader skip an entry whose transaction commits after a later one', async () => {
    const fresh = await createTestDatabase();
    const freshLog = fresh.log;
    try {
      await freshLog.append(entry('before'));
      // Other transactions in the cluster (other test files) can hold readers back for a moment.
      const readUntil = async (from: LogCheckpoint, count: number) => {
        let entries: LogEntry[] = [];
        await expect
          .poll(async () => {
            entries = await freshLog.readAll(from, 100);
            return entries.length;
          })
          .toBe(count);
        return entries;
      };
      const seen = await readUntil(logStart, 1);
      expect(seen.map((e) => e.dedupeKey)).toEqual(['before']);
      const checkpoint = checkpointOf(seen[0] as LogEntry);

      // A slow writer takes the next position and keeps its transaction open...
      const slow = new pg.Client({ connectionString: fresh.url });
      await slow.connect();
      await slow.query('begin');
      await slow.query(
        "insert into payfold.events (environment, type, version, dedupe_key, stream, data) values ('test', 'stripe.event', 1, 'slow', 's', '{}')",
      );
      // ...while a fast writer takes a later position and commits.
      await freshLog.append(entry('fast'));
      const positions = await fresh.pool.query<{ dedupe_key: string; position: string }>(
        'select dedupe_key, position::text from payfold.events order by position',
      );
      expect(positions.rows.map((row) => row.dedupe_key)).toEqual(['before', 'fast']);

      // The reader does not move past the open transaction: it sees nothing yet...
      expect(await freshLog.readAll(checkpoint, 100)).toEqual([]);

      await slow.query('commit');
      await slow.end();
      // ...and once it commits, it reads both, the slow one first, skipping neither.
      const after = await readUntil(checkpoint, 2);
      expect(after.map((e) => e.dedupeKey)).toEqual(['slow', 'fast']);
      expect(after[0]?.position).toBeLessThan(after[1]?.position as bigint);
    } finally {
      await fresh.drop();
    }
  });

  it('reads in pages that resume exactly where the last one ended', async () => {
    const stored = await countRows(db.pool, 'payfold.events');
    let all: LogEntry[] = [];
    await expect
      .poll(async () => {
        all = await log.readAll(logStart, 100_000);
        return all.length;
      })
      .toBe(stored);
    const paged = [];
    let from = logStart;
    for (;;) {
      const page = await log.readAll(from, 97);
      if (page.length === 0) break;
      paged.push(...page);
      const last = page.at(-1);
      if (!last) break;
      from = checkpointOf(last);
    }
    expect(paged.map((e) => e.position)).toEqual(all.map((e) => e.position));
    expect(new Set(all.map((e) => e.dedupeKey)).size).toBe(all.length);
  });

  it('wakes subscribers through LISTEN/NOTIFY when an append commits', async () => {
    const slowPollLog = new PostgresEventLog(db.pool, db.url, { pollIntervalMs: 60_000 });
    let wakeUps = 0;
    const unsubscribe = slowPollLog.subscribe(() => {
      wakeUps += 1;
    });
    try {
      // The first wake-up comes when the listener connects.
      await expect.poll(() => wakeUps, { timeout: 5000 }).toBeGreaterThanOrEqual(1);
      const before = wakeUps;
      await log.append(entry('wake'));
      await expect.poll(() => wakeUps, { timeout: 5000 }).toBeGreaterThan(before);
    } finally {
      await unsubscribe();
    }
  });

  it('reports the head position', async () => {
    const result = await log.append(entry('head'));
    expect(result.status).toBe('appended');
    if (result.status === 'appended')
      expect(await log.headPosition()).toBeGreaterThanOrEqual(result.position);
  });
});
