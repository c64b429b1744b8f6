// The projection lag measure: signed webhooks at a steady 1,000 events/s, then at 3,000 events/s
// for 30 s, each about an object of its own; lag is the time from the 2xx answer to the write of the
// object's winning snapshot (and with it the payments rows built from it, in the same transaction),
// noted by a statement trigger at the end of the statement that writes it.
// There is no peer figure: @supabase/stripe-sync-engine writes its rows inside the request, so it
// has no lag to measure.
import { readdirSync, readFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import pg from 'pg';
import Stripe from 'stripe';
import { fixturesDirectory } from '../test/support/stripe-events.js';
import { createDatabase, median, noPeerFigures, note, startPayfold, webhookSecret } from './support.js';

const loads = [
  { rate: 1000, p99BudgetMs: 250 },
  // Above what one projection applies at 1,000 events/s: the lag must stay bounded, not grow.
  { rate: 3000, p99BudgetMs: 1000, seconds: 30 },
] as const;
// As many as the other loads (webhook_ingest, webhook_to_row): with fewer, a slow answer holds a
// connection and the sender falls behind its pace, which would measure the lag at a lower rate.
const connections = 64;
/** A load whose answers came at less than this share of its rate was not held: no budget is met. */
const heldShare = 0.95;

const projectedFixtures = [
  'customer_updated.json',
  'product_updated.json',
  'price_updated.json',
  'charge_succeeded.json',
  'payment_intent_succeeded.json',
  'invoice_paid.json',
  'subscription_updated.json',
  'refund_updated.json',
  'charge_dispute_created.json',
];

/** Events whose ids (event and every Stripe object) are new, so each lands on rows of its own. */
const eventSource = () => {
  const templates = readdirSync(fixturesDirectory)
    .filter((file) => projectedFixtures.includes(file))
    .map((file) => readFileSync(path.join(fixturesDirectory, file), 'utf8'));
  let counter = 0;
  return () => {
    counter += 1;
    const tag = `lag${counter}`;
    const text = (templates[counter % templates.length] as string).replace(
      /"((?:prod|price|cus|sub|si|in|pi|ch|re|dp|evt)_[A-Za-z0-9]+)"/g,
      `"$1_${tag}"`,
    );
    const event = JSON.parse(text);
    event.created = Math.floor(Date.now() / 1000);
    return { body: JSON.stringify(event), objectId: event.data.object.id as string };
  };
};

const percentile = (sorted: number[], p: number): number =>
  sorted.length === 0
    ? Number.NaN
    : (sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] as number);

interface SignedEvent {
  body: string;
  objectId: string;
  signature: string;
}

/**
 * Posts each event at its own moment, `rate` a second evenly spaced, over keep-alive connections,
 * and notes when each 2xx answer arrived. (autocannon's `overallRate` sends each second's share in
 * a burst at the start of the second, which measures the bursts rather than the rate.)
 */
const sendPaced = async (url: string, events: readonly SignedEvent[], rate: number) => {
  const agent = new http.Agent({ keepAlive: true, maxSockets: connections });
  const acknowledged = new Map<string, number>();
  let failed = 0;
  const post = (event: SignedEvent) =>
    new Promise<void>((resolve) => {
      const request = http.request(
        url,
        {
          method: 'POST',
          agent,
          headers: {
            'content-type': 'application/json',
            'content-length': Buffer.byteLength(event.body),
            'stripe-signature': event.signature,
          },
        },
        (response) => {
          response.resume();
          response.on('end', () => {
            if (response.statusCode === 200) acknowledged.set(event.objectId, Date.now());
            else failed += 1;
            resolve();
          });
        },
      );
      request.on('error', () => {
        failed += 1;
        resolve();
      });
      request.end(event.body);
    });
  const started = performance.now();
  const answers: Array<Promise<void>> = [];
  for (const [index, event] of events.entries()) {
    const wait = started + (index * 1000) / rate - performance.now();
    if (wait >= 1) await new Promise((resolve) => setTimeout(resolve, wait));
    answers.push(post(event));
  }
  await Promise.all(answers);
  agent.destroy();
  return { acknowledged, failed, seconds: (performance.now() - started) / 1000 };
};

