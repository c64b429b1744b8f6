import { randomBytes, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EventStoreDbEventLog, entryOf, entryStreamOf } from '../src/adapters/eventstoredb/event-log.js';
import { sessionRequestsStore } from '../src/adapters/postgres/session-requests.js';
import { checkpointOf, type LogCheckpoint, logStart, type NewLogEntry } from '../src/domain/event-log.js';
import { type EventLog, LogUnavailableError } from '../src/ports/event-log.js';
import { countRows, createTestDatabase, eventually, type TestDatabase } from './support/database.js';
import { postWebhook, startTestServer, testWebhookSecret } from './support/server.js';
import { freshEvent, loadEventFixtures, sign } from './support/stripe-events.js';

/**
 * What every event log adapter must do, run against each: Postgres always, EventStoreDB/KurrentDB
 * when `PAYFOLD_TEST_ESDB_URL` names a server. Keys are unique per run, and reads start after a
 * marker entry, so the suite also runs against a server that holds other entries.
 */
const eventLogContract = (name: string, open: () => Promise<{ log: EventLog; close: () => Promise<void> }>) =>
  describe(`the event log port: ${name}`, () => {
    let log: EventLog;
    let close: () => Promise<void>;
    const run = randomBytes(6).toString('hex');
    const entry = (key: string, data: unknown = { key }, stream = `contract.${run}/${key}`): NewLogEntry => ({
      environment: 'test',
      type: 'contract.entry',
      version: 1,
      dedupeKey: `contract/${run}/${key}`,
      stream,
      data: JSON.stringify(data),
      metadata: { run },
    });
    /** The checkpoint of a fresh entry: what is read after it was appended after it. */
    const marker = async (key: string): Promise<LogCheckpoint> => {
      await log.append(entry(key));
      const found = await log.entryByDedupeKey(`contract/${run}/${key}`);
      if (!found) throw new Error('the marker entry was not read back');
      return checkpointOf(found);
    };
    /** Entries after `from`, once every one of `count` is readable (Postgres holds back what may still commit before). */
    const readAfter = async (from: LogCheckpoint, count: number, limit = 100) => {
      let read: Awaited<ReturnType<EventLog['readAll']>> = [];
      await eventually(async () => {
        read = (await log.readAll(from, limit)).filter((each) => each.metadata.run === run);
        expect(read.length).toBeGreaterThanOrEqual(Math.min(count, limit));
      });
      return read;
    };

    beforeAll(async () => {
      ({ log, close } = await open());
    });
    afterAll(async () => {
      await close();
    });

    it('stores one of many concurrent appends of a key and calls the others duplicates', async () => {
      const results = await Promise.all(Array.from({ length: 20 }, () => log.append(entry('crowd'))));
      expect(results.filter((result) => result.status === 'appended')).toHaveLength(1);
      expect(results.filter((result) => result.status === 'duplicate')).toHaveLength(19);
      expect(await log.append(entry('crowd', { changed: true }))).toEqual({ status: 'duplicate' });
      const stored = await log.entryByDedupeKey(`contract/${run}/crowd`);
      expect(stored).toMatchObject({
        environment: 'test',
        type: 'contract.entry',
        version: 1,
        stream: `contract.${run}/crowd`,
        data: { key: 'crowd' },
        metadata: { run },
      });
      expect(stored?.recordedAt).toBeInstanceOf(Date);
      expect(await log.entryByDedupeKey(`contract/${run}/never`)).toBeUndefined();
    });

    it('reads entries after a checkpoint in append order, within a limit, and never the checkpoint itself', async () => {
      const from = await marker('order-start');
      for (const key of ['a', 'b', 'c', 'd'])
        await log.append(entry(`order-${key}`, { key, text: 'é ✓ \u{1F600}' }));
      const read = await readAfter(from, 4);
      expect(read.map((each) => each.dedupeKey)).toEqual(
        ['a', 'b', 'c', 'd'].map((key) => `contract/${run}/order-${key}`),
      );
      expect(read[0]?.data).toEqual({ key: 'a', text: 'é ✓ \u{1F600}' });
      const firstTwo = await readAfter(from, 2, 2);
      expect(firstTwo.map((each) => each.data)).toEqual([
        expect.objectContaining({ key: 'a' }),
        expect.objectContaining({ key: 'b' }),
      ]);
      const rest = await readAfter(checkpointOf(firstTwo[1] as (typeof firstTwo)[number]), 2);
      expect(rest.map((each) => (each.data as { key: string }).key)).toEqual(['c', 'd']);
      // A byte bound still returns at least one entry.
      expect(await log.readAll(from, 100, 1)).toHaveLength(1);
    });

    it('reads a stream alone, answers which keys it holds, and finds entries by their checkpoints', async () => {
      const stream = `contract.${run}/shared`;
      for (const key of ['s1', 's2', 's3']) await log.append(entry(key, { key }, stream));
      await log.append(entry('elsewhere'));
      expect((await log.readStream(stream)).map((each) => (each.data as { key: string }).key)).toEqual([
        's1',
        's2',
        's3',
      ]);
      expect(await log.readStream(`contract.${run}/nothing`)).toEqual([]);
      const logged = await log.loggedDedupeKeys([
        `contract/${run}/s1`,
        `contract/${run}/missing`,
        `contract/${run}/s3`,
      ]);
      expect([...logged].sort()).toEqual([`contract/${run}/s1`, `contract/${run}/s3`]);
      const s1 = await log.entryByDedupeKey(`contract/${run}/s1`);
      const s3 = await log.entryByDedupeKey(`contract/${run}/s3`);
      const found = await log.entriesAt([
        checkpointOf(s3 as NonNullable<typeof s3>),
        checkpointOf(s1 as NonNullable<typeof s1>),
      ]);
      expect(found.map((each) => each.dedupeKey)).toEqual([`contract/${run}/s1`, `contract/${run}/s3`]);
    });

    it('knows its head, and whether and about how many entries lie after a checkpoint', async () => {
      const from = await marker('head-start');
      await log.append(entry('head-1'));
      const last = await log.append(entry('head-2'));
      if (last.status !== 'appended') throw new Error('head-2 was not appended');
      await readAfter(from, 2);
      const head = await log.headPosition();
      expect(head).toBeGreaterThanOrEqual(last.position);
      expect(await log.hasEntriesAfter(from, head)).toBe(true);
      expect(await log.countEntriesAfter(from)).toBeGreaterThanOrEqual(2);
      const end = await log.entryByDedupeKey(`contract/${run}/head-2`);
      expect(await log.hasEntriesAfter(checkpointOf(end as NonNullable<typeof end>), last.position)).toBe(
        false,
      );
    });

    it('wakes a subscriber after an append, and no more once it unsubscribed', async () => {
      let wakeUps = 0;
      const unsubscribe = log.subscribe(() => {
        wakeUps += 1;
      });
      try {
        await new Promise((resolve) => setTimeout(resolve, 500));
        const before = wakeUps;
        await log.append(entry('wake'));
        await expect.poll(() => wakeUps, { timeout: 5000 }).toBeGreaterThan(before);
      } finally {
        await unsubscribe();
      }
      const after = wakeUps;
      await log.append(entry('after-unsubscribe'));
      await new Promise((resolve) => setTimeout(resolve, 1500));
      expect(wakeUps).toBe(after);
    });
  });

