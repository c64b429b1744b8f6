import { chmod, mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { TestProject } from 'vitest/node';
import { startEmbeddedCluster } from '../../src/adapters/postgres/embedded.js';

declare module 'vitest' {
  export interface ProvidedContext {
    adminDatabaseUrl: string;
  }
}

/**
 * Tests use `DATABASE_URL` when it is set; otherwise one throwaway embedded Postgres for the whole
 * run. Each test file then creates its own database in that cluster (see database.ts).
 */
export default async function setup(project: TestProject) {
  const given = process.env.DATABASE_URL;
  if (given) {
    project.provide('adminDatabaseUrl', given);
    return;
  }
  const parent = await mkdtemp(path.join(tmpdir(), 'payfold-test-'));
  // As root, Postgres runs as its own system user, which must be able to enter the folder.
  await chmod(parent, 0o755);
  const cluster = await startEmbeddedCluster({
    dataDirectory: path.join(parent, 'postgres'),
    persistent: false,
  });
  project.provide('adminDatabaseUrl', cluster.url);
  return async () => {
    await cluster.stop();
  };
}
