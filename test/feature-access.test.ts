import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from './support/database.js';
import { readmeText } from './support/readme.js';
import { liveWebhookSecret, postWebhook, startTestServer, type TestServer } from './support/server.js';
import { freshEventId, sign } from './support/stripe-events.js';

const root = path.resolve(import.meta.dirname, '..');
const exampleSql = readFileSync(path.join(root, 'examples/feature-access.sql'), 'utf8');
const sessionPoliciesSql = readFileSync(path.join(root, 'examples/session-policies.sql'), 'utf8');

const second = 1_770_000_000;

const liveEvent = (type: string, created: number, object: Record<string, unknown>, previous?: object) => ({
  id: freshEventId(),
  object: 'event',
  type,
  api_version: '2025-03-31.basil',
  created,
  livemode: true,
  data: { object, ...(previous ? { previous_attributes: previous } : {}) },
});

/** Stripe's summary of a customer's active entitlements, as its webhook carries it (no id). */
const summaryOf = (customer: string, lookupKeys: string[]) => ({
  object: 'entitlements.active_entitlement_summary',
  customer,
  livemode: true,
  entitlements: {
    object: 'list',
    has_more: false,
    url: '/v1/entitlements/active_entitlements',
    data: lookupKeys.map((lookupKey) => ({
      id: `ent_${customer}_${lookupKey}`,
      object: 'entitlements.active_entitlement',
      feature: `feat_${lookupKey}`,
      livemode: true,
      lookup_key: lookupKey,
    })),
  },
});

describe('the README feature access example: a policy and a trigger on payments.entitlements', () => {
  let db: TestDatabase;
  let server: TestServer;
  const deliver = async (...events: Array<ReturnType<typeof liveEvent>>) => {
    for (const item of events) {
      const body = JSON.stringify(item);
      const response = await postWebhook(server.url, 'live', body, {
        'stripe-signature': sign(body, liveWebhookSecret),
      });
      expect(response.status).toBe(200);
    }
    await server.payfold.runner.catchUp();
  };
  /** The report titles a user reads as `authenticated`, through the example's policy. */
  const reportsSeenBy = async (userId: string) => {
    const client = await db.pool.connect();
    try {
      await client.query('begin');
      await client.query('set local role authenticated');
      await client.query(`select set_config('request.jwt.claims', $1, true)`, [
        JSON.stringify({ sub: userId }),
      ]);
      return (await client.query('select title from public.team_reports order by title')).rows.map(
        (row) => row.title,
      );
    } finally {
      await client.query('rollback');
      client.release();
    }
  };
  const featureChanges = async () =>
    (
      await db.pool.query(
        'select subject_id, feature, change from public.feature_changes order by at, change, feature',
      )
    ).rows.map((row) => `${row.subject_id} ${row.change} ${row.feature}`);

  beforeAll(async () => {
    db = await createTestDatabase();
    await db.pool.query(sessionPoliciesSql);
    await db.pool.query(exampleSql);
    await db.pool.query(`
      insert into public.team_members values ('acme', 'ada'), ('globex', 'grace');
      insert into public.team_reports values ('acme', 'Acme Q3'), ('globex', 'Globex Q3');`);
    server = await startTestServer(db.url);
  });
  afterAll(async () => {
    await server.payfold.close();
    await db.drop();
  });

  it('is the SQL the README shows', () => {
    const readme = readmeText();
    expect(readme).toContain(exampleSql.trim());
  });

  it('lets a team’s members read while Stripe entitles the team, and notes the grant once', async () => {
    const granted = liveEvent(
      'entitlements.active_entitlement_summary.updated',
      second,
      summaryOf('cus_acme', ['csv_export', 'reports']),
      { entitlements: summaryOf('cus_acme', []).entitlements },
    );
    await deliver(granted);
    // The entitlement is there, but nothing has named the customer's team yet.
    expect(await reportsSeenBy('ada')).toEqual([]);
    await deliver(
      liveEvent('checkout.session.completed', second + 1, {
        id: 'cs_live_acme',
        object: 'checkout.session',
        mode: 'subscription',
        status: 'complete',
        payment_status: 'paid',
        customer: 'cus_acme',
        metadata: { payfold_subject_type: 'team', payfold_subject_id: 'acme' },
      }),
    );
    expect(await reportsSeenBy('ada')).toEqual(['Acme Q3']);
    // Globex has no entitlement, and Ada is not one of its members anyway.
    expect(await reportsSeenBy('grace')).toEqual([]);
    expect(await featureChanges()).toEqual(['acme granted csv_export', 'acme granted reports']);

    // Redelivered, or the same state under a new event id: no row changes, the trigger stays quiet.
    await deliver(granted, { ...granted, id: freshEventId() });
    expect(await featureChanges()).toEqual(['acme granted csv_export', 'acme granted reports']);
  });

  it('takes the feature away when Stripe’s next summary no longer lists it', async () => {
    await deliver(
      liveEvent(
        'entitlements.active_entitlement_summary.updated',
        second + 100,
        summaryOf('cus_acme', ['csv_export']),
        { entitlements: summaryOf('cus_acme', ['csv_export', 'reports']).entitlements },
      ),
    );
    expect(await reportsSeenBy('ada')).toEqual([]);
    expect(await featureChanges()).toEqual([
      'acme granted csv_export',
      'acme granted reports',
      'acme revoked reports',
    ]);
    expect(
      (
        await db.pool.query(
          `select lookup_key, subject_id from payments.entitlements where environment = 'live'`,
        )
      ).rows,
    ).toEqual([{ lookup_key: 'csv_export', subject_id: 'acme' }]);
  });
});
