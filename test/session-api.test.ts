import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { SignJWT } from 'jose';
import {
  type CheckoutSession,
  type CreateCheckoutSessionInput,
  type CreateCustomerPortalSessionInput,
  type CustomerPortalSession,
  createClient,
} from 'payfold/client';
import type { RunningEmulator } from 'payfold-stripe-emulator';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { z } from 'zod';
import type { CheckoutSessionAnswer, checkoutSessionRequestSchema } from '../src/app/checkout-sessions.js';
import type {
  CustomerPortalSessionAnswer,
  customerPortalSessionRequestSchema,
} from '../src/app/portal-sessions.js';
import { eventually, type TestDatabase } from './support/database.js';
import { readmeText } from './support/readme.js';
import { adminClient, type TestServer } from './support/server.js';
import { emulatorStripe, startServerWithEmulator } from './support/stripe-access.js';

const adminToken = 'admin-token-for-the-session-tests';
const jwtSecret = 'a-jwt-secret-of-at-least-32-characters!';

const root = path.resolve(import.meta.dirname, '..');
/** The README's example policies: a user bills themself and the teams they belong to. */
const examplePolicies = readFileSync(path.join(root, 'examples/session-policies.sql'), 'utf8');

const checkoutTrigger = `
  -- Fulfillment-style trigger: it runs as the caller for the request's first row, so it is
  -- security definer to write where the caller may not.
  create table public.checkout_changes (id uuid, op text, status text, at timestamptz default clock_timestamp());
  create function public.record_checkout_change() returns trigger language plpgsql security definer as $$
  begin
    insert into public.checkout_changes (id, op, status) values (new.id, tg_op, new.status);
    return new;
  end $$;
  create trigger record_checkout_change after insert or update on payments.checkout_sessions
    for each row execute function public.record_checkout_change();

`;

const userToken = (claims: Record<string, unknown>, expiresIn = '10m') =>
  new SignJWT(claims)
    .setProtectedHeader({ alg: 'HS256' })
    .setIssuedAt()
    .setExpirationTime(expiresIn)
    .sign(new TextEncoder().encode(jwtSecret));

