import { once } from 'node:events';
import fc from 'fast-check';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { logStart, stripeEventLogEntry } from '../src/domain/event-log.js';
import { stripeEventEnvelopeSchema } from '../src/domain/stripe-event.js';
import { outdatedProjections, rebuildProjections } from '../src/projections/engine/rebuild.js';
import { ProjectionRunner } from '../src/projections/engine/runner.js';
import { projectors } from '../src/projections/index.js';
import { paymentsProjector } from '../src/projections/payments/index.js';
import { countRows, createTestDatabase, type TestDatabase } from './support/database.js';
import { readTables } from './support/projection-harness.js';
import { referenceTables, tableDifferences } from './support/reference-model.js';
import { runPayfold, spawnPayfold, startTestServer } from './support/server.js';
import { buildHistory, type HistoryPlan, historyPlanArbitrary } from './support/stripe-history.js';

const logger = pino({ level: 'silent' });
const adminToken = 'admin-token-for-the-rebuild-tests';

/** Every insert, update and delete on a payments table, as user triggers would see them. */
const countChanges = `
  create table public.changes (tbl text, op text, at timestamptz default clock_timestamp());
  create function public.count_change() returns trigger language plpgsql as $$
    begin insert into public.changes (tbl, op) values (tg_table_name, tg_op); return null; end $$;
  do $$ declare t text; begin
    for t in select tablename from pg_tables where schemaname = 'payments' loop
      execute format('create trigger count_change after insert or update or delete on payments.%I
        for each row execute function public.count_change()', t);
    end loop;
  end $$;
  -- A policy and a grant of the app's, which a rebuild must leave as they are.
  alter table payments.subscriptions enable row level security;
  create policy app_reads on payments.subscriptions for select to authenticated using (true);
  grant select on payments.subscriptions to authenticated;`;

/** Several stories of the property tests' generator, with session requests among them. */
const plans = (seed: number, count: number): HistoryPlan[] =>
  fc.sample(
    historyPlanArbitrary.map((plan) => ({
      ...plan,
      stories: plan.stories.map((story) => ({
        ...story,
        subject: story.subject ?? { type: 'team' as const, id: '7' },
      })),
    })),
    { seed, numRuns: count },
  );

