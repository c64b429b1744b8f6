import { type ChildProcess, spawn } from 'node:child_process';
import path from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { loadConfig } from '../../src/main/config.js';
import { type RunningPayfold, type ServeOptions, startPayfold } from '../../src/main/serve.js';
import { startedByTest } from './processes.js';

export const testWebhookSecret = 'whsec_test_payfold_secret_for_tests';
export const liveWebhookSecret = 'whsec_live_payfold_secret_for_tests';
export const testMasterKey = 'a'.repeat(64);

export interface TestServer {
  payfold: RunningPayfold;
  url: string;
  /** Every log line the server wrote, as text. */
  logLines: string[];
}

/** `payfold serve` in this process, on a free port, against the given database. */
export const startTestServer = async (
  databaseUrl: string,
  env: Record<string, string> = {},
  options: ServeOptions = {},
): Promise<TestServer> => {
  const logLines: string[] = [];
  const sink = new Writable({
    write(chunk, _encoding, done) {
      logLines.push(String(chunk));
      done();
    },
  });
  const config = loadConfig({
    DATABASE_URL: databaseUrl,
    PAYFOLD_MASTER_KEY: testMasterKey,
    STRIPE_WEBHOOK_SECRET_TEST: testWebhookSecret,
    STRIPE_WEBHOOK_SECRET_LIVE: liveWebhookSecret,
    PORT: '0',
    PAYFOLD_LOG_LEVEL: 'debug',
    ...env,
  });
  const payfold = await startPayfold(config, pino({ level: config.logLevel }, sink), options);
  return { payfold, url: payfold.url, logLines };
};

export const postWebhook = async (
  baseUrl: string,
  environment: string,
  body: string | Buffer,
  headers: Record<string, string>,
): Promise<{ status: number; body: unknown }> => {
  const response = await fetch(`${baseUrl}/api/webhooks/stripe/${environment}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body,
  });
  const text = await response.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {}
  return { status: response.status, body: parsed };
};

const payfoldBin = path.resolve(import.meta.dirname, '../../bin/payfold.js');

/** The environment of a `payfold` process against a test database. */
export const payfoldProcessEnv = (databaseUrl: string, port: number): NodeJS.ProcessEnv => ({
  ...process.env,
  DATABASE_URL: databaseUrl,
  PAYFOLD_MASTER_KEY: testMasterKey,
  STRIPE_WEBHOOK_SECRET_TEST: testWebhookSecret,
  PORT: String(port),
  PAYFOLD_LOG_LEVEL: 'warn',
});

/** A `payfold` command as a process of its own, configured for a test database. */
export const spawnPayfold = (args: string[], databaseUrl: string, port: number): ChildProcess =>
  startedByTest(
    spawn(process.execPath, [payfoldBin, ...args], {
      env: payfoldProcessEnv(databaseUrl, port),
      stdio: ['ignore', 'ignore', 'pipe'],
    }),
  );

/**
 * `payfold serve` (with `args`) in a process of its own, on a port the system gives it: a port
 * picked beforehand may be taken by another test before the process binds it. Resolves with its
 * URL, read from its log line `payfold is serving`; rejects with its stderr if it exits first.
 */
export const startServeProcess = (
  args: string[],
  env: NodeJS.ProcessEnv,
): Promise<{ child: ChildProcess; url: string }> =>
  new Promise((resolve, reject) => {
    const child = startedByTest(
      spawn(process.execPath, [payfoldBin, 'serve', ...args], {
        env: { ...env, PORT: '0', PAYFOLD_LOG_LEVEL: 'info' },
        stdio: ['ignore', 'pipe', 'pipe'],
      }),
    );
    let stdout = '';
    let stderr = '';
    let found = false;
    const timer = setTimeout(() => reject(new Error(`payfold serve did not start: ${stderr}`)), 60_000);
    child.stdout?.on('data', (chunk) => {
      if (found) return;
      stdout += String(chunk);
      for (const line of stdout.split('\n')) {
        if (!line.includes('"payfold is serving"')) continue;
        found = true;
        clearTimeout(timer);
        resolve({ child, url: (JSON.parse(line) as { url: string }).url });
        return;
      }
    });
    child.stderr?.on('data', (chunk) => {
      stderr += String(chunk);
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      if (!found) reject(new Error(`payfold serve exited ${code}: ${stderr}`));
    });
  });

/**
 * A `payfold` command against a test database and the emulator, in a process of its own, waited
 * for without blocking this one (so an emulator in this process can answer it): its exit code and
 * trimmed output.
 */
export const runPayfold = (
  args: string[],
  {
    databaseUrl,
    stripeApiBase,
    input = '',
    env = {},
    cwd,
  }: {
    /** Undefined: none set, so the command uses an embedded Postgres under `cwd`. */
    databaseUrl: string | undefined;
    stripeApiBase: string;
    input?: string;
    env?: Record<string, string>;
    cwd?: string;
  },
): Promise<{ code: number | null; out: string; err: string }> =>
  new Promise((resolve) => {
    const { DATABASE_URL: _inherited, ...inherited } = process.env;
    const child = startedByTest(
      spawn(process.execPath, [payfoldBin, ...args], {
        cwd,
        env: {
          ...inherited,
          ...(databaseUrl !== undefined && { DATABASE_URL: databaseUrl }),
          PAYFOLD_MASTER_KEY: testMasterKey,
          STRIPE_API_BASE: stripeApiBase,
          ...env,
        },
      }),
    );
    let out = '';
    let err = '';
    child.stdout.on('data', (chunk) => {
      out += String(chunk);
    });
    child.stderr.on('data', (chunk) => {
      err += String(chunk);
    });
    child.on('close', (code) => resolve({ code, out: out.trim(), err: err.trim() }));
    child.stdin.end(input);
  });

/** Calls to the admin API with its bearer token: the status and the parsed answer. */
export const adminClient =
  (baseUrl: string, adminToken: string) => async (method: string, route: string, body?: unknown) => {
    const response = await fetch(`${baseUrl}${route}`, {
      method,
      headers: {
        authorization: `Bearer ${adminToken}`,
        ...(body !== undefined && { 'content-type': 'application/json' }),
      },
      ...(body !== undefined && { body: JSON.stringify(body) }),
    });
    // biome-ignore lint/suspicious/noExplicitAny: answers are checked field by field
    return { status: response.status, body: (await response.json()) as any };
  };
