// The catch_up measure (SPEC section 7, rebuild): a generated log with the shape of real accounts
// (several events per object, many in the same second, every object type the projections read,
// events padded to the size of Stripe's), projected from empty checkpoints through every projector
// in a process of its own. Reports entries/s and that process's peak RSS, beside the time it
// takes only to read the same log (no peer: @supabase/stripe-sync-engine keeps no log).
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import fc from 'fast-check';
import type pg from 'pg';
import { runMigrations } from '../src/adapters/postgres/migrations.js';
import { createPool } from '../src/adapters/postgres/pool.js';
import { stripeEventLogEntry } from '../src/domain/event-log.js';
import { stripeEventEnvelopeSchema } from '../src/domain/stripe-event.js';
import { buildHistory, historyPlanArbitrary } from '../test/support/stripe-history.js';
import { copyDatabase, createDatabase, dropDatabase, noPeerFigures, note, root, scalars } from './support.js';

/** SPEC section 7: at least 35% of the rate of reading the same log alone, in the same run. */
const budget = { share_of_read_only: 0.35, max_rss_mb: 300 };
const withinBudget = (share: number, maxRssMb: number) =>
  share >= budget.share_of_read_only && maxRssMb <= budget.max_rss_mb;
/** About the size of Stripe's own events (the fixtures are 2–5 KB). */
const eventBytes = 3072;

// Thousands of entries a statement, in the log's own format (`stripeEventLogEntry`): generating a
// quarter-million-entry log through the append path's group commit would take longer than the
// measure itself, and what is measured is the projection, not the append.
const insertEntriesSql = `
  insert into payfold.events (environment, type, version, dedupe_key, stream, data)
  select environment, type, version, dedupe_key, stream, data::json
  from unnest($1::text[], $2::text[], $3::smallint[], $4::text[], $5::text[], $6::text[])
    as t(environment, type, version, dedupe_key, stream, data)
  on conflict (dedupe_key) do nothing`;

/** Appends `count` entries of generated accounts, each account's events with ids of its own. */
const generateLog = async (pool: pg.Pool, count: number): Promise<number> => {
  let written = 0;
  let account = 0;
  const plans = fc.sample(historyPlanArbitrary, { seed: 20261129, numRuns: 500 });
  while (written < count) {
    const rows: Array<ReturnType<typeof stripeEventLogEntry>> = [];
    while (rows.length < 2000 && written + rows.length < count) {
      const plan = plans[account % plans.length];
      account += 1;
      if (!plan) break;
      for (const event of buildHistory(plan, `bench${account}`).events) {
        if (written + rows.length >= count) break;
        const padded = { ...event, data: { ...event.data, object: { ...event.data.object } } };
        const metadata = { ...((padded.data.object.metadata ?? {}) as Record<string, string>) };
        // The histories name subjects 1 to 3; an account of its own has subjects of its own, as an
        // app's teams and users are (a subject pairs with one customer or a few, not thousands).
        if (metadata.payfold_subject_id)
          metadata.payfold_subject_id = `${metadata.payfold_subject_id}-${account}`;
        const padding = Math.max(0, eventBytes - JSON.stringify(padded).length);
        padded.data.object.metadata = { ...metadata, bench_padding: 'p'.repeat(padding) };
        const body = JSON.stringify(padded);
        rows.push(stripeEventLogEntry('test', body, stripeEventEnvelopeSchema.parse(padded)));
      }
    }
    await pool.query(insertEntriesSql, [
      rows.map((row) => row.environment),
      rows.map((row) => row.type),
      rows.map((row) => row.version),
      rows.map((row) => row.dedupeKey),
      rows.map((row) => row.stream),
      rows.map((row) => row.data),
    ]);
    written += rows.length;
  }
  return account;
};

/** Runs `bench/catch-up-projection.js` in a process of its own: its time and peak RSS. */
const inChild = async (databaseUrl: string, args: string[]) => {
  const { stdout } = await promisify(execFile)(
    process.execPath,
    [
      ...(process.env.BENCH_SERVER_NODE_ARGS?.split(' ').filter(Boolean) ?? []),
      'bench/catch-up-projection.js',
      databaseUrl,
      ...args,
    ],
    { cwd: root, maxBuffer: 1024 * 1024 },
  );
  return JSON.parse(stdout.trim().split('\n').at(-1) as string) as { seconds: number; max_rss_mb: number };
};

/**
 * Projects the log from empty checkpoints; with `compareBatches`, also in batches, on a copy of the
 * same log; `withoutChangeStream` switches the capture for subscribers off first.
 */