describe('rebuilding the live tables from the log', { shuffle: false }, () => {
  let db: TestDatabase;
  const changes = async () =>
    (
      await db.pool.query(
        'select tbl, op, count(*)::int as n from public.changes group by 1, 2 order by 1, 2',
      )
    ).rows;
  const appendHistory = async (plan: HistoryPlan, runId: string) => {
    const { events, sessionEntries, reads } = buildHistory(plan, runId);
    for (const event of events) {
      await db.log.append(
        stripeEventLogEntry('test', JSON.stringify(event), stripeEventEnvelopeSchema.parse(event)),
      );
    }
    for (const entry of [...sessionEntries, ...reads]) await db.log.append(entry);
  };
  const expectTablesToEqualTheLog = async () => {
    const client = await db.pool.connect();
    try {
      const entries = await db.log.readAll(logStart, 1_000_000);
      expect(tableDifferences(await readTables(client), await referenceTables(entries))).toEqual([]);
    } finally {
      client.release();
    }
  };
  const rebuildAll = (options: { quiet?: boolean; dryRun?: boolean }) =>
    rebuildProjections({ pool: db.pool, log: db.log, logger, projectors, reason: 'test', ...options });
  /** Rebuilds every projection; the payments projection's summary, then the others'. */
  const rebuild = async (quiet = false) => {
    const summaries = await rebuildAll({ quiet });
    return [
      summaries.find((summary) => summary.projection === 'payments'),
      ...summaries.filter((summary) => summary.projection !== 'payments'),
    ];
  };

  beforeAll(async () => {
    db = await createTestDatabase();
    for (const [index, plan] of plans(11, 4).entries()) await appendHistory(plan, `h${index}`);
    await new ProjectionRunner({ pool: db.pool, log: db.log, projectors, logger }).catchUp();
    await db.pool.query(countChanges);
  });
  afterAll(async () => {
    await db.drop();
  });

  it('changes nothing and fires no trigger when the tables are what the log says', async () => {
    const [payments, webhookEvents] = await rebuild();
    expect(payments?.projection).toBe('payments');
    expect(payments?.entries).toBeGreaterThan(50);
    for (const [table, counts] of Object.entries({ ...payments?.changes, ...webhookEvents?.changes })) {
      if (table.startsWith('payments.'))
        expect(counts, table).toEqual({ inserted: 0, updated: 0, deleted: 0 });
    }
    expect(await changes()).toEqual([]);
    await expectTablesToEqualTheLog();
  });

  it('repairs rows changed, deleted or added by hand, firing triggers for exactly those rows', async () => {
    await db.pool.query(`
      alter table payments.subscriptions disable trigger count_change;
      alter table payments.invoices disable trigger count_change;
      alter table payments.products disable trigger count_change;
      update payments.subscriptions set status = 'hand-edited'
        where subscription_id = (select min(subscription_id) from payments.subscriptions);
      delete from payments.invoices where invoice_id = (select min(invoice_id) from payments.invoices);
      insert into payments.products (environment, product_id, name, created_at, updated_at)
        values ('test', 'prod_by_hand', 'Nobody sells this', now(), now());
      alter table payments.subscriptions enable trigger count_change;
      alter table payments.invoices enable trigger count_change;
      alter table payments.products enable trigger count_change;`);
    const [payments] = await rebuild();
    expect(payments?.changes['payments.subscriptions']).toEqual({ inserted: 0, updated: 1, deleted: 0 });
    expect(payments?.changes['payments.invoices']).toEqual({ inserted: 1, updated: 0, deleted: 0 });
    expect(payments?.changes['payments.products']).toEqual({ inserted: 0, updated: 0, deleted: 1 });
    expect(await changes()).toEqual([
      { tbl: 'invoices', op: 'INSERT', n: 1 },
      { tbl: 'products', op: 'DELETE', n: 1 },
      { tbl: 'subscriptions', op: 'UPDATE', n: 1 },
    ]);
    await expectTablesToEqualTheLog();
    // The app's policy and grant are where they were.
    const { rows } = await db.pool.query(
      `select (select count(*)::int from pg_policies where tablename = 'subscriptions' and policyname = 'app_reads') as policies,
              has_table_privilege('authenticated', 'payments.subscriptions', 'select') as granted`,
    );
    expect(rows).toEqual([{ policies: 1, granted: true }]);
  });

  it('quietly: repairs without firing user triggers, which fire again afterwards', async () => {
    await db.pool.query('truncate public.changes');
    await db.pool.query(`
      alter table payments.subscriptions disable trigger count_change;
      update payments.subscriptions set status = 'hand-edited';
      alter table payments.subscriptions enable trigger count_change;`);
    const [payments] = await rebuild(true);
    expect(payments?.changes['payments.subscriptions']?.updated).toBeGreaterThan(0);
    expect(await changes()).toEqual([]);
    await expectTablesToEqualTheLog();
    await db.pool.query(`update payments.subscriptions set cancel_at_period_end = not cancel_at_period_end
      where subscription_id = (select min(subscription_id) from payments.subscriptions)`);
    expect(await changes()).toEqual([{ tbl: 'subscriptions', op: 'UPDATE', n: 1 }]);
    await rebuild(true);
  });

  it('quietly: gives every trigger back the state it had, leaving off those the app had turned off', async () => {
    const states = async () =>
      (
        await db.pool.query<{ tgname: string; tgenabled: string }>(
          `select tgname, tgenabled from pg_trigger where tgrelid = 'payments.invoices'::regclass
           and tgname in ('count_change', 'payfold_capture_updates') order by tgname`,
        )
      ).rows;
    await db.pool.query(`
      alter table payments.invoices disable trigger count_change;
      alter table payments.invoices enable always trigger payfold_capture_updates;`);
    try {
      await rebuild(true);
      expect(await states()).toEqual([
        { tgname: 'count_change', tgenabled: 'D' },
        { tgname: 'payfold_capture_updates', tgenabled: 'A' },
      ]);
    } finally {
      await db.pool.query(`
        alter table payments.invoices enable trigger count_change;
        alter table payments.invoices enable trigger payfold_capture_updates;`);
    }
  });

  it('loses nothing that arrives while it runs, the live runner projecting meanwhile', async () => {
    const runner = new ProjectionRunner({ pool: db.pool, log: db.log, projectors, logger });
    await runner.start();
    try {
      const arriving = (async () => {
        for (const [index, plan] of plans(23, 6).entries()) await appendHistory(plan, `live${index}`);
      })();
      let rebuilding = true;
      const rebuilt = rebuild().finally(() => {
        rebuilding = false;
      });
      // Reads are served throughout, never an empty table.
      const reads: number[] = [];
      const reading = (async () => {
        while (rebuilding) {
          const { rows } = await db.pool.query('select count(*)::int as n from payments.subscriptions');
          reads.push(rows[0].n);
        }
      })();
      await Promise.all([arriving, rebuilt, reading]);
      expect(reads.length).toBeGreaterThan(0);
      expect(Math.min(...reads)).toBeGreaterThan(0);
      await runner.catchUp();
    } finally {
      await runner.stop();
    }
    await expectTablesToEqualTheLog();
  });

  it('is due when a projector\u2019s version is newer than the one that built its tables, and records the new one', async () => {
    const newer = { ...paymentsProjector, version: paymentsProjector.version + 1 };
    expect((await outdatedProjections(db.pool, [newer, ...projectors.slice(1)])).map((p) => p.name)).toEqual([
      'payments',
    ]);
    await rebuildProjections({ pool: db.pool, log: db.log, logger, projectors: [newer], reason: 'version' });
    expect(await outdatedProjections(db.pool, [newer])).toEqual([]);
    const { rows } = await db.pool.query(
      "select reason, quiet from payfold.projection_rebuilds where projection = 'payments' order by id desc limit 1",
    );
    expect(rows).toEqual([{ reason: 'version', quiet: false }]);
  });

  it('runs as `payfold rebuild --json` and as the admin route, refusing an unknown projection in one line', async () => {
    const command = await runPayfold(['--json', 'rebuild', '--projection', 'payments'], {
      databaseUrl: db.url,
      stripeApiBase: 'http://127.0.0.1:9',
    });
    expect(command.code, command.err).toBe(0);
    const [summary] = JSON.parse(command.out).rebuilds;
    expect(summary).toMatchObject({ projection: 'payments', entriesPerSecond: expect.any(Number) });
    expect(summary.changes['payments.subscriptions']).toEqual({ inserted: 0, updated: 0, deleted: 0 });
    const unknown = await runPayfold(['rebuild', '--projection', 'paymnets'], {
      databaseUrl: db.url,
      stripeApiBase: 'http://127.0.0.1:9',
    });
    expect(unknown.code).toBe(1);
    expect(unknown.err).toBe('payfold: no projection is called paymnets; there are webhook_events, payments');

    const server = await startTestServer(db.url, { PAYFOLD_ADMIN_TOKEN: adminToken });
    try {
      const rebuildOver = (body: unknown) =>
        fetch(`${server.url}/api/admin/projections/rebuild`, {
          method: 'POST',
          headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' },
          body: JSON.stringify(body),
        });
      const answer = await rebuildOver({ projections: ['webhook_events'], quiet: true });
      expect(answer.status).toBe(200);
      expect(((await answer.json()) as { rebuilds: Array<{ projection: string }> }).rebuilds).toEqual([
        expect.objectContaining({ projection: 'webhook_events' }),
      ]);
      expect((await rebuildOver({ projections: ['nope'] })).status).toBe(400);
      const report = (await (
        await fetch(`${server.url}/api/admin/projections`, {
          headers: { authorization: `Bearer ${adminToken}` },
        })
      ).json()) as {
        projections: Array<{ name: string; lastRebuild: { reason: string; quiet: boolean } | null }>;
      };
      expect(
        report.projections.find((projection) => projection.name === 'webhook_events')?.lastRebuild,
      ).toMatchObject({
        reason: 'admin',
        quiet: true,
      });
    } finally {
      await server.payfold.close();
    }
  });

  it('leaves the live tables as they were when it dies, and the next one starts over', async () => {
    const before = await db.pool.connect().then(async (client) => {
      try {
        return await readTables(client);
      } finally {
        client.release();
      }
    });
    const dying = rebuildProjections({
      pool: db.pool,
      log: db.log,
      logger,
      projectors,
      reason: 'test',
      onProgress: () => {
        throw new Error('the process died');
      },
    });
    await expect(dying).rejects.toThrow('the process died');
    const client = await db.pool.connect();
    try {
      expect(tableDifferences(await readTables(client), before)).toEqual([]);
    } finally {
      client.release();
    }

    // Killed outright (kill -9) while it builds: the next rebuild still arrives at the log's tables.
    const killed = spawnPayfold(['rebuild'], db.url, 0);
    await new Promise<void>((resolve) => {
      let output = '';
      killed.stderr?.on('data', (chunk) => {
        output += String(chunk);
        if (output.includes('building from the log')) resolve();
      });
      killed.on('exit', () => resolve());
    });
    const exited = killed.exitCode !== null ? Promise.resolve() : once(killed, 'exit');
    killed.kill('SIGKILL');
    await exited;
    await rebuild();
    await expectTablesToEqualTheLog();
    const { rows } = await db.pool.query(
      "select count(*)::int as n from pg_namespace where nspname = 'payfold_rebuild'",
    );
    expect(rows).toEqual([{ n: 0 }]);
  });

  it('builds its shadow tables unlogged: rebuilt from the log whenever lost, they skip the write-ahead log', async () => {
    await db.pool.query(
      "select payfold.prepare_rebuild_shadow(array['payments.products', 'payfold.stripe_object_candidates'])",
    );
    const { rows } = await db.pool.query(
      `select c.relname, c.relpersistence from pg_class c join pg_namespace n on n.oid = c.relnamespace
       where n.nspname = 'payfold_rebuild' and c.relkind = 'r' order by 1`,
    );
    expect(rows).toEqual([
      { relname: 'products', relpersistence: 'u' },
      { relname: 'stripe_object_candidates', relpersistence: 'u' },
    ]);
    await db.pool.query('select payfold.drop_rebuild_shadow()');
  });

  it('reports no drift in a dry run when the live tables only lag the log, and changes nothing', async () => {
    const runner = new ProjectionRunner({ pool: db.pool, log: db.log, projectors, logger });
    await runner.catchUp();
    // Entries the live projections have not applied yet: behind, not drifted.
    await appendHistory(plans(1, 7)[0] as HistoryPlan, 'lagging');
    const before = await countRows(db.pool, 'payments.webhook_events');
    const checkpoints = async () =>
      (await db.pool.query('select projection, position from payfold.projection_checkpoints order by 1'))
        .rows;
    const positions = await checkpoints();
    const summaries = await rebuildAll({ dryRun: true });
    expect(summaries.map((summary) => [summary.projection, summary.drift])).toEqual(
      projectors.map((projector) => [projector.name, {}]),
    );
    expect(await countRows(db.pool, 'payments.webhook_events')).toBe(before);
    expect(await checkpoints()).toEqual(positions);
    await runner.catchUp();
    expect(await countRows(db.pool, 'payments.webhook_events')).toBeGreaterThan(before);
  });
});
