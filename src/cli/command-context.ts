import type { Command } from 'commander';
import type { PayfoldOperations } from '../app/operations.js';
import type { Environment } from '../domain/environment.js';
import type { PayfoldDatabase } from '../main/database.js';
import type { ParkedEntry, SettleSummary } from '../projections/engine/index.js';

/*
 * What every command shares: its global options, one way to print, the environment it acts on, the
 * database it opens. Modules load when a command runs (`await import(…)`): `payfold --help` and
 * `--version` load commander and nothing else, so they answer at once (README "Running it").
 */

export interface GlobalOptions {
  json?: boolean;
  live?: boolean;
}

/** A mistake of the command line's: one line, exit code 1. */
export class UsageError extends Error {}

export const globals = (command: Command): GlobalOptions => command.optsWithGlobals<GlobalOptions>();

/** Prints a result: the human text, or with `--json` the data as one line of JSON. */
export const print = (command: Command, human: string, data: unknown): void => {
  process.stdout.write(globals(command).json ? `${JSON.stringify(data)}\n` : `${human}\n`);
};

/** Columns of rows as aligned text, as `stripe … list` and `supabase … list` print them. */
export const table = (rows: ReadonlyArray<Record<string, unknown>>, columns: readonly string[]): string => {
  if (rows.length === 0) return '(none)';
  const cell = (value: unknown) => (value === null || value === undefined ? '—' : String(value));
  const widths = columns.map((column) =>
    Math.max(column.length, ...rows.map((row) => cell(row[column]).length)),
  );
  const line = (values: string[]) =>
    values
      .map((value, index) => value.padEnd(widths[index] as number))
      .join('  ')
      .trimEnd();
  return [
    line([...columns]),
    line(widths.map((width) => '-'.repeat(width))),
    ...rows.map((row) => line(columns.map((column) => cell(row[column])))),
  ].join('\n');
};

/**
 * The environment a command acts on: `test` unless `--live` (as the Stripe CLI) or
 * `--environment live` says otherwise; `--environment` also takes `test`, and `all` where allowed.
 */
export const environmentOf = async (command: Command, given: string | undefined): Promise<Environment> => {
  const { environmentSchema } = await import('../domain/environment.js');
  if (given !== undefined) {
    const parsed = environmentSchema.safeParse(given);
    if (!parsed.success) throw new UsageError(`the environment is test or live, not ${given}`);
    if (parsed.data === 'test' && globals(command).live)
      throw new UsageError('--live and --environment test say different things: use one');
    return parsed.data;
  }
  return globals(command).live ? 'live' : 'test';
};

/** The `--environment` option every command that acts on one environment takes. */
export const environmentFlag = [
  '--environment <environment>',
  'test (the default) or live; --live says live too',
] as const;

/** The configuration, and a logger maker, loaded when a command runs. */
export const configured = async (overrides: Record<string, string> = {}) => {
  const [{ loadConfig }, { createLogger }] = await Promise.all([
    import('../main/config.js'),
    import('../main/logger.js'),
  ]);
  return { config: loadConfig({ ...process.env, ...overrides }), createLogger };
};

/**
 * Runs `work` with Payfold's operations over the configured database (the admin routes call the
 * same). Without `DATABASE_URL`, it says on stderr which embedded Postgres it used, and whether it
 * just made it; a `readOnly` command makes none, and says so.
 */
export const withOperations = async <T>(
  work: (operations: PayfoldOperations, database: PayfoldDatabase) => Promise<T>,
  options: { readOnly?: boolean } = {},
): Promise<T> => {
  const { config, createLogger } = await configured();
  const { withPayfold } = await import('../main/open-payfold.js');
  return withPayfold(
    config,
    createLogger('silent'),
    (operations, database) => {
      if (database.embedded)
        process.stderr.write(`payfold: ${database.description}${database.created ? ' (made now)' : ''}\n`);
      return work(operations, database);
    },
    options,
  );
};

/** How long a command that appended waits for a running `payfold serve` to project it. */
const settleTimeoutMs = 30_000;

/**
 * After a command appended to the log: the tables brought up to date with it (here, or by the
 * process that leads the projections), and a line saying where they are, or what is still behind.
 */
export const settleAfterAppend = async (
  operations: PayfoldOperations,
  database: PayfoldDatabase,
): Promise<{ settled: SettleSummary; line: string }> => {
  const settled = await operations.projections.settle(settleTimeoutMs);
  const line =
    settled.behind.length > 0
      ? `tables: ${settled.behind.join(', ')} not up to date after ${settleTimeoutMs / 1000} s; the process that leads them (payfold serve or project) is catching up`
      : `tables: up to date in ${database.description}${settled.waitedFor.length > 0 ? ' (projected by the running payfold process)' : ''}`;
  return { settled, line };
};

/** Parked entries as lines, and what to do about them. */
export const parkedLines = (entries: readonly ParkedEntry[]): string[] =>
  entries.length === 0
    ? []
    : [
        ...entries.map(
          (entry) =>
            `parked: ${entry.projection} at ${entry.position} (${entry.entryType})${entry.dismissedAt ? ', dismissed' : ''}: ${entry.error}`,
        ),
        ...(entries.some((entry) => !entry.dismissedAt)
          ? [
              'parked entries were passed over; fix the cause and run payfold projections retry, or payfold projections dismiss <position…> if they will never apply',
            ]
          : []),
      ];