eventLogContract('Postgres', async () => {
  const db: TestDatabase = await createTestDatabase();
  return { log: db.log, close: () => db.drop() };
});

const esdbUrl = process.env.PAYFOLD_TEST_ESDB_URL;
if (esdbUrl) {
  eventLogContract(`EventStoreDB (${new URL(esdbUrl).host})`, async () => {
    const log = new EventStoreDbEventLog(esdbUrl);
    return { log, close: () => log.close() };
  });
} else {
  console.warn(
    'event log contract: EventStoreDB skipped: PAYFOLD_TEST_ESDB_URL is not set (for example esdb://127.0.0.1:2113?tls=false)',
  );
}

describe('the EventStoreDB log with no server to reach', () => {
  it('fails appends and reads with LogUnavailableError (a webhook is then answered 503), and closes', async () => {
    const log = new EventStoreDbEventLog('esdb://127.0.0.1:1?tls=false');
    const entry: NewLogEntry = {
      environment: 'test',
      type: 'contract.entry',
      version: 1,
      dedupeKey: 'unreachable',
      stream: 'contract/unreachable',
      data: '{}',
      metadata: {},
    };
    await expect(log.append(entry)).rejects.toBeInstanceOf(LogUnavailableError);
    await expect(log.readAll(logStart, 10)).rejects.toBeInstanceOf(LogUnavailableError);
    await log.close();
  });

  it('is the log of payfold serve with PAYFOLD_EVENT_STORE=esdb://…: a webhook is then answered 503, and Postgres keeps no entry', async () => {
    const db = await createTestDatabase();
    const server = await startTestServer(db.url, { PAYFOLD_EVENT_STORE: 'esdb://127.0.0.1:1?tls=false' });
    try {
      const fixture = loadEventFixtures().find((candidate) => candidate.file === 'customer_updated.json');
      const body = JSON.stringify(freshEvent(fixture as NonNullable<typeof fixture>, { livemode: false }));
      const answer = await postWebhook(server.url, 'test', body, {
        'stripe-signature': sign(body, testWebhookSecret),
      });
      expect(answer).toMatchObject({ status: 503, body: { error: { code: 'log_unavailable' } } });
      expect(await countRows(db.pool, 'payfold.events')).toBe(0);
    } finally {
      await server.payfold.close();
      await db.drop();
    }
  });
});

