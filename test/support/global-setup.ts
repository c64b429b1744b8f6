import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
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

const root = path.resolve(import.meta.dirname, '../..');

/** The newest modification time of the files under a folder. */
const newestUnder = (folder: string): number =>
  Math.max(
    0,
    ...readdirSync(folder, { recursive: true, withFileTypes: true })
      .filter((entry) => entry.isFile())
      .map((entry) => statSync(path.join(entry.parentPath, entry.name)).mtimeMs),
  );

/**
 * The tests that start `payfold` processes run the compiled CLI (and the emulator's build it
 * loads), as users do: `npm test` builds first, and a run of single files (`npx vitest run test/x.test.ts`) after a change to the sources
 * builds here, so that no test runs yesterday's code.
 */
const buildWhenStale = () => {
  const compiled = path.join(root, 'dist/server/cli/main.js');
  const built = existsSync(compiled) ? statSync(compiled).mtimeMs : 0;
  const changed = Math.max(newestUnder(path.join(root, 'src')), newestUnder(path.join(root, 'emulator/src')));
  if (changed <= built) return;
  for (const script of ['build:emulator', 'build:server']) {
    const result = spawnSync('npm', ['run', script], { cwd: root, stdio: 'inherit' });
    if (result.status !== 0) throw new Error(`npm run ${script} failed: the tests need the compiled CLI`);
  }
};

/**
 * Tests use `DATABASE_URL` when it is set; otherwise one throwaway embedded Postgres for the whole
 * run. Each test file then creates its own database in that cluster (see database.ts).
 */
export default async function setup(project: TestProject) {
  buildWhenStale();
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
