import type { ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, eventually, type TestDatabase } from './support/database.js';
import { payfoldProcessEnv, postWebhook, startServeProcess, testWebhookSecret } from './support/server.js';
import { freshEvent, loadEventFixtures, sign } from './support/stripe-events.js';

const customers = 40;
const versions = 30;

/** The process whose connection holds a projection's advisory lock in this database, by the pid in its name. */
const leaderOf = async (db: TestDatabase, projection: string): Promise<number | undefined> => {
  const { rows } = await db.pool.query<{ application_name: string }>(
    `select a.application_name from pg_locks l join pg_stat_activity a on a.pid = l.pid
     where l.locktype = 'advisory' and l.granted and l.classid = 7402711 and l.objid = hashtext($1)::oid
       and l.database = (select oid from pg_database where datname = current_database())`,
    [projection],
  );
  const name = rows[0]?.application_name.match(/^payfold projection leader (\d+)$/)?.[1];
  return name ? Number(name) : undefined;
};

describe('three payfold serve processes on one Postgres', () => {
  let db: TestDatabase;
  const processes: Array<{ child: ChildProcess; url: string }> = [];

  beforeAll(async () => {
    db = await createTestDatabase();
    // The app's fulfillment trigger: one row per change it sees.
    await db.pool.query(`
      create table public.customer_changes (id bigserial, customer_id text, name text);
      create function public.record_customer_change() returns trigger language plpgsql as $$
      begin
        insert into public.customer_changes (customer_id, name) values (new.customer_id, new.name);
        return new;
      end $$;
      create trigger record_customer_change after insert or update on payments.customers
        for each row execute function public.record_customer_change()`);
    for (let index = 0; index < 3; index += 1) {
      processes.push(await startServeProcess([], payfoldProcessEnv(db.url, 0)));
    }
  }, 90_000);
  afterAll(async () => {
    for (const { child } of processes) child.kill('SIGKILL');
    await db.drop();
  });

  it('project each projection in one process; when it is killed mid-stream another takes over, and the tables converge with no trigger firing twice', async () => {
    const fixture = loadEventFixtures().find((candidate) => candidate.file === 'customer_updated.json');
    if (!fixture) throw new Error('customer_updated.json fixture missing');
    const start = Math.floor(Date.now() / 1000) - versions;
    // Every customer renamed `versions` times, a second apart, the versions delivered in order.
    const bodies = Array.from({ length: versions }, (_, version) =>
      Array.from({ length: customers }, (_, customer) => {
        const event = freshEvent(fixture, { livemode: false, created: start + version });
        event.data = {
          ...event.data,
          object: { ...event.data.object, id: `cus_multi_${customer}`, name: `v${version}`, metadata: {} },
        };
        return JSON.stringify(event);
      }),
    ).flat();

    const leaders = new Set([await leaderOf(db, 'payments'), await leaderOf(db, 'webhook_events')]);
    expect(leaders.has(undefined)).toBe(false);
    const alive = new Set(processes);
    // A load balancer: each delivery to a live process, the next one if it refuses.
    let turn = 0;
    const deliver = async (body: string): Promise<void> => {
      for (;;) {
        const live = [...alive];
        const target = live[turn++ % live.length] as (typeof processes)[number];
        try {
          const answer = await postWebhook(target.url, 'test', body, {
            'stripe-signature': sign(body, testWebhookSecret),
          });
          if (answer.status === 200) return;
        } catch {}
      }
    };
    const sendAll = async (batch: string[]) => {
      for (let index = 0; index < batch.length; index += 16)
        await Promise.all(batch.slice(index, index + 16).map(deliver));
    };
    const half = bodies.length / 2;
    await sendAll(bodies.slice(0, half));

    const killedPid = await leaderOf(db, 'payments');
    const killed = processes.find(({ child }) => child.pid === killedPid);
    if (!killed) throw new Error('no process leads the payments projection');
    const behind = await db.pool.query<{ n: number }>(
      "select count(*)::int as n from payfold.events where position > (select position from payfold.projection_checkpoints where projection = 'payments')",
    );
    killed.child.kill('SIGKILL');
    alive.delete(killed);
    const killedAt = Date.now();
    const sending = sendAll(bodies.slice(half));
    let newLeader: number | undefined;
    await eventually(async () => {
      newLeader = await leaderOf(db, 'payments');
      expect(newLeader).toBeDefined();
      expect(newLeader).not.toBe(killedPid);
    }, 10_000);
    const takeoverMs = Date.now() - killedAt;
    expect(takeoverMs).toBeLessThan(5000);
    await sending;

    await eventually(async () => {
      const { rows } = await db.pool.query<{ n: number }>(
        'select count(*)::int as n from payments.webhook_events',
      );
      expect(rows[0]?.n).toBe(bodies.length);
      const names = await db.pool.query<{ name: string; n: number }>(
        'select name, count(*)::int as n from payments.customers group by name',
      );
      expect(names.rows).toEqual([{ name: `v${versions - 1}`, n: customers }]);
    }, 60_000);
    const twice = await db.pool.query(
      'select customer_id, name, count(*)::int as n from public.customer_changes group by 1, 2 having count(*) > 1',
    );
    expect(twice.rows).toEqual([]);
    const last = await db.pool.query<{ n: number }>(
      `select count(*)::int as n from payments.customers c where c.name = (
         select name from public.customer_changes f where f.customer_id = c.customer_id order by f.id desc limit 1)`,
    );
    expect(last.rows[0]?.n).toBe(customers);
    console.info(
      `multi-process: killed the payments leader (pid ${killedPid}) ${behind.rows[0]?.n} entries behind the head; pid ${newLeader} led it ${takeoverMs} ms later`,
    );
  }, 120_000);
});