describe('a session request when the log is not in Postgres', () => {
  let db: TestDatabase;
  const policies = readFileSync(
    path.resolve(import.meta.dirname, '../examples/session-policies.sql'),
    'utf8',
  );
  const request = (subjectId: string) => {
    const id = randomUUID();
    return {
      caller: { role: 'authenticated' as const, userId: 'u1', claims: { sub: 'u1' } },
      table: 'payments.customer_portal_sessions' as const,
      row: { id, environment: 'test', status: 'initialized', subject_type: 'user', subject_id: subjectId },
      entry: {
        environment: 'test' as const,
        type: 'session.portal.requested',
        version: 1,
        dedupeKey: `contract/portal/${id}`,
        stream: `session.portal/${id}`,
        data: JSON.stringify({ id }),
        metadata: {},
      },
    };
  };
  const rowCount = async (id: string) =>
    countRows(db.pool, `payments.customer_portal_sessions where id = '${id}'`);

  beforeAll(async () => {
    db = await createTestDatabase();
    await db.pool.query(policies);
  });
  afterAll(async () => {
    await db.drop();
  });

  it('inserts the row as the caller, appends the entry to the other log, then commits', async () => {
    const allowed = request('u1');
    expect(await sessionRequestsStore(db.pool, db.log).begin(allowed)).toEqual({ status: 'begun' });
    expect(await rowCount(allowed.row.id)).toBe(1);
    expect(await db.log.entryByDedupeKey(allowed.entry.dedupeKey)).toBeDefined();
  });

  it('appends nothing when the policies refuse the row', async () => {
    const refused = request('someone-else');
    expect(await sessionRequestsStore(db.pool, db.log).begin(refused)).toEqual({ status: 'denied' });
    expect(await rowCount(refused.row.id)).toBe(0);
    expect(await db.log.entryByDedupeKey(refused.entry.dedupeKey)).toBeUndefined();
  });

  it('keeps no row when the append fails', async () => {
    const failing = request('u1');
    const down: EventLog = Object.assign(Object.create(db.log), {
      append: () => Promise.reject(new LogUnavailableError('down')),
    });
    await expect(sessionRequestsStore(db.pool, down).begin(failing)).rejects.toBeInstanceOf(
      LogUnavailableError,
    );
    expect(await rowCount(failing.row.id)).toBe(0);
  });
});

describe('entries as the EventStoreDB client returns their events', () => {
  const recorded = (streamId: string, type: string, metadata: unknown) => ({
    event: {
      streamId,
      id: randomUUID(),
      isJson: false,
      revision: 0n,
      type,
      created: new Date(),
      data: Buffer.from('{"id":"evt_1","é":"✓"}', 'utf8'),
      metadata,
      position: { commit: 42n, prepare: 41n },
    },
  });
  const fields = {
    environment: 'test',
    version: 1,
    dedupeKey: 'stripe.event/test/evt_1',
    stream: 'stripe.customer/cus_1',
    recordedAt: '2026-11-29T10:00:00.000Z',
    metadata: { source: 'webhook' },
  };

  it('reads metadata the client parsed and metadata it left as bytes alike, and positions as checkpoints', () => {
    for (const metadata of [fields, Buffer.from(JSON.stringify(fields), 'utf8')]) {
      const entry = entryOf(recorded(entryStreamOf(fields.dedupeKey), 'stripe.event', metadata) as never);
      expect(entry).toEqual({
        position: 41n,
        transactionId: 42n,
        environment: 'test',
        type: 'stripe.event',
        version: 1,
        dedupeKey: fields.dedupeKey,
        stream: fields.stream,
        data: { id: 'evt_1', é: '✓' },
        metadata: { source: 'webhook' },
        recordedAt: new Date(fields.recordedAt),
      });
    }
  });

  it('skips system events, links and other writers’ streams', () => {
    expect(entryOf(recorded('$stats-127.0.0.1:2113', '$statsCollected', fields) as never)).toBeUndefined();
    expect(entryOf(recorded('payfold.stripe.customer/cus_1', '$>', fields) as never)).toBeUndefined();
    expect(entryOf(recorded('orders-1', 'OrderPlaced', { any: 'thing' }) as never)).toBeUndefined();
  });
});
