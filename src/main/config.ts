import { z } from 'zod';
import type { Environment } from '../domain/environment.js';

const optionalText = z
  .string()
  .trim()
  .transform((value) => (value === '' ? undefined : value))
  .optional();

const postgresUrl = z
  .string()
  .trim()
  .refine((value) => /^postgres(ql)?:\/\/.+/.test(value), 'must be a postgres:// connection string');

const httpUrl = z
  .string()
  .trim()
  .refine(
    (value) => URL.canParse(value) && /^https?:$/.test(new URL(value).protocol),
    'must be an http(s) URL',
  );

/**
 * 32 bytes, as 64 hex characters or as base64 (standard or URL-safe, padded or not). Decoded
 * strictly: Node's base64 decoder skips what it cannot read, so a mistyped key could otherwise
 * pass as another 32 bytes.
 */
export const decodeMasterKey = (value: string): Buffer | undefined => {
  if (/^[0-9a-fA-F]{64}$/.test(value)) return Buffer.from(value, 'hex');
  if (!/^[A-Za-z0-9+/_-]{43}=?$/.test(value)) return undefined;
  const bytes = Buffer.from(value, value.includes('-') || value.includes('_') ? 'base64url' : 'base64');
  return bytes.length === 32 ? bytes : undefined;
};

const masterKey = z
  .string()
  .trim()
  .transform((value, context) => {
    const bytes = decodeMasterKey(value);
    if (!bytes) {
      context.addIssue({ code: 'custom', message: 'must be 32 bytes, as 64 hex characters or base64' });
      return z.NEVER;
    }
    return bytes;
  });

const stripeSecretKey = (mode: Environment) =>
  z
    .string()
    .trim()
    .refine(
      (value) => new RegExp(`^(sk|rk)_${mode}_`).test(value),
      `must be a ${mode}-mode secret key (sk_${mode}_...)`,
    );

/** Comma-separated, so that an old and a new secret both verify while an endpoint's secret rotates. */
const webhookSecrets = z
  .string()
  .transform((value) =>
    value
      .split(',')
      .map((secret) => secret.trim())
      .filter(Boolean),
  )
  .refine(
    (secrets) => secrets.every((secret) => /^whsec_[A-Za-z0-9+/=_-]{16,}$/.test(secret)),
    "each secret must be a signing secret: whsec_ and at least 16 more characters, as Stripe's endpoint shows it",
  );