export const measureCatchUp = async (
  adminUrl: string,
  entries: number,
  compareBatches = false,
  withoutChangeStream = false,
) => {
  const databaseUrl = await createDatabase(adminUrl, 'payfold_bench_catch_up');
  const generator = createPool(databaseUrl, { max: 2 });
  let accounts: number;
  try {
    await runMigrations(generator);
    if (withoutChangeStream) await generator.query('select payfold.switch_change_stream(false)');
    note(`generating a log of ${entries} entries`);
    accounts = await generateLog(generator, entries);
    await generator.query('vacuum analyze payfold.events');
  } finally {
    // A database is copied only while no one is connected to it.
    await generator.end();
  }
  note('reading it once through the log port (the floor), then projecting it from empty checkpoints');
  const readOnly = await inChild(databaseUrl, ['--read-only']);
  let batches: { seconds: number; max_rss_mb: number } | undefined;
  if (compareBatches) {
    const copy = 'payfold_bench_catch_up_batches';
    note('projecting a copy of it in batches, as before the rebuild path');
    batches = await inChild(await copyDatabase(adminUrl, 'payfold_bench_catch_up', copy), ['--batches']);
    await dropDatabase(adminUrl, copy);
  }
  const result = await inChild(databaseUrl, []);
  const rows = await scalars(
    databaseUrl,
    `select (select count(*) from payments.stripe_objects)::int as objects,
            (select count(*) from payments.payment_history)::int as payments`,
  );
  const entriesPerSecond = Math.round(entries / result.seconds);
  const readPerSecond = Math.round(entries / readOnly.seconds);
  return {
    measure: 'catch_up',
    setup: { entries, accounts, event_bytes: eventBytes, change_stream: withoutChangeStream ? 'off' : 'on' },
    budget,
    payfold: {
      seconds: Number(result.seconds.toFixed(1)),
      entries_per_s: entriesPerSecond,
      max_rss_mb: result.max_rss_mb,
      winning_snapshots: rows.objects,
      payment_rows: rows.payments,
    },
    // The peers keep no log to rebuild from; the floor is reading the log alone.
    peers: noPeerFigures('keeps no log to rebuild from'),
    log_read_only: { seconds: Number(readOnly.seconds.toFixed(1)), entries_per_s: readPerSecond },
    share_of_read_only: Number((entriesPerSecond / readPerSecond).toFixed(2)),
    ...(batches && {
      in_batches: {
        seconds: Number(batches.seconds.toFixed(1)),
        entries_per_s: Math.round(entries / batches.seconds),
        max_rss_mb: batches.max_rss_mb,
      },
      speedup_over_batches: Number((batches.seconds / result.seconds).toFixed(2)),
    }),
    within_budget: withinBudget(entriesPerSecond / readPerSecond, result.max_rss_mb),
  };
};

/**
 * `--full`: the catch-up at 250,000 and at 1,000,000 entries in one run, and how much longer each
 * entry takes at the larger size (SPEC section 7: within 20%).
 */
export const measureCatchUpScaling = async (adminUrl: string, withoutChangeStream = false) => {
  const smaller = await measureCatchUp(adminUrl, 250_000, false, withoutChangeStream);
  const larger = await measureCatchUp(adminUrl, 1_000_000, false, withoutChangeStream);
  const perEntryRatio = Number(
    (larger.payfold.seconds / 1_000_000 / (smaller.payfold.seconds / 250_000)).toFixed(2),
  );
  return {
    measure: 'catch_up_scaling',
    budget: { per_entry_time_ratio: 1.2 },
    at_250000: smaller,
    at_1000000: larger,
    per_entry_time_ratio: perEntryRatio,
    within_budget: smaller.within_budget && larger.within_budget && perEntryRatio <= 1.2,
  };
};

/**
 * The rebuild measure: the same kind of log, projected, then rebuilt through every projector as
 * `payfold rebuild` does, in a process of its own, while this one reads the live tables without a
 * pause. Reports entries/s, the rebuild's peak RSS, and the reads' count and slowest.
 */
export const measureRebuild = async (adminUrl: string, entries: number) => {
  const databaseUrl = await createDatabase(adminUrl, 'payfold_bench_rebuild');
  const pool = createPool(databaseUrl, { max: 2 });
  try {
    await runMigrations(pool);
    note(`generating a log of ${entries} entries and projecting it`);
    const accounts = await generateLog(pool, entries);
    await pool.query('vacuum analyze payfold.events');
    await inChild(databaseUrl, []);
    note(
      'reading it once through the log port (the floor), then rebuilding it while reading the live tables',
    );
    const readOnly = await inChild(databaseUrl, ['--read-only']);
    let rebuilding = true;
    const readMs: number[] = [];
    let emptyReads = 0;
    const reading = (async () => {
      while (rebuilding) {
        const started = performance.now();
        const { rows } = await pool.query('select count(*)::int as n from payments.subscriptions');
        readMs.push(performance.now() - started);
        if (rows[0].n === 0) emptyReads += 1;
      }
    })();
    const result = await inChild(databaseUrl, ['--rebuild']).finally(() => {
      rebuilding = false;
    });
    await reading;
    const entriesPerSecond = Math.round(entries / result.seconds);
    const readPerSecond = Math.round(entries / readOnly.seconds);
    const sorted = [...readMs].sort((a, b) => a - b);
    return {
      measure: 'rebuild',
      setup: { entries, accounts, event_bytes: eventBytes },
      budget,
      payfold: {
        seconds: Number(result.seconds.toFixed(1)),
        entries_per_s: entriesPerSecond,
        max_rss_mb: result.max_rss_mb,
        reads_during: readMs.length,
        read_p99_ms: Number((sorted[Math.floor(sorted.length * 0.99)] ?? 0).toFixed(1)),
        read_max_ms: Number((sorted.at(-1) ?? 0).toFixed(1)),
        empty_reads: emptyReads,
      },
      peers: noPeerFigures('keeps no log to rebuild from'),
      log_read_only: { seconds: Number(readOnly.seconds.toFixed(1)), entries_per_s: readPerSecond },
      share_of_read_only: Number((entriesPerSecond / readPerSecond).toFixed(2)),
      within_budget: withinBudget(entriesPerSecond / readPerSecond, result.max_rss_mb),
    };
  } finally {
    await pool.end();
  }
};
