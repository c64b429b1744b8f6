import type { ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServeProcess, testWebhookSecret } from './support/server.js';
import { freshEvent, loadEventFixtures, sign } from './support/stripe-events.js';

/** `payfold serve` as a new user runs it: no DATABASE_URL, no master key, only a data folder. */
const serve = async (dataDirectory: string): Promise<{ child: ChildProcess; url: string }> => {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    PAYFOLD_DATA_DIR: dataDirectory,
    STRIPE_WEBHOOK_SECRET_TEST: testWebhookSecret,
  };
  delete env.DATABASE_URL;
  delete env.PAYFOLD_MASTER_KEY;
  return startServeProcess([], env);
};

const stop = async (child: ChildProcess) => {
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  return exited;
};

describe('payfold serve without DATABASE_URL', () => {
  let dataDirectory: string;
  beforeAll(async () => {
    const parent = await mkdtemp(path.join(tmpdir(), 'payfold-serve-'));
    // As root the embedded Postgres runs as its own user, which must be able to enter the folder.
    await chmod(parent, 0o755);
    dataDirectory = path.join(parent, '.payfold');
  });
  afterAll(async () => {
    await rm(path.dirname(dataDirectory), { recursive: true, force: true });
  });

  it('starts its own Postgres under the data folder, keeps a master key, and keeps events across restarts', async () => {
    const { child: first, url } = await serve(dataDirectory);
    const fixture = loadEventFixtures().find((f) => f.file === 'customer_updated.json');
    const event = freshEvent(fixture as NonNullable<typeof fixture>);
    const body = JSON.stringify(event);
    const response = await fetch(`${url}/api/webhooks/stripe/test`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'stripe-signature': sign(body, testWebhookSecret) },
      body,
    });
    expect(await response.json()).toEqual({ received: true, duplicate: false });
    expect(await stop(first)).toBe(0);

    expect(existsSync(path.join(dataDirectory, 'postgres', 'PG_VERSION'))).toBe(true);
    const key = (await readFile(path.join(dataDirectory, 'master.key'), 'utf8')).trim();
    expect(key).toMatch(/^[0-9a-f]{64}$/);

    const { child: second, url: secondUrl } = await serve(dataDirectory);
    try {
      const again = await fetch(`${secondUrl}/api/webhooks/stripe/test`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'stripe-signature': sign(body, testWebhookSecret) },
        body,
      });
      expect(await again.json()).toEqual({ received: true, duplicate: true });
      expect((await readFile(path.join(dataDirectory, 'master.key'), 'utf8')).trim()).toBe(key);
    } finally {
      expect(await stop(second)).toBe(0);
    }
  });
});
