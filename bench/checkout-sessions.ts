// The checkout_sessions measure: `payfold serve` answering POST /api/payments/checkout-sessions
// for a signed-in member of a team, against the Stripe emulator (its own process, so that the two
// share the cores as Payfold and Stripe never would), for a fixed time at 32 connections. Every
// request is a new session: its row written as the caller under an RLS policy, its log entries, the
// Stripe call, and the projection of all of it running in the same process. The gateway's rate
// limit is raised for the emulator (PAYFOLD_STRIPE_REQUESTS_PER_SECOND), as Stripe's own test
// mode would not allow this rate. No peer figure: @supabase/stripe-sync-engine creates no sessions.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import autocannon from 'autocannon';
import { SignJWT } from 'jose';
import pg from 'pg';
import Stripe from 'stripe';
import { freePort } from '../src/adapters/postgres/embedded.js';
import { createDatabase, noPeerFigures, note, startChild, startPayfold, stopChild } from './support.js';
import { hasWrk, runWrkScript } from './wrk.js';

const connections = 32;
const jwtSecret = 'bench-jwt-secret-of-at-least-32-characters';

const benchPolicy = `
  create table public.team_members (team_id text not null, user_id text not null, primary key (team_id, user_id));
  grant select on public.team_members to authenticated;
  create policy bill_own_teams on payments.checkout_sessions for insert to authenticated
    with check (subject_type = 'team' and exists (
      select 1 from public.team_members m where m.team_id = subject_id and m.user_id = payfold.current_user_id()));
  insert into public.team_members values ('team-bench', 'user-bench');
`;

interface Load {
  requests: number;
  seconds: number;
  non2xx: number;
  errors: number;
  p50Ms: number;
  p99Ms: number;
}

const wrkLoad = async (url: string, token: string, body: string, seconds: number): Promise<Load> => {
  const directory = await mkdtemp(path.join(tmpdir(), 'payfold-bench-sessions-'));
  const file = path.join(directory, 'request.txt');
  await writeFile(file, `${token}\n${body}\n`);
  try {
    const result = await runWrkScript({
      script: 'session-load.lua',
      url,
      connections,
      durationSeconds: seconds,
      scriptArgs: [file],
      tag: 'WRK_RESULT ',
    });
    return {
      requests: result.requests as number,
      seconds: (result.duration_us as number) / 1e6,
      non2xx: result.non_2xx as number,
      errors: result.errors as number,
      p50Ms: (result.p50_us as number) / 1000,
      p99Ms: (result.p99_us as number) / 1000,
    };
  } finally {
    await rm(directory, { recursive: true, force: true });
  }
};

const autocannonLoad = async (url: string, token: string, body: string, seconds: number): Promise<Load> => {
  const result = await autocannon({
    url,
    method: 'POST',
    connections,
    duration: seconds,
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body,
  });
  return {
    requests: result.requests.total,
    seconds,
    non2xx: result.non2xx,
    errors: result.errors,
    p50Ms: result.latency.p50,
    p99Ms: result.latency.p99,
  };
};

export const measureCheckoutSessions = async (adminUrl: string, seconds: number) => {
  const databaseUrl = await createDatabase(adminUrl, 'payfold_bench_sessions');
  const emulatorPort = await freePort();
  const emulator = await startChild(
    ['emulator/bin/stripe-emulator.js', '--port', String(emulatorPort)],
    {},
    async () => (await fetch(`http://127.0.0.1:${emulatorPort}/v1/account`)).status < 500,
  );
  const stripeApiBase = `http://127.0.0.1:${emulatorPort}`;
  const payfold = await startPayfold(databaseUrl, {
    PAYFOLD_JWT_SECRET: jwtSecret,
    STRIPE_API_BASE: stripeApiBase,
    STRIPE_SECRET_KEY_TEST: 'sk_test_bench_sessions',
    PAYFOLD_STRIPE_REQUESTS_PER_SECOND: '10000',
  });
  try {
    const client = new pg.Client({ connectionString: databaseUrl });
    await client.connect();
    await client.query(benchPolicy);
    await client.end();
    const stripe = new Stripe('sk_test_bench_builder', {
      host: '127.0.0.1',
      port: emulatorPort,
      protocol: 'http',
    });
    const product = await stripe.products.create({ name: 'Seats' });
    const price = await stripe.prices.create({
      product: product.id,
      currency: 'usd',
      unit_amount: 1500,
      recurring: { interval: 'month' },
    });
    const token = await new SignJWT({ sub: 'user-bench' })
      .setProtectedHeader({ alg: 'HS256' })
      .setExpirationTime('1h')
      .sign(new TextEncoder().encode(jwtSecret));
    const body = JSON.stringify({
      environment: 'test',
      mode: 'subscription',
      subject: { type: 'team', id: 'team-bench' },
      lineItems: [{ stripePriceId: price.id, quantity: 1 }],
      successUrl: 'https://app.example.com/done',
      cancelUrl: 'https://app.example.com/billing',
    });
    const url = `${payfold.url}/api/payments/checkout-sessions`;
    const probe = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body,
    });
    if (probe.status !== 201)
      throw new Error(`the session API answered ${probe.status}: ${await probe.text()}`);
    note(`creating Checkout Sessions for ${seconds} s at ${connections} connections`);
    const load = await (hasWrk ? wrkLoad : autocannonLoad)(url, token, body, seconds);
    return {
      measure: 'checkout_sessions',
      setup: {
        connections,
        seconds,
        load_generator: hasWrk ? 'wrk' : 'autocannon',
        stripe: 'emulator process',
      },
      budget: { sessions_per_s: 500, p99_ms: 50 },
      payfold: {
        sessions_per_s: Math.round((load.requests - load.non2xx - load.errors) / load.seconds),
        p50_ms: Number(load.p50Ms.toFixed(1)),
        p99_ms: Number(load.p99Ms.toFixed(1)),
        non_2xx: load.non2xx,
        errors: load.errors,
      },
      peers: noPeerFigures('creates no Checkout Sessions'),
    };
  } finally {
    await payfold.stop();
    await stopChild(emulator);
  }
};