// The steps share one account and build on each other (a mapped subject, a completed checkout).
describe('the session API: Checkout and Billing Portal sessions under the caller\u2019s policies', {
  shuffle: false,
}, () => {
  let db: TestDatabase;
  let server: TestServer;
  let emulator: RunningEmulator;
  let priceId: string;
  let oneTimePriceId: string;
  const team = `team-${randomUUID().slice(0, 8)}`;
  let alice: string;
  let aliceId: string;
  let mallory: string;

  const post = async (route: string, body: unknown, token?: string) => {
    const response = await fetch(`${server.url}${route}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(token && { authorization: `Bearer ${token}` }) },
      body: JSON.stringify(body),
    });
    // biome-ignore lint/suspicious/noExplicitAny: answers are checked field by field
    return { status: response.status, body: (await response.json()) as any };
  };
  const checkout = (body: Record<string, unknown>, token: string) =>
    post(
      '/api/payments/checkout-sessions',
      {
        environment: 'test',
        mode: 'subscription',
        subject: { type: 'team', id: team },
        lineItems: [{ stripePriceId: priceId, quantity: 2 }],
        successUrl: 'https://app.example.com/billing/done',
        cancelUrl: 'https://app.example.com/billing',
        ...body,
      },
      token,
    );
  const rows = async (sql: string, values: unknown[] = []) => (await db.pool.query(sql, values)).rows;
  const stripeSessions = () => [...emulator.store.collection('checkout.session').values()];

  beforeAll(async () => {
    ({ db, server, emulator } = await startServerWithEmulator(
      {
        PAYFOLD_ADMIN_TOKEN: adminToken,
        PAYFOLD_JWT_SECRET: jwtSecret,
        PAYFOLD_STRIPE_MAX_RETRIES: '1',
      },
      async (prepared) => {
        await prepared.pool.query(examplePolicies);
        await prepared.pool.query(checkoutTrigger);
      },
    ));
    const stripe = emulatorStripe(emulator);
    const product = await stripe.products.create({ name: 'Team plan' });
    priceId = (
      await stripe.prices.create({
        product: product.id,
        currency: 'usd',
        unit_amount: 1500,
        recurring: { interval: 'month' },
      })
    ).id;
    oneTimePriceId = (await stripe.prices.create({ product: product.id, currency: 'usd', unit_amount: 9900 }))
      .id;
    const connected = await adminClient(server.url, adminToken)('PUT', '/api/admin/payments/config/test', {
      secretKey: 'sk_test_sessions',
    });
    expect(connected.status).toBe(200);
    aliceId = randomUUID();
    await db.pool.query('insert into public.team_members values ($1, $2)', [team, aliceId]);
    alice = await userToken({ sub: aliceId, email: 'alice@example.com' });
    mallory = await userToken({ sub: randomUUID() });
  });
  afterAll(async () => {
    await emulator.stop();
    await server.payfold.close();
    await db.drop();
  });

  it('runs under the policies the README shows', () => {
    expect(readmeText()).toContain(examplePolicies.trim());
  });

  it('refuses a missing, forged or expired token before anything is read', async () => {
    expect((await checkout({}, '')).status).toBe(401);
    const forged = await new SignJWT({ sub: 'x' })
      .setProtectedHeader({ alg: 'HS256' })
      .setExpirationTime('10m')
      .sign(new TextEncoder().encode('another-secret-of-at-least-32-characters'));
    expect(await checkout({}, forged)).toMatchObject({
      status: 401,
      body: { error: { code: 'unauthorized', message: 'The token is not valid' } },
    });
    const expired = await userToken({ sub: 'x' }, '-1m');
    expect((await checkout({}, expired)).body.error.message).toBe('The token has expired');
  });

  it('validates the body: line items, quantities, URLs and reserved metadata', async () => {
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ lineItems: [] }, 'lineItems'],
      [{ lineItems: [{ stripePriceId: priceId, quantity: 1000 }] }, 'lineItems.0.quantity'],
      [{ successUrl: 'javascript:alert(1)' }, 'successUrl'],
      [{ subject: { type: 'team', id: '' } }, 'subject.id'],
      [{ metadata: { payfold_subject_id: 'other-team' } }, 'metadata'],
      [{ surprise: true }, 'body'],
    ];
    for (const [body, field] of cases) {
      const answer = await checkout(body, alice);
      expect(answer.status, field).toBe(400);
      expect(answer.body.error.code).toBe('invalid_request');
      expect(
        answer.body.error.message.startsWith(field === 'body' ? '' : `${field}:`),
        answer.body.error.message,
      ).toBe(true);
    }
  });

  it('lets a member bill their team: the session carries the subject and the request, the row shows it', async () => {
    const answer = await checkout({ customerEmail: 'billing@example.com', metadata: { plan: 'pro' } }, alice);
    expect(answer.status).toBe(201);
    const { checkoutSession } = answer.body;
    expect(checkoutSession).toMatchObject({
      status: 'open',
      mode: 'subscription',
      subject: { type: 'team', id: team },
    });
    expect(checkoutSession.url).toMatch(/^https?:\/\//);
    const session = emulator.store.get('checkout.session', checkoutSession.checkoutSessionId);
    expect(session?.client_reference_id).toBe(checkoutSession.id);
    expect(session?.metadata).toEqual({
      plan: 'pro',
      payfold_subject_type: 'team',
      payfold_subject_id: team,
      payfold_request_id: checkoutSession.id,
    });
    expect(session?.customer_email).toBe('billing@example.com');
    await eventually(async () => {
      expect(
        await rows('select * from payments.checkout_sessions where id = $1', [checkoutSession.id]),
      ).toEqual([
        expect.objectContaining({
          status: 'open',
          checkout_session_id: checkoutSession.checkoutSessionId,
          subject_type: 'team',
          subject_id: team,
          url: checkoutSession.url,
          customer_email: 'billing@example.com',
          last_error: null,
        }),
      ]);
    });
    await server.payfold.runner.catchUp();
    // The request's own row, then Stripe's answer: the projection of the request changed nothing.
    expect(
      await rows('select op, status from public.checkout_changes where id = $1 order by at', [
        checkoutSession.id,
      ]),
    ).toEqual([
      { op: 'INSERT', status: 'initialized' },
      { op: 'UPDATE', status: 'open' },
    ]);
  });

  it('refuses a non-member with 403, and Stripe never hears of it', async () => {
    const before = stripeSessions().length;
    const entriesBefore = await rows(
      "select count(*)::int as n from payfold.events where type like 'session.%'",
    );
    const answer = await checkout({ idempotencyKey: `mallory-${randomUUID()}` }, mallory);
    expect(answer).toMatchObject({ status: 403, body: { error: { code: 'forbidden' } } });
    expect(stripeSessions().length).toBe(before);
    expect(await rows("select count(*)::int as n from payfold.events where type like 'session.%'")).toEqual(
      entriesBefore,
    );
  });

  it('refuses a caller without a user (anon) unless a policy lets anon in', async () => {
    const anonymous = await userToken({ role: 'anon' });
    expect((await checkout({}, anonymous)).status).toBe(403);
  });

  it('answers retries with the same idempotency key with the same session, one Stripe session for 20 at once', async () => {
    const idempotencyKey = `team:${team}:pro-monthly:${randomUUID()}`;
    const answers = await Promise.all(Array.from({ length: 20 }, () => checkout({ idempotencyKey }, alice)));
    expect(answers.map((answer) => answer.status)).toEqual(Array(20).fill(201));
    const ids = new Set(answers.map((answer) => answer.body.checkoutSession.checkoutSessionId));
    expect(ids.size).toBe(1);
    expect(new Set(answers.map((answer) => answer.body.checkoutSession.id)).size).toBe(1);
    const [rowId] = answers.map((answer) => answer.body.checkoutSession.id);
    expect(
      stripeSessions().filter(
        (session) => (session.metadata as Record<string, string> | null)?.payfold_request_id === rowId,
      ),
    ).toHaveLength(1);
    const later = await checkout({ idempotencyKey }, alice);
    expect(later.body.checkoutSession.checkoutSessionId).toBe([...ids][0]);
    expect(
      await rows('select count(*)::int as n from payments.checkout_sessions where idempotency_key = $1', [
        idempotencyKey,
      ]),
    ).toEqual([{ n: 1 }]);
  });

  it('refuses a reused key with another body', async () => {
    const idempotencyKey = `team:${team}:reuse:${randomUUID()}`;
    expect((await checkout({ idempotencyKey }, alice)).status).toBe(201);
    expect(
      await checkout({ idempotencyKey, lineItems: [{ stripePriceId: priceId, quantity: 5 }] }, alice),
    ).toMatchObject({
      status: 409,
      body: { error: { code: 'idempotency_conflict' } },
    });
  });

  it('scopes keys to the caller: a key another user took first names their request, not the team\u2019s', async () => {
    // The README's key pattern, taken first by a user who bills only himself.
    const idempotencyKey = `team:${team}:pro-monthly:${randomUUID()}`;
    const malloryOwn = await userToken({ sub: 'mallory-user' });
    const his = await checkout({ idempotencyKey, subject: { type: 'user', id: 'mallory-user' } }, malloryOwn);
    expect(his.status).toBe(201);
    const ours = await checkout({ idempotencyKey }, alice);
    expect(ours.status).toBe(201);
    expect(ours.body.checkoutSession).toMatchObject({ status: 'open', subject: { type: 'team', id: team } });
    expect(ours.body.checkoutSession.id).not.toBe(his.body.checkoutSession.id);
    expect(JSON.stringify(ours.body)).not.toContain('mallory');
    await eventually(async () => {
      expect(
        await rows(
          'select requested_by, subject_id from payments.checkout_sessions where idempotency_key = $1 order by created_at',
          [idempotencyKey],
        ),
      ).toEqual([
        { requested_by: 'mallory-user', subject_id: 'mallory-user' },
        { requested_by: aliceId, subject_id: team },
      ]);
    });
  });

  it('refuses an idempotency key from an anonymous caller, whose token every visitor shares', async () => {
    const anonymous = await userToken({ role: 'anon' });
    expect(await checkout({ idempotencyKey: `guest-${randomUUID()}` }, anonymous)).toMatchObject({
      status: 400,
      body: { error: { code: 'idempotency_key_needs_user' } },
    });
  });

  it('starts a new attempt when the key\u2019s session expired, or when the key is over 24 hours old', async () => {
    const idempotencyKey = `team:${team}:expiring:${randomUUID()}`;
    const first = await checkout({ idempotencyKey }, alice);
    await emulatorStripe(emulator).checkout.sessions.expire(first.body.checkoutSession.checkoutSessionId);
    const second = await checkout({ idempotencyKey }, alice);
    expect(second.status).toBe(201);
    expect(second.body.checkoutSession).toMatchObject({
      status: 'open',
      url: expect.stringMatching(/^https?:/),
    });
    expect(second.body.checkoutSession.id).not.toBe(first.body.checkoutSession.id);
    expect(second.body.checkoutSession.checkoutSessionId).not.toBe(
      first.body.checkoutSession.checkoutSessionId,
    );
    // Retries of the new attempt answer it.
    const again = await checkout({ idempotencyKey }, alice);
    expect(again.body.checkoutSession.id).toBe(second.body.checkoutSession.id);
    await eventually(async () => {
      expect(
        await rows(
          'select id, status from payments.checkout_sessions where idempotency_key = $1 order by created_at',
          [idempotencyKey],
        ),
      ).toEqual([
        { id: first.body.checkoutSession.id, status: 'expired' },
        { id: second.body.checkoutSession.id, status: 'open' },
      ]);
    });
    // A key names an attempt for 24 hours, as Stripe's do.
    await db.pool.query(
      "update payments.checkout_sessions set created_at = created_at - interval '25 hours' where idempotency_key = $1",
      [idempotencyKey],
    );
    const nextDay = await checkout({ idempotencyKey }, alice);
    expect(nextDay.status).toBe(201);
    expect([first, second].map((answer) => answer.body.checkoutSession.id)).not.toContain(
      nextDay.body.checkoutSession.id,
    );
  });

  it('records a Stripe failure as failed with last_error (502), and a retry with the same key creates the session', async () => {
    const idempotencyKey = `team:${team}:flaky:${randomUUID()}`;
    emulator.setFaults({
      api: { seed: 1, faults: [{ kind: 'server_error', share: 1, route: 'POST /v1/checkout/sessions' }] },
    });
    const failed = await checkout({ idempotencyKey }, alice);
    emulator.setFaults({});
    expect(failed).toMatchObject({ status: 502, body: { error: { code: 'stripe_unavailable' } } });
    await eventually(async () => {
      expect(
        await rows('select status, last_error from payments.checkout_sessions where idempotency_key = $1', [
          idempotencyKey,
        ]),
      ).toEqual([{ status: 'failed', last_error: expect.stringContaining('Stripe answered 500') }]);
    });
    const retried = await checkout({ idempotencyKey }, alice);
    expect(retried.status).toBe(201);
    await eventually(async () => {
      expect(
        await rows(
          'select status, last_error, url from payments.checkout_sessions where idempotency_key = $1',
          [idempotencyKey],
        ),
      ).toEqual([{ status: 'open', last_error: null, url: retried.body.checkoutSession.url }]);
    });
  });

  it('answers 400 when Stripe refuses the request itself (an unknown price), recorded the same way', async () => {
    const answer = await checkout({ lineItems: [{ stripePriceId: 'price_missing', quantity: 1 }] }, alice);
    expect(answer).toMatchObject({ status: 400, body: { error: { code: 'stripe_refused' } } });
    expect(answer.body.error.message).toContain('price_missing');
  });

  it('opens no portal for a subject without a customer (404), nor for anon or a non-member (403)', async () => {
    const portal = (token: string, subject = { type: 'team', id: team }) =>
      post(
        '/api/payments/customer-portal-sessions',
        { environment: 'test', subject, returnUrl: 'https://app.example.com/billing' },
        token,
      );
    expect(await portal(alice)).toMatchObject({
      status: 404,
      body: { error: { code: 'no_customer_mapping' } },
    });
    expect((await portal(await userToken({}))).body.error.code).toBe('sign_in_required');
    expect((await portal(mallory)).status).toBe(403);
    expect(await rows('select count(*)::int as n from payments.customer_portal_sessions')).toEqual([
      { n: 0 },
    ]);
  });

  it('completing the Checkout Session fills the row, the subscription, the mapping and the payments of the subject; then a portal opens', async () => {
    const answer = await checkout({ idempotencyKey: `team:${team}:complete` }, alice);
    const { id, checkoutSessionId } = answer.body.checkoutSession;
    emulator.helpers.completeCheckoutSession(checkoutSessionId, { paymentMethod: 'pm_card_visa' });
    await emulator.settled();
    // A retry of the finished attempt says so, with no URL: the app sends the user to its success page.
    expect(await checkout({ idempotencyKey: `team:${team}:complete` }, alice)).toMatchObject({
      status: 201,
      body: { checkoutSession: { id, checkoutSessionId, status: 'completed', url: null } },
    });
    await eventually(async () => {
      const [row] = await rows('select * from payments.checkout_sessions where id = $1', [id]);
      expect(row).toMatchObject({ status: 'completed', payment_status: 'paid', subject_id: team });
      expect(
        await rows(
          'select status, subject_type, subject_id from payments.subscriptions where subscription_id = $1',
          [row.subscription_id],
        ),
      ).toEqual([{ status: 'active', subject_type: 'team', subject_id: team }]);
      expect(
        await rows('select customer_id from payments.customer_mappings where subject_id = $1', [team]),
      ).toEqual([{ customer_id: row.customer_id }]);
      expect(
        await rows('select type, status, amount from payments.payment_history where subject_id = $1', [team]),
      ).toEqual([{ type: 'subscription_invoice', status: 'succeeded', amount: '3000' }]);
    });

    const portal = await post(
      '/api/payments/customer-portal-sessions',
      {
        environment: 'test',
        subject: { type: 'team', id: team },
        returnUrl: 'https://app.example.com/billing',
      },
      alice,
    );
    expect(portal.status).toBe(201);
    expect(portal.body.customerPortalSession.url).toMatch(/^https?:\/\//);
    const [mapping] = await rows('select customer_id from payments.customer_mappings where subject_id = $1', [
      team,
    ]);
    await eventually(async () => {
      expect(
        await rows('select status, customer_id, url, subject_id from payments.customer_portal_sessions'),
      ).toEqual([
        {
          status: 'created',
          customer_id: mapping.customer_id,
          url: portal.body.customerPortalSession.url,
          subject_id: team,
        },
      ]);
    });
    // The account had no portal configuration: Payfold made one, and says so.
    const status = await fetch(`${server.url}/api/admin/payments/status`, {
      headers: { authorization: `Bearer ${adminToken}` },
    });
    const connection = ((await status.json()) as { connections: Array<Record<string, unknown>> })
      .connections[0];
    expect(connection?.portalConfigurationCreatedByPayfold).toMatch(/^bpc_/);
  });

  it('reuses the subject\u2019s customer for its next checkout, and asks Stripe to create one for an unmapped payment', async () => {
    const [mapping] = await rows('select customer_id from payments.customer_mappings where subject_id = $1', [
      team,
    ]);
    const again = await checkout({}, alice);
    expect(
      emulator.store.get('checkout.session', again.body.checkoutSession.checkoutSessionId)?.customer,
    ).toBe(mapping.customer_id);
    const payment = await checkout(
      {
        mode: 'payment',
        subject: { type: 'user', id: aliceId },
        lineItems: [{ stripePriceId: oneTimePriceId, quantity: 1 }],
      },
      alice,
    );
    expect(payment.status).toBe(201);
    const session = emulator.store.get('checkout.session', payment.body.checkoutSession.checkoutSessionId);
    expect(session?.customer_creation).toBe('always');
  });

  it('the SDK answers data or error and never throws; it retries a lost answer only with an idempotency key', async () => {
    const payfold = createClient({ baseUrl: `${server.url}/`, accessToken: () => alice });
    const input = {
      environment: 'test' as const,
      mode: 'subscription' as const,
      subject: { type: 'team', id: team },
      lineItems: [{ stripePriceId: priceId }],
      successUrl: 'https://app.example.com/done',
      cancelUrl: 'https://app.example.com/billing',
    };
    const created = await payfold.payments.createCheckoutSession(input);
    expect(created.error).toBeNull();
    expect(created.data?.checkoutSession.url).toMatch(/^https?:\/\//);

    const refused = await createClient({
      baseUrl: server.url,
      accessToken: mallory,
    }).payments.createCheckoutSession(input);
    expect(refused).toEqual({
      data: null,
      error: { code: 'forbidden', message: expect.any(String), status: 403 },
    });
    const invalid = await payfold.payments.createCustomerPortalSession({
      environment: 'test',
      subject: { type: 'team', id: team },
      returnUrl: 'ftp://nope',
    });
    expect(invalid.error).toMatchObject({ code: 'invalid_request', status: 400 });

    // A connection that drops once: only the request that names its idempotency key is sent again.
    const sent: string[] = [];
    const flaky = (): typeof fetch => {
      let failed = false;
      return async (url, init) => {
        sent.push(String(url));
        if (!failed) {
          failed = true;
          throw new TypeError('fetch failed');
        }
        return fetch(url, init);
      };
    };
    const retrying = createClient({ baseUrl: server.url, accessToken: alice, fetch: flaky() });
    const safe = await retrying.payments.createCheckoutSession({
      ...input,
      idempotencyKey: `sdk-${randomUUID()}`,
    });
    expect(safe.data?.checkoutSession.status).toBe('open');
    expect(sent).toHaveLength(2);
    sent.length = 0;
    const once = createClient({ baseUrl: server.url, accessToken: alice, fetch: flaky() });
    expect(await once.payments.createCheckoutSession(input)).toEqual({
      data: null,
      error: { code: 'network_error', message: 'fetch failed', status: 0 },
    });
    expect(sent).toHaveLength(1);
  });
});

// The SDK's own types say what the API's schemas accept (a drift between them does not compile).
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const checkoutInputMatches: Same<
  CreateCheckoutSessionInput,
  z.input<typeof checkoutSessionRequestSchema>
> = true;
const portalInputMatches: Same<
  CreateCustomerPortalSessionInput,
  z.input<typeof customerPortalSessionRequestSchema>
> = true;
const checkoutAnswerMatches: Same<CheckoutSession, CheckoutSessionAnswer> = true;
const portalAnswerMatches: Same<CustomerPortalSession, CustomerPortalSessionAnswer> = true;
void [checkoutInputMatches, portalInputMatches, checkoutAnswerMatches, portalAnswerMatches];
