import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signalStarted, startedByTest } from './support/processes.js';

const root = path.resolve(import.meta.dirname, '..');
const version = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')).version as string;

/** An app's environment: nothing of the test run's database or keys. */
const appEnv = (): NodeJS.ProcessEnv => {
  const env: NodeJS.ProcessEnv = { ...process.env, PAYFOLD_LOG_LEVEL: 'info', PORT: '0' };
  for (const name of ['DATABASE_URL', 'PAYFOLD_MASTER_KEY', 'PAYFOLD_DATA_DIR', 'NODE_OPTIONS'])
    delete env[name];
  return env;
};

/** A command run to its end: its exit code and output. */
const run = (command: string, args: string[], cwd: string) =>
  new Promise<{ code: number | null; out: string; err: string }>((resolve) => {
    const child = startedByTest(spawn(command, args, { cwd, env: appEnv() }));
    let out = '';
    let err = '';
    child.stdout?.on('data', (chunk) => {
      out += String(chunk);
    });
    child.stderr?.on('data', (chunk) => {
      err += String(chunk);
    });
    child.on('close', (code) => resolve({ code, out: out.trim(), err: err.trim() }));
  });

/**
 * A long-running command as a user starts it in a terminal (its own process group, so that a
 * Ctrl-C reaches npx and the payfold it runs): resolves with the first output line that matches.
 */
const start = (args: string[], cwd: string, ready: RegExp) =>
  new Promise<{ child: ChildProcess; line: string; output: () => string }>((resolve, reject) => {
    const child = startedByTest(spawn('npx', args, { cwd, env: appEnv(), detached: true }), { group: true });
    let output = '';
    const timer = setTimeout(
      () => reject(new Error(`npx ${args.join(' ')} did not start: ${output}`)),
      90_000,
    );
    const read = (chunk: Buffer) => {
      output += String(chunk);
      const line = output.split('\n').find((candidate) => ready.test(candidate));
      if (line) {
        clearTimeout(timer);
        resolve({ child, line, output: () => output });
      }
    };
    child.stdout?.on('data', read);
    child.stderr?.on('data', read);
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`npx ${args.join(' ')} exited ${code}: ${output}`));
    });
  });

/** Whether any process of the group is still running. */
const groupRunning = (child: ChildProcess): boolean => {
  try {
    process.kill(-(child.pid as number), 0);
    return true;
  } catch {
    return false;
  }
};

/**
 * Ctrl-C in the terminal: SIGINT to the process group. npx dies of it (as npm does); the payfold
 * it ran closes cleanly, with its embedded Postgres, and the whole group is gone.
 */
const interrupt = async (child: ChildProcess): Promise<void> => {
  const exited = new Promise((resolve) => child.once('exit', resolve));
  signalStarted(child, 'SIGINT');
  await exited;
  await expect.poll(() => groupRunning(child), { timeout: 30_000 }).toBe(false);
};

const subscribersModule = `
import { defineSubscriber, type RowChange } from 'payfold/subscribers';

export const subscribers = [
  defineSubscriber({
    name: 'welcome-email',
    tables: ['payments.customers'],
    handle: async (change: RowChange): Promise<void> => {
      console.log(change.table);
    },
  }),
];
`;

