// The webhook_to_row measure: N distinct signed events (fixture-shaped, the ingest measure's mix)
// sent once each over 64 connections; for Payfold the clock stops when every projection's
// checkpoint has reached the log head (all events are in the tables), for
// each peer (@supabase/stripe-sync-engine, stripe-experiment-sync), which writes its tables inside
// the request, at its last answer.
import autocannon from 'autocannon';
import pg from 'pg';
import { createSignedEventSource } from './signed-events.js';
import { createDatabase, note, peers, startPayfold, startPeer, webhookSecret } from './support.js';
import { hasWrk, runWrk, type SignedEvent } from './wrk.js';

const connections = 64;
/** SPEC section 7: at least 3x each peer's rate. */
const budget = { ratio_to_each_peer: 3 };

/** Each pre-signed event exactly once, with wrk; resolves when the last one has been answered. */
const sendEachWithWrk = async (url: string, events: SignedEvent[]) => {
  const result = await runWrk({ url, connections, events, mode: { kind: 'once' } });
  return { ok: result.ok as number, non_2xx: (result.answered as number) - (result.ok as number), errors: 0 };
};

/** Each pre-signed event exactly once; returns when the last answer has come back. */
const sendEach = async (url: string, events: SignedEvent[]) =>
  hasWrk ? sendEachWithWrk(url, events) : sendEachWithAutocannon(url, events);

/** autocannon (about a core for itself here): the fallback when wrk is not installed. */
const sendEachWithAutocannon = async (url: string, events: SignedEvent[]) => {
  let next = 0;
  const result = await autocannon({
    url,
    method: 'POST',
    connections,
    amount: events.length,
    headers: { 'content-type': 'application/json' },
    requests: [
      {
        setupRequest: (request) => {
          const event = events[next++ % events.length] as { body: string; signature: string };
          return {
            ...request,
            body: event.body,
            headers: { ...request.headers, 'stripe-signature': event.signature },
          };
        },
      },
    ],
  });
  return { ok: result['2xx'], non_2xx: result.non2xx, errors: result.errors };
};

/** True once every projection has applied every entry committed to the log. */
const projectionsCaughtUpSql = `
  select count(*) > 0 and bool_and(not exists (
    select 1 from payfold.events e where (e.transaction_id, e.position) > (c.transaction_id, c.position)
  )) as caught_up
  from payfold.projection_checkpoints c`;

const waitUntilProjected = async (databaseUrl: string): Promise<void> => {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    for (;;) {
      const { rows } = await client.query<{ caught_up: boolean }>(projectionsCaughtUpSql);
      if (rows[0]?.caught_up) return;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  } finally {
    await client.end();
  }
};

export const measureWebhookToRow = async (adminUrl: string, count: number) => {
  const source = createSignedEventSource(webhookSecret);
  const payfoldEvents = Array.from({ length: count }, () => source());

  const databaseUrl = await createDatabase(adminUrl, 'bench_webhook_to_row');
  const payfold = await startPayfold(databaseUrl);
  note(`payfold: ${count} events over ${connections} connections, until every checkpoint is at the head`);
  const started = performance.now();
  const ours = await sendEach(`${payfold.url}/api/webhooks/stripe/test`, payfoldEvents);
  const acknowledged = (performance.now() - started) / 1000;
  await waitUntilProjected(databaseUrl);
  const inTables = (performance.now() - started) / 1000;
  await payfold.stop();
  const eventsPerSecond = Math.round(ours.ok / inTables);

  const measuredPeers = [];
  for (const peer of peers) {
    const events = Array.from({ length: count }, () => source());
    const running = await startPeer(adminUrl, peer, 'bench_webhook_to_row_peer');
    note(`${peer.name}: the same load, until its last answer`);
    const peerStarted = performance.now();
    const theirs = await sendEach(running.url, events);
    const peerSeconds = (performance.now() - peerStarted) / 1000;
    await running.stop();
    const peerEventsPerSecond = Math.round(theirs.ok / peerSeconds);
    measuredPeers.push({
      name: peer.name,
      all_in_tables_s: Number(peerSeconds.toFixed(1)),
      events_per_s: peerEventsPerSecond,
      ...theirs,
      ratio_events_per_s: Number((eventsPerSecond / Math.max(1, peerEventsPerSecond)).toFixed(2)),
    });
  }
  return {
    measure: 'webhook_to_row',
    setup: { events: count, connections, load_generator: hasWrk ? 'wrk' : 'autocannon' },
    budget,
    payfold: {
      all_acknowledged_s: Number(acknowledged.toFixed(1)),
      all_in_tables_s: Number(inTables.toFixed(1)),
      events_per_s: eventsPerSecond,
      ...ours,
    },
    peers: measuredPeers,
    within_budget: measuredPeers.every((peer) => peer.ratio_events_per_s >= budget.ratio_to_each_peer),
  };
};
