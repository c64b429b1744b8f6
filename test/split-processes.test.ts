import type { ChildProcess } from 'node:child_process';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { countRows, createTestDatabase, eventually, type TestDatabase } from './support/database.js';
import {
  payfoldProcessEnv,
  postWebhook,
  spawnPayfold,
  startServeProcess,
  testWebhookSecret,
} from './support/server.js';
import { freshEvent, loadEventFixtures, sign } from './support/stripe-events.js';

const exited = (child: ChildProcess) =>
  new Promise<number | null>((resolve) =>
    child.exitCode !== null ? resolve(child.exitCode) : child.once('exit', (code) => resolve(code)),
  );

describe('the webhook door and the projections in separate processes', () => {
  let db: TestDatabase;
  const children: ChildProcess[] = [];
  beforeEach(async () => {
    db = await createTestDatabase();
  });
  afterEach(async () => {
    for (const child of children.splice(0)) child.kill('SIGKILL');
    await db.drop();
  });

  it('payfold serve --no-projections stores webhooks, payfold project turns them into rows, both stop cleanly', async () => {
    const { child: serve, url } = await startServeProcess(['--no-projections'], payfoldProcessEnv(db.url, 0));
    children.push(serve);
    const fixture = loadEventFixtures().find((candidate) => candidate.file === 'customer_updated.json');
    if (!fixture) throw new Error('customer_updated.json fixture missing');
    const event = freshEvent(fixture, { livemode: false });
    const body = JSON.stringify(event);
    const answer = await postWebhook(url, 'test', body, {
      'stripe-signature': sign(body, testWebhookSecret),
    });
    expect(answer.status).toBe(200);
    expect(await countRows(db.pool, 'payfold.events')).toBe(1);
    // Nothing in this process projects: the delivery stays unprojected.
    await new Promise((resolve) => setTimeout(resolve, 1500));
    expect(await countRows(db.pool, 'payments.webhook_events')).toBe(0);

    const project = spawnPayfold(['project'], db.url, 0);
    children.push(project);
    await eventually(async () => {
      expect(await countRows(db.pool, 'payments.webhook_events')).toBe(1);
      expect(await countRows(db.pool, 'payments.customers')).toBe(1);
    }, 30_000);
    // Both close what they opened and exit 0 on SIGTERM, as an orchestrator stopping them expects.
    project.kill('SIGTERM');
    expect(await exited(project)).toBe(0);
    serve.kill('SIGTERM');
    expect(await exited(serve)).toBe(0);
  });
});
