import { readdirSync } from 'node:fs';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { type RunningEmulator, startEmulator } from 'payfold-stripe-emulator';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { countRows, createTestDatabase, type TestDatabase, urlWithoutPassword } from './support/database.js';
import { signalStarted } from './support/processes.js';
import {
  payfoldProcessEnv,
  postWebhook,
  runPayfold,
  startServeProcess,
  testWebhookSecret,
} from './support/server.js';
import { emulatorStripe } from './support/stripe-access.js';
import { freshEvent, loadEventFixtures, sign } from './support/stripe-events.js';

/** What a raw validation dump or a stack trace would show; no command prints either. */
const expectOneLineError = (err: string) => {
  expect(err.split('\n')).toHaveLength(1);
  expect(err).toMatch(/^payfold: /);
  expect(err).not.toMatch(/"code"|invalid_type|\bat .+\.js:\d+/);
};

/** A customer.updated webhook whose email is a number: the payments projector cannot read it. */
const unreadableCustomerEvent = () => {
  const fixture = loadEventFixtures().find((candidate) => candidate.file === 'customer_updated.json');
  const event = freshEvent(fixture as NonNullable<typeof fixture>, { livemode: false });
  event.data = { ...event.data, object: { ...event.data.object, id: 'cus_unreadable', email: 12345 } };
  return JSON.stringify(event);
};

