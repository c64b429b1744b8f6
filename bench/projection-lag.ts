// The projection lag measure: signed webhooks at a steady 1,000 events/s, each about an object of
// its own; lag is the time from the 2xx answer to the commit of the object's winning snapshot (and
// with it the payments rows built from it, in the same transaction). There is no peer figure:
// @supabase/stripe-sync-engine writes its rows inside the request, so it has no lag to measure.
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import autocannon from 'autocannon';
import pg from 'pg';
import Stripe from 'stripe';
import { fixturesDirectory } from '../test/support/stripe-events.js';
import { createDatabase, median, note, startPayfold, webhookSecret } from './support.js';

const rate = 1000;

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

export const measureProjectionLag = async (adminUrl: string, durationSeconds: number) => {
  const databaseUrl = await createDatabase(adminUrl, 'bench_lag');
  const payfold = await startPayfold(databaseUrl);
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  await client.query(`
    create table public.bench_row_times (object_id text primary key, written_at timestamptz not null);
    create function public.bench_record_row_time() returns trigger language plpgsql as $$
      begin
        insert into public.bench_row_times values (new.object_id, clock_timestamp()) on conflict do nothing;
        return null;
      end $$;
    create trigger bench_record_row_time after insert or update on payments.stripe_objects
      for each row execute function public.bench_record_row_time();`);

  // Made and signed before the clock starts, so the sender keeps its pace.
  const nextEvent = eventSource();
  const events = Array.from({ length: rate * durationSeconds }, () => {
    const { body, objectId } = nextEvent();
    const timestamp = Math.floor(Date.now() / 1000);
    return {
      body,
      objectId,
      signature: Stripe.webhooks.generateTestHeaderString({
        payload: body,
        secret: webhookSecret,
        timestamp,
      }),
    };
  });
  note(`projection lag: ${rate} events/s for ${durationSeconds}s`);
  const acknowledged = new Map<string, number>();
  let sent = 0;
  const started = Date.now();
  const result = await autocannon({
    url: `${payfold.url}/api/webhooks/stripe/test`,
    method: 'POST',
    connections: 32,
    overallRate: rate,
    amount: events.length,
    headers: { 'content-type': 'application/json' },
    requests: [
      {
        setupRequest: (request, context) => {
          const event = events[sent++ % events.length] as (typeof events)[number];
          (context as { objectId?: string }).objectId = event.objectId;
          return {
            ...request,
            body: event.body,
            headers: { ...request.headers, 'stripe-signature': event.signature },
          };
        },
        onResponse: (status, _body, context) => {
          const { objectId } = context as { objectId?: string };
          if (status === 200 && objectId) acknowledged.set(objectId, Date.now());
        },
      },
    ],
  });
  const failures = result.non2xx + result.errors;
  const sentSeconds = (Date.now() - started) / 1000;

  // Wait for the projection to catch up, then read when each row was written.
  const deadline = Date.now() + 60_000;
  let rows: Array<{ object_id: string; written_at: Date }> = [];
  while (Date.now() < deadline) {
    rows = (await client.query('select object_id, written_at from public.bench_row_times')).rows;
    if (rows.length >= acknowledged.size) break;
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
    const ackedAt = acknowledged.get(row.object_id);
    // The row can be written before the client has read its 2xx: that is no lag at all.
    if (ackedAt !== undefined) lags.push(Math.max(0, row.written_at.getTime() - ackedAt));
  }
  lags.sort((a, b) => a - b);
  return {
    measure: 'projection_lag',
    setup: { target_events_per_s: rate, duration_s: durationSeconds },
    budget: { p99_ms: 250 },
    payfold: {
      sent_events_per_s: Math.round(acknowledged.size / sentSeconds),
      acknowledged: acknowledged.size,
      failed: failures,
      projected: lags.length,
      missing: acknowledged.size - lags.length,
      p50_ms: median(lags),
      p99_ms: percentile(lags, 99),
      max_ms: lags.at(-1) ?? null,
      payments_batches: batches,
      payments_mean_batch_ms: Math.round((metric('payfold_projection_batch_seconds_sum') / batches) * 1000),
      payments_mean_batch_entries: Math.round(metric('payfold_projection_batch_entries_sum') / batches),
    },
    peer: null,
    within_budget: percentile(lags, 99) <= 250 && lags.length === acknowledged.size,
  };
};
