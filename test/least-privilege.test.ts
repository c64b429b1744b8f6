import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { projectors } from '../src/projections/index.js';
import { createTestDatabase, eventually, type TestDatabase } from './support/database.js';
import { postWebhook, startTestServer, type TestServer, testWebhookSecret } from './support/server.js';
import { freshEvent, loadEventFixtures, sign } from './support/stripe-events.js';

const adminToken = 'admin-token-for-the-privilege-tests';

describe('least privilege: serving as a role that does not own the log', () => {
  let db: TestDatabase;
  let server: TestServer;
  let servingUrl: string;
  const role = `payfold_serving_${randomBytes(4).toString('hex')}`;

  const asServing = async <T>(run: (client: pg.Client) => Promise<T>): Promise<T> => {
    const client = new pg.Client({ connectionString: servingUrl });
    await client.connect();
    try {
      return await run(client);
    } finally {
      await client.end();
    }
  };
  const refusal = (sql: string) =>
    asServing(async (client) => {
      try {
        await client.query(sql);
        return 'allowed';
      } catch (error) {
        return (error as { code?: string }).code;
      }
    });

  beforeAll(async () => {
    db = await createTestDatabase();
    await db.pool.query(`create role ${role} login password 'serving-password'`);
    const url = new URL(db.url);
    url.username = role;
    url.password = 'serving-password';
    servingUrl = url.toString();
    // Migrations as the owner (here the test cluster's superuser), serving as the new role.
    server = await startTestServer(servingUrl, {
      PAYFOLD_MIGRATION_DATABASE_URL: db.url,
      PAYFOLD_ADMIN_TOKEN: adminToken,
    });
  });
  afterAll(async () => {
    await server.payfold.close();
    await db.drop();
    const admin = new pg.Client({ connectionString: db.url.replace(/\/[^/]+$/, '/postgres') });
    await admin.connect();
    await admin.query(`drop role if exists ${role}`).catch(() => undefined);
    await admin.end();
  });

  it('stores and projects webhooks, and rebuilds, with the grants the migrations gave it', async () => {
    const fixture = loadEventFixtures().find((f) => f.file === 'customer_updated.json');
    const event = freshEvent(fixture as NonNullable<typeof fixture>, { livemode: false });
    event.data = { ...event.data, object: { ...event.data.object, id: 'cus_served_by_a_lesser_role' } };
    const body = JSON.stringify(event);
    expect(
      (await postWebhook(server.url, 'test', body, { 'stripe-signature': sign(body, testWebhookSecret) }))
        .status,
    ).toBe(200);
    await eventually(async () => {
      const { rows } = await db.pool.query(
        "select count(*)::int as n from payments.customers where customer_id = 'cus_served_by_a_lesser_role'",
      );
      expect(rows).toEqual([{ n: 1 }]);
    });
    // The session tables have row-level security, which applies to a role that does not own them.
    const checkoutFixture = loadEventFixtures().find((f) => f.file === 'checkout_session_completed.json');
    const checkoutEvent = freshEvent(checkoutFixture as NonNullable<typeof checkoutFixture>, {
      livemode: false,
    });
    const checkoutBody = JSON.stringify(checkoutEvent);
    expect(
      (
        await postWebhook(server.url, 'test', checkoutBody, {
          'stripe-signature': sign(checkoutBody, testWebhookSecret),
        })
      ).status,
    ).toBe(200);
    await eventually(async () => {
      const { rows } = await db.pool.query(
        'select status from payments.checkout_sessions where checkout_session_id = $1',
        [(checkoutEvent.data.object as { id: string }).id],
      );
      expect(rows).toEqual([{ status: 'completed' }]);
    });
    expect((await db.pool.query('select count(*)::int as n from payfold.projection_errors')).rows[0].n).toBe(
      0,
    );
    const rebuilt = await fetch(`${server.url}/api/admin/projections/rebuild`, {
      method: 'POST',
      headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ quiet: true }),
    });
    expect(rebuilt.status).toBe(200);
    expect(server.logLines.some((line) => line.includes('owns payfold.events'))).toBe(false);
  });

  it('can read and append the log, and nothing more: no update, no delete, no disabling its trigger', async () => {
    expect(await refusal('select count(*) from payfold.events')).toBe('allowed');
    expect(await refusal("update payfold.events set type = 'rewritten'")).toBe('42501');
    expect(await refusal('delete from payfold.events')).toBe('42501');
    expect(await refusal('alter table payfold.events disable trigger events_append_only')).toBe('42501');
    expect(await refusal('truncate payfold.events')).toBe('42501');
  });

  it('switches the change stream (payfold change-stream) though it owns no payments table', async () => {
    expect(await refusal('alter table payments.customers disable trigger payfold_capture_inserts')).toBe(
      '42501',
    );
    const isOn = async () => (await db.pool.query('select payfold.change_stream_is_on() as on')).rows[0].on;
    expect(await refusal('select payfold.switch_change_stream(false)')).toBe('allowed');
    expect(await isOn()).toBe(false);
    expect(await refusal('select payfold.switch_change_stream(true)')).toBe('allowed');
    expect(await isOn()).toBe(true);
  });

  /**
   * Who may run each function of schema payfold. A function nobody listed here fails the test:
   * whoever adds one decides who may run it. Triggers fire without EXECUTE, so trigger functions
   * and what only Payfold's own functions call are the owner's alone.
   */
  const functionGrants: Record<string, ReadonlyArray<'public' | 'anon' | 'authenticated' | 'serving'>> = {
    'payfold.current_user_id()': ['anon', 'authenticated', 'serving'],
    'payfold.jwt_claims()': ['anon', 'authenticated', 'serving'],
    'payfold.read_events(xid8,bigint,integer)': ['serving'],
    'payfold.read_events(xid8,bigint,integer,bigint)': ['serving'],
    'payfold.read_row_changes(xid8,bigint,integer)': ['serving'],
    'payfold.prune_row_changes(interval,integer)': ['serving'],
    'payfold.begin_session_request(text,text,regclass,jsonb,text,boolean,text,text,smallint,text,text,json,boolean,uuid)':
      ['serving'],
    'payfold.prepare_rebuild_shadow(text[])': ['serving'],
    'payfold.drop_rebuild_shadow()': ['serving'],
    'payfold.apply_rebuilt_table(regclass,boolean)': ['serving'],
    'payfold.compare_rebuilt_table(regclass)': ['serving'],
    'payfold.switch_change_stream(boolean)': ['serving'],
    'payfold.change_stream_is_on()': ['serving'],
    'payfold.apply_rebuilt_difference(regclass)': [],
    'payfold.rebuilt_table_shape(regclass)': [],
    'payfold.projection_tables()': [],
    'payfold.require_projection_table(regclass)': [],
    'payfold.grant_serving_role(name)': [],
    'payfold.capture_row_changes()': [],
    'payfold.capture_changes_of_new_tables()': [],
    'payfold.reject_event_change()': [],
    'payfold.notify_events_appended()': [],
  };

  it('lets each role run exactly the functions of schema payfold the allow-list gives it', async () => {
    // As an older Payfold left it (0010 granted every function), then the next start's grants.
    await db.pool.query(`grant execute on all functions in schema payfold to ${role}`);
    await db.pool.query('select payfold.grant_serving_role($1)', [role]);
    const { rows } = await db.pool.query<{ fn: string; grantees: string[] }>(
      `select p.oid::regprocedure::text as fn,
              array_remove(array[
                case when has_function_privilege('public', p.oid, 'execute') then 'public' end,
                case when has_function_privilege('anon', p.oid, 'execute') then 'anon' end,
                case when has_function_privilege('authenticated', p.oid, 'execute') then 'authenticated' end,
                case when has_function_privilege($1, p.oid, 'execute') then 'serving' end], null) as grantees
       from pg_proc p where p.pronamespace = 'payfold'::regnamespace order by 1`,
      [role],
    );
    expect(Object.fromEntries(rows.map((row) => [row.fn, row.grantees]))).toEqual(functionGrants);
  });

  it('pins the search path of every security definer function of its schemas', async () => {
    const { rows } = await db.pool.query(
      `select p.oid::regprocedure::text as fn from pg_proc p
       where p.pronamespace in ('payfold'::regnamespace, 'payments'::regnamespace) and p.prosecdef
         and not exists (select 1 from unnest(p.proconfig) as setting where setting like 'search\\_path=%')`,
    );
    expect(rows).toEqual([]);
  });

  it('lets the rebuild functions act on exactly the tables the projectors declare', async () => {
    const { rows } = await db.pool.query<{ name: string }>(
      'select t::text as name from payfold.projection_tables() as t',
    );
    expect(rows.map((row) => row.name).sort()).toEqual(projectors.flatMap((p) => p.tables).sort());
  });

  describe('the rebuild functions, used to write tables they do not exist for', () => {
    // An app table an RLS policy reads: whoever could write it could bill any team.
    beforeAll(async () => {
      await db.pool.query(`
        create table public.team_members (team_id text not null, user_id text not null, primary key (team_id, user_id));
        insert into public.team_members values ('acme', 'alice');`);
    });
    const attack = (asRole: 'serving' | 'authenticated', target: string, quiet: boolean) =>
      asServing(async (client) => {
        if (asRole === 'authenticated') await client.query('set role authenticated');
        const steps = [
          `select payfold.prepare_rebuild_shadow(array['${target}'])`,
          `insert into payfold_rebuild.${target.split('.')[1]} select * from ${target} limit 0`,
          `select payfold.apply_rebuilt_table('${target}'::regclass, ${quiet})`,
          `select payfold.apply_rebuilt_difference('${target}'::regclass)`,
          `select payfold.compare_rebuilt_table('${target}'::regclass)`,
        ];
        const outcomes: string[] = [];
        for (const step of steps) {
          try {
            await client.query(step);
            outcomes.push('allowed');
          } catch (error) {
            outcomes.push((error as { code?: string }).code ?? 'error');
          }
        }
        return outcomes;
      });

    it.each([
      ['serving', 'public.team_members'],
      ['serving', 'payfold.migrations'],
      ['serving', 'payfold.events'],
      ['authenticated', 'public.team_members'],
      ['authenticated', 'payments.customers'],
    ] as const)('as %s, on %s: refused at every step, and the table is untouched', async (asRole, target) => {
      const before = (await db.pool.query(`select count(*)::int as n from ${target}`)).rows[0].n;
      const outcomes = await attack(asRole, target, true);
      expect(
        outcomes.every((outcome) => outcome === '42501' || outcome === '3F000' || outcome === '42P01'),
      ).toBe(true);
      expect(outcomes[0]).toBe('42501');
      expect((await db.pool.query(`select count(*)::int as n from ${target}`)).rows[0].n).toBe(before);
      expect(
        (
          await db.pool.query(
            "select count(*)::int as n from pg_trigger where tgrelid = 'public.team_members'::regclass and tgenabled = 'D'",
          )
        ).rows[0].n,
      ).toBe(0);
    });

    it('leaves a rebuild under way alone: an end user cannot drop its shadow tables', async () => {
      const outcome = await asServing(async (client) => {
        await client.query('set role authenticated');
        try {
          await client.query('select payfold.drop_rebuild_shadow()');
          return 'allowed';
        } catch (error) {
          return (error as { code?: string }).code;
        }
      });
      expect(outcome).toBe('42501');
    });

    it('lets an end user run only what its policies call', async () => {
      const outcomes = await asServing(async (client) => {
        await client.query('set role authenticated');
        const results: Record<string, string> = {};
        for (const call of [
          'payfold.current_user_id()',
          'payfold.jwt_claims()',
          "payfold.read_events('0'::xid8, 0, 10)",
          'payfold.switch_change_stream(false)',
          "payfold.prune_row_changes('0 seconds', 1000)",
        ]) {
          try {
            await client.query(`select ${call}`);
            results[call] = 'allowed';
          } catch (error) {
            results[call] = (error as { code?: string }).code ?? 'error';
          }
        }
        return results;
      });
      expect(outcomes).toEqual({
        'payfold.current_user_id()': 'allowed',
        'payfold.jwt_claims()': 'allowed',
        "payfold.read_events('0'::xid8, 0, 10)": '42501',
        'payfold.switch_change_stream(false)': '42501',
        "payfold.prune_row_changes('0 seconds', 1000)": '42501',
      });
    });
  });

  it('warns at start when the role serving traffic owns the log', async () => {
    const owner = await startTestServer(db.url);
    try {
      expect(owner.logLines.some((line) => line.includes('owns payfold.events'))).toBe(true);
    } finally {
      await owner.payfold.close();
    }
  });
});