const envSchema = z.object({
  DATABASE_URL: postgresUrl.optional(),
  PAYFOLD_MIGRATION_DATABASE_URL: postgresUrl.optional(),
  PAYFOLD_EVENT_STORE: z
    .string()
    .trim()
    .refine(
      (value) => value === 'postgres' || value.startsWith('esdb://') || value.startsWith('esdb+discover://'),
      {
        message: 'must be postgres or an esdb:// connection string',
      },
    )
    .default('postgres'),
  PAYFOLD_MASTER_KEY: masterKey.optional(),
  PAYFOLD_MASTER_KEY_PREVIOUS: masterKey.optional(),
  PAYFOLD_ADMIN_TOKEN: z.string().trim().min(16, 'must be at least 16 characters').optional(),
  PAYFOLD_JWT_SECRET: z.string().trim().min(32, 'must be at least 32 characters').optional(),
  PAYFOLD_JWKS_URL: httpUrl.optional(),
  PAYFOLD_JWT_AUDIENCE: optionalText,
  PAYFOLD_JWT_ISSUER: optionalText,
  PAYFOLD_JWT_MAX_AGE_SECONDS: z.coerce.number().int().min(1).max(31_536_000).optional(),
  PAYFOLD_STRIPE_REQUESTS_PER_SECOND: z.coerce.number().int().min(1).max(10_000).optional(),
  PAYFOLD_STRIPE_MAX_RETRIES: z.coerce.number().int().min(0).max(10).optional(),
  PAYFOLD_APPEND_TIMEOUT_MS: z.coerce.number().int().min(100).max(60_000).default(5000),
  PAYFOLD_ROW_CHANGES_RETENTION_DAYS: z.coerce.number().int().min(1).max(3650).default(7),
  PAYFOLD_PUBLIC_URL: httpUrl.optional(),
  PAYFOLD_DATA_DIR: z.string().trim().default('.payfold'),
  PAYFOLD_LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  STRIPE_SECRET_KEY_TEST: stripeSecretKey('test').optional(),
  STRIPE_SECRET_KEY_LIVE: stripeSecretKey('live').optional(),
  STRIPE_WEBHOOK_SECRET_TEST: webhookSecrets.default([]),
  STRIPE_WEBHOOK_SECRET_LIVE: webhookSecrets.default([]),
  STRIPE_API_BASE: httpUrl
    .refine((value) => {
      const url = new URL(value);
      return url.protocol === 'https:' || ['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname);
    }, 'must be https, or http on this machine (the emulator)')
    .optional(),
  PORT: z.coerce.number().int().min(0).max(65_535).default(8080),
  HOST: z.string().trim().min(1).default('127.0.0.1'),
});

export interface PayfoldConfig {
  /** Unset: an embedded Postgres under `dataDirectory`. */
  databaseUrl: string | undefined;
  /**
   * The schemas' owner, for migrations, when `payfold serve` runs as a role of less privilege
   * (`DATABASE_URL`), which the migrations then grant what serving needs.
   */
  migrationDatabaseUrl: string | undefined;
  eventStore: string;
  masterKey: Buffer | undefined;
  /** The master key before a rotation: opens secrets not yet sealed again under the new one. */
  previousMasterKey: Buffer | undefined;
  adminToken: string | undefined;
  jwtSecret: string | undefined;
  jwksUrl: string | undefined;
  jwtAudience: string | undefined;
  jwtIssuer: string | undefined;
  /** Tokens issued (`iat`) longer ago than this are refused, whatever their `exp`. */
  jwtMaxAgeSeconds: number | undefined;
  /** Requests a second to Stripe per environment; the gateway's defaults (10 test, 25 live) otherwise. */
  stripeRequestsPerSecond: number | undefined;
  /** Retries of a Stripe call after a 429, a 5xx or a lost connection (the gateway's default: 4). */
  stripeMaxRetries: number | undefined;
  /** How long a webhook waits for its commit before it is answered 503 (Stripe retries). */
  appendTimeoutMs: number;
  /** Days the change stream (`payfold.row_changes`) keeps what every subscriber has delivered. */
  rowChangesRetentionDays: number;
  publicUrl: string | undefined;
  dataDirectory: string;
  logLevel: string;
  stripeSecretKeys: Record<Environment, string | undefined>;
  webhookSecrets: Record<Environment, string[]>;
  stripeApiBase: string | undefined;
  port: number;
  host: string;
}

export class ConfigError extends Error {}

/**
 * Parses the process environment. A bad value fails with one line naming the variable and what is
 * wrong with it, never the value itself (it may be a secret).
 */
export const loadConfig = (env: NodeJS.ProcessEnv): PayfoldConfig => {
  const present = Object.fromEntries(
    Object.entries(env).filter(
      ([name, value]) => name in envSchema.shape && value !== undefined && value !== '',
    ),
  );
  const parsed = envSchema.safeParse(present);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const variable = String(issue?.path[0] ?? 'environment');
    throw new ConfigError(`Invalid configuration: ${variable} ${issue?.message ?? 'is invalid'}`);
  }
  const values = parsed.data;
  if (values.DATABASE_URL && !values.PAYFOLD_MASTER_KEY) {
    throw new ConfigError(
      'Invalid configuration: PAYFOLD_MASTER_KEY is required when DATABASE_URL is set (32 bytes, hex or base64)',
    );
  }
  if (values.PAYFOLD_MIGRATION_DATABASE_URL && !values.DATABASE_URL) {
    throw new ConfigError(
      'Invalid configuration: PAYFOLD_MIGRATION_DATABASE_URL needs DATABASE_URL (the role that serves)',
    );
  }
  if (values.STRIPE_API_BASE && values.STRIPE_SECRET_KEY_LIVE) {
    throw new ConfigError(
      'Invalid configuration: STRIPE_API_BASE points Stripe calls elsewhere (the emulator); it is refused with a live key',
    );
  }
  if (values.PAYFOLD_JWT_SECRET && values.PAYFOLD_JWKS_URL) {
    throw new ConfigError(
      'Invalid configuration: PAYFOLD_JWT_SECRET and PAYFOLD_JWKS_URL: set one of them, not both',
    );
  }
  // Keys of a provider several apps share sign tokens for all of them: without an issuer or an
  // audience to tell them apart, another app's user token would open this app's session API.
  if (values.PAYFOLD_JWKS_URL && !values.PAYFOLD_JWT_ISSUER && !values.PAYFOLD_JWT_AUDIENCE) {
    throw new ConfigError(
      'Invalid configuration: PAYFOLD_JWKS_URL needs PAYFOLD_JWT_ISSUER or PAYFOLD_JWT_AUDIENCE, so that tokens the same provider signs for other apps are refused',
    );
  }
  return {
    databaseUrl: values.DATABASE_URL,
    migrationDatabaseUrl: values.PAYFOLD_MIGRATION_DATABASE_URL,
    eventStore: values.PAYFOLD_EVENT_STORE,
    masterKey: values.PAYFOLD_MASTER_KEY,
    previousMasterKey: values.PAYFOLD_MASTER_KEY_PREVIOUS,
    adminToken: values.PAYFOLD_ADMIN_TOKEN,
    jwtSecret: values.PAYFOLD_JWT_SECRET,
    jwksUrl: values.PAYFOLD_JWKS_URL,
    jwtAudience: values.PAYFOLD_JWT_AUDIENCE,
    jwtIssuer: values.PAYFOLD_JWT_ISSUER,
    jwtMaxAgeSeconds: values.PAYFOLD_JWT_MAX_AGE_SECONDS,
    stripeRequestsPerSecond: values.PAYFOLD_STRIPE_REQUESTS_PER_SECOND,
    stripeMaxRetries: values.PAYFOLD_STRIPE_MAX_RETRIES,
    appendTimeoutMs: values.PAYFOLD_APPEND_TIMEOUT_MS,
    rowChangesRetentionDays: values.PAYFOLD_ROW_CHANGES_RETENTION_DAYS,
    publicUrl: values.PAYFOLD_PUBLIC_URL,
    dataDirectory: values.PAYFOLD_DATA_DIR,
    logLevel: values.PAYFOLD_LOG_LEVEL,
    stripeSecretKeys: { test: values.STRIPE_SECRET_KEY_TEST, live: values.STRIPE_SECRET_KEY_LIVE },
    webhookSecrets: { test: values.STRIPE_WEBHOOK_SECRET_TEST, live: values.STRIPE_WEBHOOK_SECRET_LIVE },
    stripeApiBase: values.STRIPE_API_BASE,
    port: values.PORT,
    host: values.HOST,
  };
};
