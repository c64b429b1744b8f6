import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../src/main/config.js';

const payfoldBin = path.resolve(import.meta.dirname, '../bin/payfold.js');
const hexKey = 'ab'.repeat(32);

describe('configuration from the environment', () => {
  it('has working defaults with nothing set (embedded Postgres, 127.0.0.1:8080)', () => {
    const config = loadConfig({});
    expect(config).toMatchObject({
      databaseUrl: undefined,
      port: 8080,
      host: '127.0.0.1',
      eventStore: 'postgres',
    });
    expect(config.webhookSecrets).toEqual({ test: [], live: [] });
  });

  it('reads comma-separated signing secrets and a hex or base64 master key', () => {
    const config = loadConfig({
      DATABASE_URL: 'postgres://localhost/payfold',
      PAYFOLD_MASTER_KEY: Buffer.alloc(32, 7).toString('base64'),
      STRIPE_WEBHOOK_SECRET_TEST: 'whsec_a, whsec_b',
    });
    expect(config.webhookSecrets.test).toEqual(['whsec_a', 'whsec_b']);
    expect(config.masterKey).toEqual(Buffer.alloc(32, 7));
    expect(loadConfig({ PAYFOLD_MASTER_KEY: hexKey }).masterKey).toEqual(Buffer.from(hexKey, 'hex'));
  });

  const bad: Array<[Record<string, string>, RegExp]> = [
    [{ PORT: 'eighty' }, /^Invalid configuration: PORT /],
    [{ DATABASE_URL: 'mysql://x' }, /^Invalid configuration: DATABASE_URL /],
    [{ DATABASE_URL: 'postgres://localhost/x' }, /^Invalid configuration: PAYFOLD_MASTER_KEY is required/],
    [{ PAYFOLD_MASTER_KEY: 'short' }, /^Invalid configuration: PAYFOLD_MASTER_KEY must be 32 bytes/],
    [{ STRIPE_WEBHOOK_SECRET_TEST: 'sk_test_123' }, /^Invalid configuration: STRIPE_WEBHOOK_SECRET_TEST /],
    [{ STRIPE_SECRET_KEY_LIVE: 'sk_test_123' }, /^Invalid configuration: STRIPE_SECRET_KEY_LIVE /],
    [{ PAYFOLD_PUBLIC_URL: 'not a url' }, /^Invalid configuration: PAYFOLD_PUBLIC_URL /],
  ];
  for (const [env, message] of bad) {
    it(`rejects ${Object.keys(env).join(', ')} with one line naming it`, () => {
      expect(() => loadConfig(env)).toThrow(ConfigError);
      expect(() => loadConfig(env)).toThrow(message);
    });
  }

  it('never repeats a bad secret value in its message', () => {
    expect(() => loadConfig({ STRIPE_SECRET_KEY_TEST: 'sk_live_do_not_print_me' })).toThrow(
      expect.objectContaining({ message: expect.not.stringContaining('do_not_print_me') }),
    );
  });

  it('makes `payfold serve` exit 1 with that one line and no stack trace', () => {
    const result = spawnSync(process.execPath, [payfoldBin, 'serve'], {
      env: { ...process.env, DATABASE_URL: 'postgres://127.0.0.1:1/x', PAYFOLD_MASTER_KEY: 'nope' },
      encoding: 'utf8',
    });
    expect(result.status).toBe(1);
    expect(result.stderr).toBe(
      'Invalid configuration: PAYFOLD_MASTER_KEY must be 32 bytes, as 64 hex characters or base64\n',
    );
  });

  it('makes `payfold migrate` fail with one line when Postgres is unreachable', () => {
    const result = spawnSync(process.execPath, [payfoldBin, 'migrate'], {
      env: { ...process.env, DATABASE_URL: 'postgres://127.0.0.1:1/x', PAYFOLD_MASTER_KEY: hexKey },
      encoding: 'utf8',
    });
    expect(result.status).toBe(1);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
    expect(result.stderr).toMatch(/^payfold: /);
  });
});