// One account's story as an admin lives it, command by command: each step builds on the last.
describe('operating Payfold from the command line', { shuffle: false }, () => {
  let db: TestDatabase;
  let emulator: RunningEmulator;
  // Faster than test mode's default 10 Stripe requests/s, which made each reconcile take seconds.
  const payfold = (args: string[], env: Record<string, string> = {}) =>
    runPayfold(args, {
      databaseUrl: db.url,
      stripeApiBase: emulator.url,
      env: { PAYFOLD_STRIPE_REQUESTS_PER_SECOND: '200', ...env },
    });
  const rows = async (sql: string, values: unknown[] = []) => (await db.pool.query(sql, values)).rows;
  let parkedPosition: number;

  beforeAll(async () => {
    db = await createTestDatabase();
    emulator = await startEmulator();
    const stripe = emulatorStripe(emulator);
    for (const name of ['Ada', 'Grace', 'Edsger']) {
      await stripe.customers.create({ name, email: `${name.toLowerCase()}@example.com` });
    }
  });
  afterAll(async () => {
    await emulator?.stop();
    await db?.drop();
  });

  it('lists every projection in status before any process ran them', async () => {
    const status = await payfold(['status']);
    expect(status.code).toBe(0);
    expect(status.out).toMatch(/^payments\s+position 0\s+behind 0\s+parked 0 \(not run yet\)$/m);
    expect(status.out).toMatch(/^webhook_events\s+position 0\s+behind 0\s+parked 0 \(not run yet\)$/m);
    expect(status.out).toContain('last webhook test: none yet');
  });

  it('connects test mode by default, and the first sync leaves the tables filled with no serve running', async () => {
    const connected = await payfold(['config', 'set', 'sk_test_operating']);
    expect(connected.code, connected.err).toBe(0);
    expect(connected.out).toContain('first sync:');
    expect(connected.out).toContain(`tables: up to date in ${urlWithoutPassword(db.url)}`);
    expect(connected.out).not.toContain(new URL(db.url).password || 'no password here');
    expect(await countRows(db.pool, 'payments.customers')).toBe(3);
  });

  it('makes catalog changes that are rows at once, and lists them as a table or JSON', async () => {
    const product = await payfold(['products', 'create', '--name', 'Team plan', '--json']);
    expect(product.code, product.err).toBe(0);
    const productId = JSON.parse(product.out).id as string;
    const price = await payfold([
      ...['prices', 'create', '--product', productId, '--currency', 'usd', '--unit-amount', '6000'],
      ...['--interval', 'month', '--interval-count', '3', '--lookup-key', 'team_quarterly'],
      ...['--nickname', 'Quarterly', '--tax-behavior', 'exclusive'],
    ]);
    expect(price.code, price.err).toBe(0);
    expect(price.out).toMatch(/^created price price_\w+\ntables: up to date in /);
    const priceId = /price_\w+/.exec(price.out)?.[0];
    expect(emulator.store.collection('price').get(priceId as string)).toMatchObject({
      recurring: { interval: 'month', interval_count: 3 },
      lookup_key: 'team_quarterly',
      nickname: 'Quarterly',
      tax_behavior: 'exclusive',
    });
    expect(
      await rows(
        'select recurring_interval, recurring_interval_count, lookup_key, nickname from payments.prices where price_id = $1',
        [priceId],
      ),
    ).toEqual([
      {
        recurring_interval: 'month',
        recurring_interval_count: 3,
        lookup_key: 'team_quarterly',
        nickname: 'Quarterly',
      },
    ]);
    const products = await payfold(['products', 'list']);
    expect(products.out.split('\n')[0]).toMatch(/^product_id\s+name\s+active\s+default_price_id\s+prices$/);
    expect(products.out).toMatch(new RegExp(`^${productId}\\s+Team plan\\s+true\\s+—\\s+1$`, 'm'));
    const prices = JSON.parse((await payfold(['prices', 'list', '--json'])).out);
    expect(prices.prices).toEqual([
      expect.objectContaining({ product_id: productId, lookup_key: 'team_quarterly', unit_amount: 6000 }),
    ]);
    const refused = await payfold([
      'prices',
      'create',
      '--product',
      productId,
      '--currency',
      'usd',
      '--unit-amount',
      '1',
      '--tax-behavior',
      'sometimes',
    ]);
    expect(refused.code).toBe(1);
    expectOneLineError(refused.err);
    expect(refused.err).toBe(
      'payfold: --tax-behavior: Invalid option: expected one of "exclusive"|"inclusive"|"unspecified"',
    );
  });

  it('waits for a running serve to project what a command appended', async () => {
    const serve = await startServeProcess([], payfoldProcessEnv(db.url, 0));
    try {
      const product = await payfold(['products', 'create', '--name', 'Solo plan']);
      expect(product.code, product.err).toBe(0);
      expect(product.out).toContain('(projected by the running payfold process)');
      expect(await rows('select name from payments.products where name = $1', ['Solo plan'])).toHaveLength(1);
      // A parked entry, as the live runner parks it.
      const body = unreadableCustomerEvent();
      const delivered = await postWebhook(serve.url, 'test', body, {
        'stripe-signature': sign(body, testWebhookSecret),
      });
      expect(delivered.status).toBe(200);
      await expect
        .poll(async () => rows('select position::int from payfold.projection_errors'), { timeout: 15_000 })
        .toHaveLength(1);
      parkedPosition = (await rows('select position::int from payfold.projection_errors'))[0].position;
      const status = await payfold(['status']);
      expect(status.out).toMatch(/^stripe test: connected .* webhooks: deliveries arriving \(the last at /m);
      expect(status.out).not.toContain('PAYFOLD_PUBLIC_URL to');
      expect(status.out).toMatch(/^last webhook test: \d{4}-\d\d-\d\dT/m);
    } finally {
      signalStarted(serve.child, 'SIGTERM');
    }
  });

  it('rebuilds and reconciles past a parked entry, reporting it in one line', async () => {
    const parkedLine = `parked: payments at ${parkedPosition} (stripe.event): unreadable Stripe object: email: Invalid input: expected string, received number`;
    const rebuild = await payfold(['rebuild']);
    expect(rebuild.code, rebuild.err).toBe(0);
    expect(rebuild.out).toContain(parkedLine);
    expect(rebuild.err).not.toMatch(/invalid_type|"code"|Error:/);
    // The emulator forwarded its events nowhere: the log lacks them, which is drift (exit 2).
    const found = await payfold(['reconcile', '--dry-run']);
    expect(found.code, found.out).toBe(2);
    expect(found.out).toMatch(/^missed webhooks: [1-9]\d* of /m);
    expect(found.out).toContain(`parked, passed over: payments at ${parkedPosition} (stripe.event)`);
    const repaired = await payfold(['reconcile']);
    expect(repaired.code, repaired.err).toBe(0);
    expect(repaired.out).toContain('repaired:');
    // Clean now: the parked entry is reported, not counted as drift.
    const clean = await payfold(['reconcile', '--dry-run']);
    expect(clean.code, clean.out).toBe(0);
    expect(clean.out).toMatch(/^reconcile test \(dry run: nothing changed\): 0 differences in /);
    expect(clean.out).toContain(`parked, passed over: payments at ${parkedPosition} (stripe.event)`);
  });

  it('dismisses a parked entry (recorded, shown, reversible) and refuses a position with nothing parked', async () => {
    const dismissed = await payfold(['projections', 'dismiss', String(parkedPosition)]);
    expect(dismissed.code, dismissed.err).toBe(0);
    const status = await payfold(['status']);
    expect(status.out).toMatch(/^payments\s+position \d+\s+behind 0\s+parked 0 \(dismissed 1\)/m);
    expect(status.out).toContain(`parked: payments at ${parkedPosition} (stripe.event), dismissed:`);
    // A rebuild passes over a dismissed entry without reporting it again.
    expect((await payfold(['rebuild'])).out).not.toContain('parked:');
    const undone = await payfold(['projections', 'dismiss', String(parkedPosition), '--undo']);
    expect(undone.code, undone.err).toBe(0);
    const parkedAgain = (await payfold(['status'])).out;
    expect(parkedAgain).toMatch(/^payments\s+position \d+\s+behind 0\s+parked 1 rebuilt /m);
    expect(parkedAgain).not.toContain('dismissed');
    const nothing = await payfold(['projections', 'dismiss', '1']);
    expect(nothing.code).toBe(1);
    expect(nothing.err).toBe('payfold: no parked entry at position 1');
    // The log keeps the entry whatever is decided about it.
    expect(
      await rows('select count(*)::int as n from payfold.events where position = $1', [parkedPosition]),
    ).toEqual([{ n: 1 }]);
  });

  it('exits 2 from a dry run that finds drift, 0 once it is repaired, 1 on an error', async () => {
    await db.pool.query("update payments.customers set email = 'edited@example.com' where name = 'Ada'");
    const found = await payfold(['reconcile', '--dry-run']);
    expect(found.code, found.err).toBe(2);
    expect(found.out).toContain('run it again without --dry-run to repair');
    const repaired = await payfold(['reconcile']);
    expect(repaired.code, repaired.err).toBe(0);
    expect(await rows("select email from payments.customers where name = 'Ada'")).toEqual([
      { email: 'ada@example.com' },
    ]);
    expect((await payfold(['reconcile', '--dry-run'])).code).toBe(0);
    const live = await payfold(['reconcile', '--dry-run', '--live']);
    expect(live.code).toBe(1);
    expect(live.err).toBe('payfold: live is not connected to Stripe: payfold config set live <secret key>');
    const both = await payfold(['sync', '--live', '--environment', 'test']);
    expect(both.code).toBe(1);
    expectOneLineError(both.err);
  });

  it('says which port to change when it is taken', async () => {
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const { port } = taken.address() as { port: number };
    try {
      const serve = await payfold(['serve', '--port', String(port)]);
      expect(serve.code).toBe(1);
      expect(serve.err).toBe(
        `payfold: 127.0.0.1:${port} is already in use: choose another port with --port (or PORT), or stop what listens there`,
      );
    } finally {
      taken.close();
    }
  });

  it('lists subscribers, and keeps replay as the old name of subscribers replay', async () => {
    const listed = await payfold(['subscribers', 'list']);
    expect(listed.code, listed.err).toBe(0);
    expect(listed.out).toBe('(none)');
    const alias = await payfold(['replay', '--help']);
    expect(alias.out).toContain('the former name of `payfold subscribers replay`');
  });

  it('gives every command and subcommand a one-line description', async () => {
    const commandsOf = (help: string) =>
      [...(help.split('Commands:')[1]?.matchAll(/^ {2}([a-z-]+)(?: [^ ].*?)?\s{2,}(\S.*)$/gm) ?? [])].map(
        ([, name, description]) => ({ name: name as string, description: description as string }),
      );
    const top = commandsOf((await payfold(['--help'])).out);
    expect(top.map(({ name }) => name)).toEqual(
      expect.arrayContaining([
        'serve',
        'status',
        'rebuild',
        'reconcile',
        'projections',
        'subscribers',
        'products',
        'prices',
      ]),
    );
    for (const group of ['config', 'projections', 'subscribers', 'products', 'prices']) {
      const subcommands = commandsOf((await payfold([group, '--help'])).out).filter(
        ({ name }) => name !== 'help',
      );
      expect(subcommands.length, group).toBeGreaterThan(0);
      for (const { name, description } of subcommands)
        expect(description, `${group} ${name}`).toMatch(/^[a-z]/);
    }
  });
});

describe('a command without DATABASE_URL', () => {
  let folder: string;
  let emulator: RunningEmulator;
  beforeAll(async () => {
    folder = await mkdtemp(path.join(tmpdir(), 'payfold-no-database-'));
    // Root runs the embedded Postgres as the postgres user, which must reach the folder.
    await chmod(folder, 0o755);
    emulator = await startEmulator();
  });
  afterAll(async () => {
    await emulator?.stop();
    await rm(folder, { recursive: true, force: true });
  });
  const payfold = (args: string[]) =>
    runPayfold(args, { databaseUrl: undefined, stripeApiBase: emulator.url, cwd: folder });

  it('reads nothing and makes nothing where no cluster is: status says so in one line', async () => {
    const status = await payfold(['status']);
    expect(status.code).toBe(1);
    expect(status.err).toBe(
      `No database here: DATABASE_URL is not set and there is no embedded Postgres under ${path.join(folder, '.payfold', 'postgres')} (payfold serve makes one)`,
    );
    expect(status.err.split('\n')).toHaveLength(1);
    expect(readdirSync(folder)).toEqual([]);
  });

  it('says which embedded cluster it made and used', async () => {
    const migrated = await payfold(['migrate']);
    expect(migrated.code, migrated.err).toBe(0);
    expect(migrated.err).toBe(
      `payfold: the embedded Postgres under ${path.join(folder, '.payfold', 'postgres')} (made now)`,
    );
    const status = await payfold(['status']);
    expect(status.code, status.err).toBe(0);
    expect(status.err).toBe(
      `payfold: the embedded Postgres under ${path.join(folder, '.payfold', 'postgres')}`,
    );
  });
});
