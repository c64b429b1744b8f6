// `npm run bench`: measures the budgets of SPEC section 7 that exist so far and prints one JSON
// object per measure, with @supabase/stripe-sync-engine measured in the same run where it does the
// same job. Options: --duration <s> (per load, default 20), --rounds <n> (default 1; medians).
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import pg from 'pg';
import { freePort, startEmbeddedCluster } from '../src/adapters/postgres/embedded.js';
import { createSignedEventSource } from './signed-events.js';

const { values: args } = parseArgs({
  options: { duration: { type: 'string', default: '20' }, rounds: { type: 'string', default: '1' } },
});
const durationSeconds = Number(args.duration);
const rounds = Number(args.rounds);
const connections = 64;
const webhookSecret = 'whsec_bench_secret';
const root = path.resolve(import.meta.dirname, '..');

const note = (line: string) => process.stderr.write(`bench: ${line}\n`);

/** Starts a server process and waits until `isReady` says it answers. */
const startChild = async (
  args: string[],
  env: Record<string, string>,
  isReady: (output: string) => Promise<boolean>,
): Promise<ChildProcess> => {
  const child = spawn(process.execPath, args, {
    cwd: root,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.on('data', (chunk) => {
    output += String(chunk);
  });
  child.stderr?.on('data', (chunk) => {
    output += String(chunk);
  });
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`server exited: ${output}`);
    if (await isReady(output).catch(() => false)) return child;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  child.kill('SIGKILL');
  throw new Error(`server did not start: ${output}`);
};

const stopChild = async (child: ChildProcess): Promise<void> => {
  if (child.exitCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await exited;
};

const createDatabase = async (adminUrl: string, name: string): Promise<string> => {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  await client.query(`drop database if exists ${name} with (force)`);
  await client.query(`create database ${name}`);
  await client.end();
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return url.toString();
};

const scalar = async (url: string, sql: string): Promise<number> => {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  const { rows } = await client.query(sql);
  await client.end();
  return Number(Object.values(rows[0] ?? {})[0] ?? 0);
};

interface LoadResult {
  events_per_s: number;
  p50_ms: number;
  p99_ms: number;
  ok: number;
  non_2xx: number;
  errors: number;
}

/** Rough ceiling on what a server can take here, to size the pre-signed pool of events. */
const maxEventsPerSecond = 12_000;

const hasWrk = spawnSync('wrk', ['--version']).error === undefined;
const loadGenerator = hasWrk ? 'wrk' : 'autocannon';

/**
 * The load generator shares the two cores with the server and Postgres, so it has to be light:
 * wrk (C) when it is installed, autocannon otherwise (it costs about a core at 7,500 requests/s
 * here, and caps what any server can show). Events are signed before the clock starts.
 */
const webhookLoad = async (url: string): Promise<LoadResult> => {
  const nextEvent = createSignedEventSource(webhookSecret);
  const count = maxEventsPerSecond * durationSeconds;
  return hasWrk ? wrkLoad(url, count, nextEvent) : autocannonLoad(url, count, nextEvent);
};

type SignedEvent = { body: string; signature: string };

const wrkLoad = async (url: string, count: number, nextEvent: () => SignedEvent): Promise<LoadResult> => {
  const directory = await mkdtemp(path.join(tmpdir(), 'payfold-bench-events-'));
  const file = path.join(directory, 'events.tsv');
  const out = createWriteStream(file);
  for (let written = 0; written < count; written += 1) {
    const event = nextEvent();
    if (!out.write(`${written ? '\n' : ''}${event.signature}\t${event.body}`)) await once(out, 'drain');
  }
  await new Promise((resolve) => out.end(resolve));
  try {
    const script = path.join(import.meta.dirname, 'webhook-load.lua');
    const args = [
      '-t1',
      `-c${connections}`,
      `-d${durationSeconds}s`,
      '--latency',
      '-s',
      script,
      url,
      '--',
      file,
    ];
    const output = await new Promise<string>((resolve, reject) => {
      const child = spawn('wrk', args, { stdio: ['ignore', 'pipe', 'inherit'] });
      let text = '';
      child.stdout.on('data', (chunk) => {
        text += String(chunk);
      });
      child.on('error', reject);
      child.on('exit', () => resolve(text));
    });
    const line = output.split('\n').find((candidate) => candidate.startsWith('WRK_RESULT '));
    if (!line) throw new Error(`wrk printed no result: ${output}`);
    const result = JSON.parse(line.slice('WRK_RESULT '.length));
    const ok = result.requests - result.non_2xx;
    return {
      events_per_s: Math.round(ok / (result.duration_us / 1e6)),
      p50_ms: Math.round(result.p50_us / 100) / 10,
      p99_ms: Math.round(result.p99_us / 100) / 10,
      ok,
      non_2xx: result.non_2xx,
      errors: result.errors,
    };
  } finally {
    await rm(directory, { recursive: true, force: true });
  }
};

const autocannonLoad = async (
  url: string,
  count: number,
  nextEvent: () => SignedEvent,
): Promise<LoadResult> => {
  const events = Array.from({ length: count }, () => nextEvent());
  let sent = 0;
  const result = await autocannon({
    url,
    method: 'POST',
    connections,
    duration: durationSeconds,
    headers: { 'content-type': 'application/json' },
    requests: [
      {
        setupRequest: (request) => {
          // Past the pool, sign on the fly rather than resend a duplicate.
          const event = events[sent++] ?? nextEvent();
          return {
            ...request,
            body: event.body,
            headers: { ...request.headers, 'stripe-signature': event.signature },
          };
        },
      },
    ],
  });
  return {
    events_per_s: Math.round(result['2xx'] / result.duration),
    p50_ms: result.latency.p50,
    p99_ms: result.latency.p99,
    ok: result['2xx'],
    non_2xx: result.non2xx,
    errors: result.errors,
  };
};

const median = (values: number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2
    ? (sorted[middle] as number)
    : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2;
};

const summarise = (results: LoadResult[]) => ({
  events_per_s: median(results.map((r) => r.events_per_s)),
  p50_ms: median(results.map((r) => r.p50_ms)),
  p99_ms: median(results.map((r) => r.p99_ms)),
  ok: results.reduce((sum, r) => sum + r.ok, 0),
  non_2xx: results.reduce((sum, r) => sum + r.non_2xx, 0),
  errors: results.reduce((sum, r) => sum + r.errors, 0),
});

const measureIngest = async (adminUrl: string) => {
  const payfoldResults: LoadResult[] = [];
  const peerResults: LoadResult[] = [];
  let lost = 0;
  for (let round = 0; round < rounds; round += 1) {
    const payfoldUrl = await createDatabase(adminUrl, 'bench_payfold');
    const payfoldPort = await freePort();
    const payfold = await startChild(
      ['bin/payfold.js', 'serve'],
      {
        DATABASE_URL: payfoldUrl,
        PAYFOLD_MASTER_KEY: 'b'.repeat(64),
        STRIPE_WEBHOOK_SECRET_TEST: webhookSecret,
        PORT: String(payfoldPort),
        PAYFOLD_LOG_LEVEL: 'warn',
      },
      async () => (await fetch(`http://127.0.0.1:${payfoldPort}/readyz`)).ok,
    );
    note(`round ${round + 1}/${rounds}: payfold ingest, ${connections} connections, ${durationSeconds}s`);
    const ours = await webhookLoad(`http://127.0.0.1:${payfoldPort}/api/webhooks/stripe/test`);
    await stopChild(payfold);
    // Requests still in flight when the load stops may be stored without their 2xx being counted,
    // so a loss shows as fewer stored events than 2xx answers, never as more.
    lost += Math.max(0, ours.ok - (await scalar(payfoldUrl, 'select count(*) from payfold.events')));
    payfoldResults.push(ours);

    const peerUrl = await createDatabase(adminUrl, 'bench_peer');
    const peerPort = await freePort();
    const peer = await startChild(
      ['--import', 'tsx', 'bench/stripe-sync-engine-server.ts'],
      {
        BENCH_PEER_DATABASE_URL: peerUrl,
        BENCH_WEBHOOK_SECRET: webhookSecret,
        BENCH_PEER_PORT: String(peerPort),
        BENCH_CLOSED_PORT: String(await freePort()),
      },
      async (output) => output.includes('ready'),
    );
    note(`round ${round + 1}/${rounds}: @supabase/stripe-sync-engine ingest`);
    peerResults.push(await webhookLoad(`http://127.0.0.1:${peerPort}/`));
    await stopChild(peer);
  }
  const payfold = { ...summarise(payfoldResults), lost };
  const peer = summarise(peerResults);
  return {
    measure: 'webhook_ingest',
    setup: {
      event_bytes: 4096,
      connections,
      duration_s: durationSeconds,
      rounds,
      durable_commits: true,
      load_generator: loadGenerator,
    },
    budget: { events_per_s: 5000, p99_ms: 50, lost: 0 },
    payfold,
    peer: { name: '@supabase/stripe-sync-engine', ...peer },
    ratio_events_per_s: Number((payfold.events_per_s / Math.max(1, peer.events_per_s)).toFixed(2)),
    within_budget: payfold.events_per_s >= 5000 && payfold.p99_ms <= 50 && lost === 0,
  };
};

const main = async () => {
  let adminUrl = process.env.BENCH_DATABASE_URL;
  let stopCluster: () => Promise<void> = async () => undefined;
  if (!adminUrl) {
    const parent = await mkdtemp(path.join(tmpdir(), 'payfold-bench-'));
    await chmod(parent, 0o755);
    note('starting a throwaway embedded Postgres');
    const cluster = await startEmbeddedCluster({
      dataDirectory: path.join(parent, 'postgres'),
      persistent: false,
    });
    adminUrl = cluster.url;
    stopCluster = cluster.stop;
  }
  try {
    process.stdout.write(`${JSON.stringify(await measureIngest(adminUrl))}\n`);
  } finally {
    await stopCluster();
  }
};

await main();
