import { type RunningEmulator, runDemoStory } from 'payfold-stripe-emulator';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from 'vitest';
import { findChromium, launchChromium, screenshot } from './support/browser.js';
import { eventually, type TestDatabase } from './support/database.js';
import { postWebhook, type TestServer } from './support/server.js';
import { emulatorForwardSecret, emulatorStripe, startServerWithEmulator } from './support/stripe-access.js';
import { freshEvent, loadEventFixtures, sign } from './support/stripe-events.js';

const adminToken = 'admin-token-for-the-dashboard-tests';
const secretKey = 'sk_test_dashboard_key_4242abcd';
const chromium = await findChromium();
if ('skip' in chromium) console.warn(`dashboard browser tests skipped: ${chromium.skip}`);

describe.skipIf('skip' in chromium)('the dashboard, in Chromium', () => {
  let db: TestDatabase;
  let server: TestServer;
  let emulator: RunningEmulator;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;

  /** A screenshot under test/artifacts/ when the test fails. */
  const screenshotOnFailure = (name: string) =>
    onTestFailed(async () => {
      console.warn(`screenshot of the failed page: ${await screenshot(page, name)}`);
    });
  const open = async (hash: string) => {
    await page.goto(`${server.url}/dashboard#${hash}`);
    await page.getByRole('main').waitFor();
  };
  /** `DASHBOARD_SCREENSHOTS=docs npx vitest run test/dashboard.test.ts` renews the README's pictures. */
  const readmeScreenshots = async () => {
    const directory = process.env.DASHBOARD_SCREENSHOTS;
    if (!directory) return;
    await page.setViewportSize({ width: 1100, height: 800 });
    for (const [hash, name] of [
      ['/test/connection', 'dashboard-connection'],
      ['/test/subjects/team/acme', 'dashboard-subject'],
    ] as const) {
      await open(hash);
      await page.locator('main table').first().waitFor();
      await page.screenshot({ path: `${directory}/${name}.png`, fullPage: true });
    }
  };
  const settle = async () => {
    await emulator.settled();
    await server.payfold.runner.catchUp();
  };

  beforeAll(async () => {
    ({ db, server, emulator } = await startServerWithEmulator({
      PAYFOLD_ADMIN_TOKEN: adminToken,
    }));
    browser = await launchChromium((chromium as { path: string }).path);
    // A zone far from the server's: times must be shown in the browser's own.
    context = await browser.newContext({ locale: 'en-US', timezoneId: 'Asia/Tokyo' });
    page = await context.newPage();
  });
  afterAll(async () => {
    await browser?.close();
    await emulator?.stop();
    await server?.payfold.close();
    await db?.drop();
  });

  it('refuses a wrong token, and keeps nothing of it', async () => {
    screenshotOnFailure('wrong-token');
    await open('/test/connection');
    // The token field has the focus: the form is usable from the keyboard alone.
    await page.keyboard.type('not-the-admin-token');
    await page.keyboard.press('Enter');
    await expect.poll(() => page.getByRole('alert').textContent()).toBe('That token was refused.');
    expect(await page.evaluate('sessionStorage.length')).toBe(0);
    expect(await page.getByRole('navigation', { name: 'Pages' }).count()).toBe(0);
  });

  it('signs in with the admin token, kept in the tab’s session storage only', async () => {
    screenshotOnFailure('sign-in');
    await page.getByLabel('Admin token').fill(adminToken);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: /Connection/ }).waitFor();
    expect(await page.evaluate("sessionStorage.getItem('payfold.adminToken')")).toBe(adminToken);
    expect(await page.evaluate('localStorage.length')).toBe(0);
    // The page fills in once the status has been read.
    await expect.poll(() => page.getByText('No Stripe key is set for test').count()).toBe(1);
  });

  it('connects a key and shows only its masked form, then syncs with progress', async () => {
    screenshotOnFailure('set-key');
    await page.getByLabel('Secret key').fill(secretKey);
    await page.getByRole('button', { name: 'Set key' }).click();
    await expect.poll(() => page.getByTestId('masked-key').textContent()).toBe('sk_test_…abcd');
    expect(await page.getByLabel('Secret key').inputValue()).toBe('');
    expect(await page.content()).not.toContain(secretKey);
    expect(await page.getByRole('status').textContent()).toMatch(/Connected to acct_/);
    // The first sync ran in the background; its counts per object kind are on the page.
    await expect
      .poll(async () => page.getByRole('table', { name: 'Last sync, per object kind' }).textContent())
      .toMatch(/product/);
    await page.getByRole('button', { name: 'Run a sync' }).click();
    await expect.poll(() => page.getByRole('status').textContent(), { timeout: 30_000 }).toMatch(/Sync done/);
  });

  it('shows the demo’s story on the subject page, in the browser’s time zone', async () => {
    screenshotOnFailure('subject-page');
    await runDemoStory(emulatorStripe(emulator, secretKey), { afterStep: settle });
    // An invoice of the team whose hosted page is not an https URL.
    const [acme] = (
      await db.pool.query("select customer_id from payments.customer_mappings where subject_id = 'acme'")
    ).rows;
    const fixture = loadEventFixtures().find((f) => f.file === 'invoice_paid.json');
    const event = freshEvent(fixture as NonNullable<typeof fixture>, { livemode: false });
    event.data = {
      ...event.data,
      object: {
        ...event.data.object,
        id: 'in_unsafe_link',
        customer: acme.customer_id,
        subscription: null,
        livemode: false,
        hosted_invoice_url: 'javascript:alert(document.domain)',
      },
    };
    const body = JSON.stringify(event);
    expect(
      (await postWebhook(server.url, 'test', body, { 'stripe-signature': sign(body, emulatorForwardSecret) }))
        .status,
    ).toBe(200);
    await settle();
    await open('/test/customers');
    await page.getByLabel('Subject, email or Stripe customer id').fill('team:acme');
    await page.getByRole('button', { name: 'Search' }).click();
    await page.getByRole('link', { name: 'Open the page of subject team:acme' }).click();
    await page.getByRole('heading', { name: 'Subject team:acme' }).waitFor();
    const subscription = page.locator('article.subscription');
    expect(await subscription.count()).toBe(1);
    expect(await subscription.textContent()).toMatch(/canceled/);
    expect(await page.getByRole('table', { name: 'Items' }).textContent()).toMatch(/3/);
    // Links built from Stripe data are https only: a forged javascript: URL stays text.
    const invoiceLinks = await page.getByRole('table', { name: 'Invoices' }).getByRole('link').all();
    expect(invoiceLinks.length).toBeGreaterThan(0);
    for (const link of invoiceLinks) expect(await link.getAttribute('href')).toMatch(/^https:\/\//);
    expect(
      await page
        .getByRole('table', { name: 'Invoices' })
        .locator('tbody tr', { hasText: 'in_unsafe_link' })
        .textContent(),
    ).toMatch(/—$/);
    // Two paid invoices of 3 seats at $20.00, and the payments behind them.
    const invoices = await page
      .getByRole('table', { name: 'Invoices' })
      .locator('tbody tr')
      .allTextContents();
    expect(invoices.filter((row) => row.includes('paid') && row.includes('$60.00'))).toHaveLength(2);
    const payments = await page.getByRole('table', { name: 'Payment history' }).textContent();
    expect(payments).toMatch(/subscription_invoice/);
    // The team canceled, so its features went with the subscription.
    expect(
      await page
        .locator('section.empty-table', { has: page.getByRole('heading', { name: 'Entitlements' }) })
        .textContent(),
    ).toMatch(/None: no active subscription grants a feature\./);
    // Both of the team's cards, the one saved by a setup intent among them; the subscription ended,
    // so no renewal charges either.
    const cards = await page
      .getByRole('table', { name: 'Payment methods' })
      .locator('tbody tr')
      .allTextContents();
    expect(cards).toEqual([
      expect.stringMatching(/^pm_\w+?mastercard •••• 444412\/2034—noyes$/),
      expect.stringMatching(/^pm_\w+?visa •••• 424212\/2034—noyes$/),
    ]);
    expect(await page.getByRole('table', { name: 'Setup intents' }).textContent()).toMatch(
      /succeeded.*off_session/,
    );
    // Tokyo: the zone is named with each time.
    expect(await subscription.locator('time').first().textContent()).toMatch(/GMT\+9/);

    await open('/test/subjects/user/ada');
    await page.getByRole('heading', { name: 'Subject user:ada' }).waitFor();
    const history = await page
      .getByRole('table', { name: 'Payment history' })
      .locator('tbody tr')
      .allTextContents();
    expect(history.find((row) => row.includes('partially_refunded'))).toMatch(/\$99\.00.*\$49\.00/);
    expect(await page.getByRole('table', { name: 'Refunds' }).textContent()).toMatch(
      /\$49\.00.*requested_by_customer/,
    );
    await readmeScreenshots();
  });

  it('shows on the connection page when the last webhook arrived', async () => {
    screenshotOnFailure('last-webhook');
    await open('/test/connection');
    const facts = page.locator('main dl').first();
    await expect.poll(() => facts.textContent()).toMatch(/Last webhook/);
    const { rows } = await db.pool.query(
      "select max(received_at) as at from payments.webhook_events where environment = 'test'",
    );
    const shown = await facts
      .locator('dt', { hasText: 'Last webhook' })
      .locator('xpath=following-sibling::dd[1]//time')
      .getAttribute('datetime');
    expect(shown).toBe((rows[0].at as Date).toISOString());
  });

  it('creates a price in whole yen, and lists the catalog in each currency’s units', async () => {
    screenshotOnFailure('catalog');
    await open('/test/catalog');
    await page.getByRole('heading', { name: 'Team plan' }).waitFor();
    const prices = await page.getByRole('table', { name: 'Prices of Team plan' }).textContent();
    expect(prices).toMatch(/\$20\.00 every month/);
    expect(prices).toMatch(/\$99\.00 once/);
    const form = page.getByRole('form', { name: 'New price' });
    await form.getByLabel('Product').selectOption({ label: 'Team plan' });
    await form.getByLabel('Currency').fill('jpy');
    await form.getByLabel('Amount').fill('500');
    await form.getByRole('button', { name: 'Create price' }).click();
    await expect.poll(() => page.getByRole('status').textContent()).toMatch(/Price created: price_/);
    await expect
      .poll(() => page.getByRole('table', { name: 'Prices of Team plan' }).textContent())
      .toMatch(/¥500 once/);
    const { rows } = await db.pool.query(
      "select unit_amount::int from payments.prices where currency = 'jpy' and environment = 'test'",
    );
    expect(rows).toEqual([{ unit_amount: 500 }]);

    // A coupon and its code arrive by webhook; features (Stripe sends no event for them) by a sync.
    const stripe = emulatorStripe(emulator, secretKey);
    const coupon = await stripe.coupons.create({
      percent_off: 25,
      duration: 'repeating',
      duration_in_months: 3,
    });
    await stripe.promotionCodes.create({
      promotion: { type: 'coupon', coupon: coupon.id },
      code: 'LAUNCH25',
    });
    await open('/test/connection');
    await page.getByRole('button', { name: 'Run a sync' }).click();
    await expect.poll(() => page.getByRole('status').textContent(), { timeout: 30_000 }).toMatch(/Sync done/);
    await open('/test/catalog');
    await expect
      .poll(() =>
        page
          .getByRole('table', { name: 'Coupons' })
          .textContent()
          .catch(() => ''),
      )
      .toMatch(/25% off, for 3 months.*LAUNCH25/);
    expect(await page.getByRole('table', { name: 'Features' }).textContent()).toMatch(
      /team_workspace.*Shared workspace/,
    );
    expect(
      await page.locator('article.product', { hasText: 'Team plan' }).locator('p.grants').textContent(),
    ).toBe('Grants: priority_support, team_workspace');
  });

  it('shows a parked entry with its reason, and applies it on retry once the cause is fixed', async () => {
    screenshotOnFailure('projections');
    // An app's trigger with a bug refuses a customer's new name: the projector parks that entry.
    await db.pool.query(`
      create function public.refuse_blocked_names() returns trigger language plpgsql as $$
      begin
        if new.name = 'Blocked name' then
          raise exception 'names like this are refused' using errcode = '22023';
        end if;
        return new;
      end $$;
      create trigger refuse_blocked_names before update on payments.customers
        for each row execute function public.refuse_blocked_names()`);
    const stripe = emulatorStripe(emulator, secretKey);
    const [ada] = (await stripe.customers.list({ email: 'ada@example.test' })).data;
    await stripe.customers.update(ada?.id as string, { name: 'Blocked name' });
    await settle();
    await open('/test/projections');
    const parked = page.getByRole('table', { name: 'Parked entries (newest first)' });
    await expect.poll(() => parked.textContent()).toMatch(/names like this are refused/);
    await db.pool.query('drop trigger refuse_blocked_names on payments.customers');
    await page.getByRole('button', { name: 'Retry parked entries' }).click();
    await expect.poll(() => page.getByRole('status').textContent()).toMatch(/1 applied, 0 still parked/);
    await expect.poll(() => page.getByText('No parked entries').count()).toBe(1);
    await eventually(async () => {
      const { rows } = await db.pool.query('select name from payments.customers where customer_id = $1', [
        ada?.id,
      ]);
      expect(rows).toEqual([{ name: 'Blocked name' }]);
    });
  });

  it('dismisses a parked entry that will never apply, and parks it again', async () => {
    screenshotOnFailure('dismiss');
    const fixture = loadEventFixtures().find((f) => f.file === 'customer_updated.json');
    const event = freshEvent(fixture as NonNullable<typeof fixture>, { livemode: false });
    event.data = { ...event.data, object: { ...event.data.object, id: 'cus_unreadable', email: 12345 } };
    const body = JSON.stringify(event);
    await postWebhook(server.url, 'test', body, { 'stripe-signature': sign(body, emulatorForwardSecret) });
    await settle();
    const [{ position }] = (
      await db.pool.query('select position::int as position from payfold.projection_errors')
    ).rows;
    await open('/test/projections');
    const projections = page.getByRole('table', { name: 'Projections' });
    await page.getByRole('button', { name: `Dismiss the entry at position ${position} of payments` }).click();
    await expect
      .poll(() => page.getByRole('status').textContent())
      .toBe(`Entry ${position} dismissed: it will never apply.`);
    await expect
      .poll(() => projections.locator('tbody tr', { hasText: 'payments' }).locator('td').nth(4).textContent())
      .toBe('1');
    expect(await page.getByRole('button', { name: 'Retry parked entries' }).count()).toBe(0);
    await page
      .getByRole('button', { name: `Park again the entry at position ${position} of payments` })
      .click();
    await expect.poll(() => page.getByRole('status').textContent()).toBe(`Entry ${position} parked again.`);
    await expect.poll(() => page.getByRole('button', { name: 'Retry parked entries' }).count()).toBe(1);
  });

  it('shows recent deliveries and events per minute', async () => {
    screenshotOnFailure('webhooks');
    await open('/test/webhooks');
    const { rows } = await db.pool.query<{ n: number }>(
      "select count(*)::int as n from payments.webhook_events where environment = 'test'",
    );
    const events = rows[0]?.n ?? 0;
    expect(events).toBeGreaterThan(20);
    const deliveries = page.getByRole('table', { name: 'Recent deliveries' });
    await expect.poll(() => deliveries.locator('tbody tr').count()).toBe(Math.min(50, events));
    // The newest first: the customer update of the parked-entry test.
    expect(await deliveries.locator('tbody tr').first().textContent()).toMatch(/customer\.updated/);
    expect(await page.locator('figure .chart-summary').textContent()).toContain(`${events} events`);
  });

  it('fits a 360 px wide screen on every page', async () => {
    screenshotOnFailure('narrow');
    await page.setViewportSize({ width: 360, height: 740 });
    for (const hash of [
      'connection',
      'catalog',
      'customers',
      'subjects/team/acme',
      'webhooks',
      'projections',
    ]) {
      await open(`/test/${hash}`);
      await page.locator('main h1').waitFor();
      // Wide tables scroll inside their own box; the page itself never scrolls sideways.
      expect(await page.evaluate('document.documentElement.scrollWidth'), hash).toBeLessThanOrEqual(360);
      // Every control has a label a screen reader reads out.
      expect(
        await page.evaluate(
          "[...document.querySelectorAll('input, select, textarea')].filter((control) => control.labels.length === 0).length",
        ),
        hash,
      ).toBe(0);
    }
  });
});
