// The webhook_to_row measure: N distinct signed events (fixture-shaped, the ingest measure's mix)
// sent once each over 64 connections; for Payfold the clock stops when every projection's
// checkpoint has reached the log head (all events are in the tables), for
// @supabase/stripe-sync-engine, which writes its tables inside the request, at its last answer.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import autocannon from 'autocannon';
import pg from 'pg';
import { createSignedEventSource } from './signed-events.js';
import { createDatabase, note, startPayfold, startPeer, webhookSecret } from './support.js';

const connections = 64;
const budget = { events_per_s: 4000, ratio_to_peer: 3 };

const hasWrk = spawnSync('wrk', ['--version']).error === undefined;

type SignedEvent = { body: string; signature: string };

/** Each pre-signed event exactly once, with wrk; resolves when the last one has been answered. */
const sendEachWithWrk = async (url: string, events: SignedEvent[]) => {
  const directory = await mkdtemp(path.join(tmpdir(), 'payfold-bench-once-'));
  const file = path.join(directory, 'events.tsv');
  await writeFile(file, ['-\t-', ...events.map((event) => `${event.signature}\t${event.body}`)].join('\n'));
  try {
    const script = path.join(import.meta.dirname, 'webhook-once.lua');
    const output = await new Promise<string>((resolve, reject) => {
      const child = spawn('wrk', ['-t1', `-c${connections}`, '-d600s', '-s', script, url, '--', file], {
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      let text = '';
      child.stdout.on('data', (chunk) => {
        text += String(chunk);
        // Every event is answered: wrk would otherwise wait out its whole duration.
        if (text.includes('WRK_EVENTS ')) child.kill('SIGINT');
      });
      child.on('error', reject);
      child.on('exit', () => resolve(text));
    });
    const line = output.split('\n').find((candidate) => candidate.startsWith('WRK_EVENTS '));
    if (!line) throw new Error(`wrk printed no result: ${output}`);
    const result = JSON.parse(line.slice('WRK_EVENTS '.length)) as { answered: number; ok: number };
    return { ok: result.ok, non_2xx: result.answered - result.ok, errors: 0 };
  } finally {
    await rm(directory, { recursive: true, force: true });
  }
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
  const peerEvents = Array.from({ length: count }, () => source());

  const databaseUrl = await createDatabase(adminUrl, 'bench_webhook_to_row');
  const payfold = await startPayfold(databaseUrl);
  note(`payfold: ${count} events over ${connections} connections, until every checkpoint is at the head`);
  const started = performance.now();
  const ours = await sendEach(`${payfold.url}/api/webhooks/stripe/test`, payfoldEvents);
  const acknowledged = (performance.now() - started) / 1000;
  await waitUntilProjected(databaseUrl);
  const inTables = (performance.now() - started) / 1000;
  await payfold.stop();

  const peer = await startPeer(adminUrl, 'bench_webhook_to_row_peer');
  note('@supabase/stripe-sync-engine: the same load, until its last answer');
  const peerStarted = performance.now();
  const theirs = await sendEach(peer.url, peerEvents);
  const peerSeconds = (performance.now() - peerStarted) / 1000;
  await peer.stop();

  const eventsPerSecond = Math.round(ours.ok / inTables);
  const peerEventsPerSecond = Math.round(theirs.ok / peerSeconds);
  const ratio = Number((eventsPerSecond / Math.max(1, peerEventsPerSecond)).toFixed(2));
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
    peer: {
      name: '@supabase/stripe-sync-engine',
      all_in_tables_s: Number(peerSeconds.toFixed(1)),
      events_per_s: peerEventsPerSecond,
      ...theirs,
    },
    ratio_events_per_s: ratio,
    within_budget: eventsPerSecond >= budget.events_per_s && ratio >= budget.ratio_to_peer,
  };
};
