import { spawnSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
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
      STRIPE_WEBHOOK_SECRET_TEST: 'whsec_0123456789abcdefGHIJ, whsec_abcdefghijklmnopqrstuvwx',
    });
    expect(config.webhookSecrets.test).toEqual([
      'whsec_0123456789abcdefGHIJ',
      'whsec_abcdefghijklmnopqrstuvwx',
    ]);
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
    [
      { STRIPE_WEBHOOK_SECRET_LIVE: 'whsec_short' },
      /^Invalid configuration: STRIPE_WEBHOOK_SECRET_LIVE each secret must be/,
    ],
    // 44 characters Node's lenient base64 would read as 32 bytes, skipping what is not base64.
    [
      { PAYFOLD_MASTER_KEY: `${'A'.repeat(40)}!!!=` },
      /^Invalid configuration: PAYFOLD_MASTER_KEY must be 32 bytes/,
    ],
    [
      { STRIPE_API_BASE: 'http://stripe.example.com' },
      /^Invalid configuration: STRIPE_API_BASE must be https/,
    ],
    [
      { STRIPE_API_BASE: 'http://127.0.0.1:12111', STRIPE_SECRET_KEY_LIVE: 'sk_live_abc' },
      /^Invalid configuration: STRIPE_API_BASE .* refused with a live key$/,
    ],
    [
      { PAYFOLD_JWKS_URL: 'https://auth.example.com/.well-known/jwks.json' },
      /^Invalid configuration: PAYFOLD_JWKS_URL needs PAYFOLD_JWT_ISSUER or PAYFOLD_JWT_AUDIENCE/,
    ],
    [{ PAYFOLD_JWT_MAX_AGE_SECONDS: 'a day' }, /^Invalid configuration: PAYFOLD_JWT_MAX_AGE_SECONDS /],
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

  it('stops at start with one line when the master key file is short', async () => {
    const folder = await mkdtemp(path.join(tmpdir(), 'payfold-key-'));
    try {
      await writeFile(path.join(folder, 'master.key'), 'abc\n');
      const env: NodeJS.ProcessEnv = { ...process.env, PAYFOLD_DATA_DIR: folder };
      delete env.DATABASE_URL;
      delete env.PAYFOLD_MASTER_KEY;
      const result = spawnSync(process.execPath, [payfoldBin, 'migrate'], { env, encoding: 'utf8' });
      expect(result.status).toBe(1);
      expect(result.stderr).toBe(
        `Invalid configuration: ${path.join(folder, 'master.key')} must hold a 32-byte master key (64 hex characters); restore it from a backup, or set PAYFOLD_MASTER_KEY\n`,
      );
    } finally {
      await rm(folder, { recursive: true, force: true });
    }
  });

  it('makes `payfold serve` stop with one line for a JWKS URL without an issuer or an audience', () => {
    const result = spawnSync(process.execPath, [payfoldBin, 'serve'], {
      env: {
        ...process.env,
        DATABASE_URL: 'postgres://127.0.0.1:1/x',
        PAYFOLD_MASTER_KEY: hexKey,
        PAYFOLD_JWKS_URL: 'https://auth.example.com/.well-known/jwks.json',
      },
      encoding: 'utf8',
    });
    expect(result.status).toBe(1);
    expect(result.stderr).toBe(
      'Invalid configuration: PAYFOLD_JWKS_URL needs PAYFOLD_JWT_ISSUER or PAYFOLD_JWT_AUDIENCE, so that tokens the same provider signs for other apps are refused\n',
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
