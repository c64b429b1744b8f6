// `npm run bench`: measures the budgets of SPEC section 7 that exist so far and prints one JSON
// object per measure, with each peer (@supabase/stripe-sync-engine, stripe-experiment-sync) measured in the same run where it does the
// same job. Options: --duration <s> (per load, default 20), --rounds <n> (default 1; medians),
// --only <measure> (webhook_ingest, webhook_to_row, projection_lag, catch_up, rebuild, sync, checkout_sessions, or soak: 30 minutes unless --duration, run only when asked), --events <n>
// (webhook_to_row, default 20,000), --rate <n> (projection_lag: only the load at 1000 or 3000 events/s), --entries <n> (catch_up's and rebuild's log, default 250,000), --full
// (catch_up at 250,000 and at 1,000,000 entries, and the ratio of their times an entry; rebuild over 1,000,000), --compare-batches (catch_up also in batches, on a copy of the log),
// --without-change-stream (catch_up and projection_lag with `payfold change-stream off`).
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { startEmbeddedCluster } from '../src/adapters/postgres/embedded.js';
import { measureCatchUp, measureCatchUpScaling, measureRebuild } from './catch-up.js';
import { measureCheckoutSessions } from './checkout-sessions.js';
import { measureIngest } from './ingest.js';
import { measureProjectionLag } from './projection-lag.js';
import { measureSoak } from './soak.js';
import { note, pgCtl } from './support.js';
import { measureSync } from './sync.js';
import { measureWebhookToRow } from './webhook-to-row.js';

const { values: args } = parseArgs({
  options: {
    duration: { type: 'string' },
    rounds: { type: 'string', default: '1' },
    only: { type: 'string' },
    entries: { type: 'string' },
    rate: { type: 'string' },
    events: { type: 'string', default: '20000' },
    full: { type: 'boolean', default: false },
    'compare-batches': { type: 'boolean', default: false },
    'without-change-stream': { type: 'boolean', default: false },
  },
});
const durationSeconds = Number(args.duration ?? 20);
const rounds = Number(args.rounds);
const catchUpEntries = Number(args.entries ?? (args.full ? 1_000_000 : 250_000));

let clusterDirectory: string | undefined;

/** Measures run by default; `soak` (30 minutes) runs only when asked for with `--only soak`. */
const onlyWhenAsked = new Set(['soak']);

const measures: Record<string, (adminUrl: string) => Promise<unknown>> = {
  webhook_ingest: (adminUrl) => measureIngest(adminUrl, durationSeconds, rounds),
  webhook_to_row: (adminUrl) => measureWebhookToRow(adminUrl, Number(args.events)),
  projection_lag: (adminUrl) =>
    measureProjectionLag(
      adminUrl,
      durationSeconds,
      args.duration !== undefined,
      args.rate === undefined ? undefined : Number(args.rate),
      args['without-change-stream'],
    ),
  catch_up: (adminUrl) =>
    args.full && args.entries === undefined
      ? measureCatchUpScaling(adminUrl, args['without-change-stream'])
      : measureCatchUp(adminUrl, catchUpEntries, args['compare-batches'], args['without-change-stream']),
  rebuild: (adminUrl) => measureRebuild(adminUrl, catchUpEntries),
  sync: (adminUrl) => measureSync(adminUrl),
  checkout_sessions: (adminUrl) => measureCheckoutSessions(adminUrl, durationSeconds),
  soak: (adminUrl) =>
    measureSoak(adminUrl, clusterDirectory, args.duration === undefined ? 1800 : durationSeconds),
};

const main = async () => {
  let adminUrl = process.env.BENCH_DATABASE_URL;
  let stopCluster: () => Promise<void> = async () => undefined;
  if (!adminUrl) {
    const parent = await mkdtemp(path.join(tmpdir(), 'payfold-bench-'));
    await chmod(parent, 0o755);
    note('starting a throwaway embedded Postgres');
    clusterDirectory = path.join(parent, 'postgres');
    const cluster = await startEmbeddedCluster({ dataDirectory: clusterDirectory, persistent: false });
    adminUrl = cluster.url;
    // With pg_ctl rather than the package's stop, which waits for the postmaster it started: the
    // soak restarts the cluster with pg_ctl, and that one is gone.
    stopCluster = async () => {
      await pgCtl(clusterDirectory as string, 'stop');
      await rm(parent, { recursive: true, force: true });
    };
  }
  try {
    for (const [name, measure] of Object.entries(measures)) {
      if (args.only ? args.only !== name : onlyWhenAsked.has(name)) continue;
      process.stdout.write(`${JSON.stringify(await measure(adminUrl))}\n`);
    }
  } finally {
    await stopCluster();
  }
};

await main();