/** One load: a fresh database and `payfold serve`, `rate` events a second for `seconds`. */
const lagAt = async (
  adminUrl: string,
  rate: number,
  seconds: number,
  p99BudgetMs: number,
  withoutChangeStream: boolean,
) => {
  const databaseUrl = await createDatabase(adminUrl, `bench_lag_${rate}`);
  const payfold = await startPayfold(databaseUrl);
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  if (withoutChangeStream) await client.query('select payfold.switch_change_stream(false)');
  await client.query(`
    create table public.bench_row_times (object_id text primary key, written_at timestamptz not null);
    create function public.bench_record_row_times() returns trigger language plpgsql as $$
      begin
        insert into public.bench_row_times select object_id, clock_timestamp() from written
        on conflict do nothing;
        return null;
      end $$;
    create trigger bench_record_inserted_times after insert on payments.stripe_objects
      referencing new table as written for each statement execute function public.bench_record_row_times();
    create trigger bench_record_updated_times after update on payments.stripe_objects
      referencing new table as written for each statement execute function public.bench_record_row_times();`);

  // Made and signed before the clock starts, so the sender keeps its pace.
  const nextEvent = eventSource();
  const events = Array.from({ length: rate * seconds }, () => {
    const { body, objectId } = nextEvent();
    return {
      body,
      objectId,
      signature: Stripe.webhooks.generateTestHeaderString({
        payload: body,
        secret: webhookSecret,
        timestamp: Math.floor(Date.now() / 1000),
      }),
    };
  });
  note(`projection lag: ${rate} events/s for ${seconds}s`);
  const sent = await sendPaced(`${payfold.url}/api/webhooks/stripe/test`, events, rate);

  // Wait for the projection to catch up, then read when each row was written.
  const deadline = Date.now() + 120_000;
  let rows: Array<{ object_id: string; written_at: Date }> = [];
  while (Date.now() < deadline) {
    rows = (await client.query('select object_id, written_at from public.bench_row_times')).rows;
    if (rows.length >= sent.acknowledged.size) break;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  await client.end();
  const metrics = await (await fetch(`${payfold.url}/metrics`)).text();
  await payfold.stop();
  const metric = (name: string) =>
    Number(new RegExp(`^${name}\\{projection="payments"\\} (\\S+)$`, 'm').exec(metrics)?.[1]);
  const batches = metric('payfold_projection_batch_seconds_count');

  const lags: number[] = [];
  for (const row of rows) {
    const ackedAt = sent.acknowledged.get(row.object_id);
    // The row can be written before the client has read its 2xx: that is no lag at all.
    if (ackedAt !== undefined) lags.push(Math.max(0, row.written_at.getTime() - ackedAt));
  }
  lags.sort((a, b) => a - b);
  const sentPerSecond = sent.acknowledged.size / sent.seconds;
  const heldRate = sentPerSecond >= rate * heldShare;
  return {
    target_events_per_s: rate,
    duration_s: seconds,
    p99_budget_ms: p99BudgetMs,
    sent_events_per_s: Math.round(sentPerSecond),
    held_rate: heldRate,
    acknowledged: sent.acknowledged.size,
    failed: sent.failed,
    projected: lags.length,
    missing: sent.acknowledged.size - lags.length,
    p50_ms: median(lags),
    p99_ms: percentile(lags, 99),
    max_ms: lags.at(-1) ?? null,
    payments_batches: batches,
    payments_mean_batch_ms: Math.round((metric('payfold_projection_batch_seconds_sum') / batches) * 1000),
    payments_mean_batch_entries: Math.round(metric('payfold_projection_batch_entries_sum') / batches),
    within_budget: heldRate && percentile(lags, 99) <= p99BudgetMs && lags.length === sent.acknowledged.size,
  };
};

/**
 * Both loads, or the one at `onlyRate` (--rate); `durationSeconds` (--duration) is the 1,000
 * events/s load's length, and the 3,000's when given.
 */
export const measureProjectionLag = async (
  adminUrl: string,
  durationSeconds: number,
  durationGiven: boolean,
  onlyRate?: number,
  withoutChangeStream = false,
) => {
  const results = [];
  for (const load of loads) {
    if (onlyRate !== undefined && load.rate !== onlyRate) continue;
    const seconds = 'seconds' in load && !durationGiven ? load.seconds : durationSeconds;
    results.push(await lagAt(adminUrl, load.rate, seconds, load.p99BudgetMs, withoutChangeStream));
  }
  return {
    measure: 'projection_lag',
    setup: {
      connections,
      sender: 'evenly paced (node:http)',
      change_stream: withoutChangeStream ? 'off' : 'on',
    },
    budget: Object.fromEntries(loads.map((load) => [`p99_ms_at_${load.rate}`, load.p99BudgetMs])),
    payfold: results,
    peers: noPeerFigures('writes its rows inside the request: it has no lag behind its answer'),
    within_budget: results.every((result) => result.within_budget),
  };
};