// As a user installs it: `npm pack` (which builds through `prepare`), then the tarball into new
// apps made with `npm init -y`, one CommonJS (npm's default) and one ESM.
describe('the npm package, installed into a new app', () => {
  let workspace: string;
  let files: string[];
  const apps = { commonjs: '', module: '' };

  beforeAll(async () => {
    workspace = await mkdtemp(path.join(tmpdir(), 'payfold-package-'));
    // As root the embedded Postgres runs as its own user, which must be able to enter the folders.
    await chmod(workspace, 0o755);
    // `npm pack` builds through `prepare`; here it packs the build `npm test` (or the global setup)
    // made, since rebuilding would pull dist from under the other test files' processes.
    const packed = await run(
      'npm',
      ['pack', '--json', '--ignore-scripts', '--pack-destination', workspace],
      root,
    );
    expect(packed.code, packed.err).toBe(0);
    const [tarball] = JSON.parse(packed.out.slice(packed.out.indexOf('['))) as Array<{
      filename: string;
      files: Array<{ path: string }>;
    }>;
    files = (tarball?.files ?? []).map((file) => file.path);
    for (const type of ['commonjs', 'module'] as const) {
      const app = path.join(workspace, `app-${type}`);
      await mkdir(app);
      expect((await run('npm', ['init', '-y'], app)).code).toBe(0);
      if (type === 'module') expect((await run('npm', ['pkg', 'set', 'type=module'], app)).code).toBe(0);
      const installed = await run(
        'npm',
        [
          'install',
          path.join(workspace, tarball?.filename ?? ''),
          '--no-audit',
          '--no-fund',
          '--prefer-offline',
        ],
        app,
      );
      expect(installed.code, installed.err).toBe(0);
      expect(installed.err).not.toMatch(/EBADENGINE/);
      apps[type] = app;
    }
  }, 300_000);
  afterAll(async () => {
    await rm(workspace, { recursive: true, force: true });
  });

  it('is built whenever it is packed or installed from a checkout', () => {
    const { scripts } = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8'));
    expect(scripts.prepare).toBe('npm run build');
    expect(scripts.build).toMatch(/build:server/);
  });

  it('holds the compiled code and its types, and no tests, benchmarks or fixtures', () => {
    expect(files).toEqual(
      expect.arrayContaining([
        'bin/payfold.js',
        'dist/server/cli/main.js',
        'dist/server/subscribers/index.d.ts',
        'dist/client/index.d.ts',
        'dist/server/emulator.js',
        'node_modules/payfold-stripe-emulator/dist/index.js',
        'dist/server/adapters/postgres/migrations/0001_event_log.sql',
        'dist/dashboard/index.html',
      ]),
    );
    // The emulator is a workspace package of its own, bundled with its build only.
    expect(
      files.filter(
        (file) =>
          !/^(bin|dist)\/|^(package\.json|README\.md)$|^node_modules\/payfold-stripe-emulator\/(bin\/|dist\/|package\.json$)/.test(
            file,
          ),
      ),
    ).toEqual([]);
    expect(
      files.filter((file) =>
        /(^|\/)(test|bench|fixtures)\/|\.test\.|\.ts$/.test(file.replace(/\.d\.ts$/, '')),
      ),
    ).toEqual([]);
  });

  it('answers npx payfold --version with its version', async () => {
    expect(await run('npx', ['payfold', '--version'], apps.commonjs)).toMatchObject({
      code: 0,
      out: version,
    });
  });

  it('lets a CommonJS app require, and an ESM app import, payfold/client, payfold/subscribers and payfold/emulator', async () => {
    const names =
      "[typeof client.createClient, typeof subscribers.defineSubscriber, typeof subscribers.SubscriberRunner, typeof emulator.startEmulator].join(' ')";
    expect(
      await run(
        'node',
        [
          '-e',
          `const client = require('payfold/client'); const subscribers = require('payfold/subscribers'); const emulator = require('payfold/emulator'); console.log(${names})`,
        ],
        apps.commonjs,
      ),
    ).toMatchObject({ code: 0, out: 'function function function function', err: '' });
    expect(
      await run(
        'node',
        [
          '--input-type=module',
          '-e',
          `import * as client from 'payfold/client'; import * as subscribers from 'payfold/subscribers'; import * as emulator from 'payfold/emulator'; console.log(${names})`,
        ],
        apps.module,
      ),
    ).toMatchObject({ code: 0, out: 'function function function function', err: '' });
  });

  it('runs the Stripe emulator: npx payfold emulator', async () => {
    const { child, line } = await start(
      ['payfold', 'emulator', '--port', '0', '--json'],
      apps.module,
      /^\{"url"/,
    );
    const { url } = JSON.parse(line) as { url: string };
    const account = await fetch(`${url}/v1/account`, { headers: { authorization: 'Bearer sk_test_app' } });
    expect(account.status).toBe(200);
    await interrupt(child);
  });

  it.each([
    ['commonjs', 'subscribers.ts'],
    ['module', 'subscribers.mts'],
  ] as const)(
    'serves on an embedded Postgres with a %s app\u2019s TypeScript subscribers (%s), and stops on Ctrl-C',
    async (type, file) => {
      const app = apps[type];
      await writeFile(path.join(app, file), subscribersModule);
      const { child, output } = await start(
        ['payfold', 'serve', '--subscribers', `./${file}`],
        app,
        /"payfold is serving"/,
      );
      // The subscriber loaded, and leads its checkpoint.
      await expect.poll(output).toContain('"subscriber":"welcome-email"');
      const url = (
        JSON.parse(
          output()
            .split('\n')
            .find((l) => l.includes('"payfold is serving"')) as string,
        ) as { url: string }
      ).url;
      expect((await fetch(`${url}/readyz`)).status).toBe(200);
      await interrupt(child);
      // The embedded Postgres stopped with it.
      expect(existsSync(path.join(app, '.payfold', 'postgres', 'postmaster.pid'))).toBe(false);
    },
  );

  it('says in one line what to export when the subscribers module exports nothing usable', async () => {
    await writeFile(path.join(apps.commonjs, 'nothing.cjs'), 'module.exports = { welcome: 1 };\n');
    const result = await run('npx', ['payfold', 'serve', '--subscribers', './nothing.cjs'], apps.commonjs);
    expect(result.code).toBe(1);
    expect(result.err.split('\n')).toHaveLength(1);
    expect(result.err).toMatch(
      /^payfold: --subscribers: \.\/nothing\.cjs exports no subscribers: export them as `export const subscribers = \[defineSubscriber/,
    );
  });
});
