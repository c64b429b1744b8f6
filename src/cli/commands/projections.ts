import type { Command } from 'commander';
import type { RebuildSummary } from '../../projections/engine/index.js';
import type { ReplayFrom } from '../../subscribers/index.js';
import { globals, parkedLines, print, table, UsageError, withOperations } from '../command-context.js';

const changedTables = (summary: RebuildSummary) =>
  Object.entries(summary.changes)
    .filter(
      ([name, counts]) =>
        name.startsWith('payments.') && counts.inserted + counts.updated + counts.deleted > 0,
    )
    .map(([name, counts]) => `${name} +${counts.inserted} ~${counts.updated} -${counts.deleted}`);

const rebuildText = (summaries: readonly RebuildSummary[]) =>
  summaries
    .flatMap((summary) => [
      `${summary.projection}: ${summary.entries} entries in ${summary.seconds} s (${summary.entriesPerSecond}/s); ${changedTables(summary).join(', ') || 'no row changed'}${summary.unparked > 0 ? `; ${summary.unparked} parked entries applied now` : ''}`,
      ...parkedLines(summary.parkedEntries),
    ])
    .join('\n');

const positionsOf = (positions: readonly string[]) =>
  positions.map((position) => {
    if (!/^\d+$/.test(position)) throw new UsageError(`${position} is not a log position (a number)`);
    return Number(position);
  });

/** `rebuild` and `projections retry|dismiss`: the tables built again, and parked entries. */
export const registerProjectionCommands = (program: Command): void => {
  program
    .command('rebuild')
    .description(
      'rebuild projections from the log into shadow tables while the live ones serve, then apply only what differs',
    )
    .option('--projection <name...>', 'the projections to rebuild (default: all)')
    .option(
      '--quiet',
      'apply the difference with user triggers off (a repair that must not re-run fulfillment)',
    )
    .action(async function (this: Command, options: { projection?: string[]; quiet?: boolean }) {
      const { rebuildProgressReporter } = await import('../rebuild-progress.js');
      const json = globals(this).json;
      const result = await withOperations(async ({ projections }) =>
        projections.rebuild({
          projections: options.projection,
          quiet: options.quiet,
          reason: 'command',
          onProgress: json ? undefined : rebuildProgressReporter(await projections.logEntries()),
        }),
      );
      if (!result.ok) throw new UsageError(result.message);
      print(this, rebuildText(result.summaries), { rebuilds: result.summaries });
    });

  const projections = program.command('projections').description('the projections and their parked entries');
  projections
    .command('retry')
    .description('apply parked entries again, in log order, after a fix (no rebuild)')
    .option('--projection <name...>', 'the projections whose parked entries to retry (default: all)')
    .action(async function (this: Command, options: { projection?: string[] }) {
      const result = await withOperations((operations) =>
        operations.projections.retryParked(options.projection),
      );
      if (!result.ok) throw new UsageError(result.message);
      print(
        this,
        result.summaries
          .map(
            (summary) =>
              `${summary.projection}: ${summary.retried} parked entries retried, ${summary.applied} applied, ${summary.stillParked} still parked`,
          )
          .join('\n'),
        { retries: result.summaries },
      );
    });

  projections
    .command('dismiss')
    .description(
      'decide that parked entries will never apply: rebuilds and retries pass them over (the log keeps them; --undo parks them again)',
    )
    .argument('<position...>', 'the log positions of the parked entries (payfold status lists them)')
    .option('--projection <name>', 'only in this projection (default: every projection that parked them)')
    .option('--undo', 'park them again: retries and rebuilds try them once more')
    .action(async function (
      this: Command,
      positions: string[],
      options: { projection?: string; undo?: boolean },
    ) {
      const numbers = positionsOf(positions);
      const result = await withOperations((operations) =>
        operations.projections.dismiss(numbers, { projection: options.projection, undo: options.undo }),
      );
      if (!result.ok) throw new UsageError(result.message);
      if (result.notParked.length > 0)
        throw new UsageError(
          `no parked entry at position ${result.notParked.join(', ')}${options.projection ? ` in ${options.projection}` : ''}`,
        );
      print(this, `${options.undo ? 'parked again' : 'dismissed'}: ${result.changed.join(', ')}`, {
        [options.undo ? 'parkedAgain' : 'dismissed']: result.changed,
      });
    });
};

const replayFrom = (from: string): ReplayFrom => {
  if (/^\d+$/.test(from)) return { logPosition: Number(from) };
  if (!Number.isNaN(Date.parse(from))) return { time: new Date(from) };
  throw new UsageError(`--from: ${from} is neither a log position nor an ISO time`);
};

/** Moves a subscriber back, as `subscribers replay` and its former name `replay` do. */
const replay = async function (this: Command, options: { subscriber: string; from: string }) {
  const from = replayFrom(options.from);
  const ahead = await withOperations((operations) => operations.subscribers.replay(options.subscriber, from));
  if (ahead === undefined)
    throw new UsageError(`no subscriber called ${options.subscriber} has run on this database`);
  print(this, `${options.subscriber}: ${ahead} changes will be delivered again, from the next time it runs`, {
    subscriber: options.subscriber,
    changesAhead: ahead,
  });
};

const replayOptions = (command: Command) =>
  command
    .requiredOption('--subscriber <name>', 'the subscriber, by its name')
    .requiredOption('--from <point>', 'a log position (a number) or an ISO time (2026-11-01T00:00:00Z)');

/** `subscribers list|replay`, `replay` (the former name) and `change-stream`. */
export const registerSubscriberCommands = (program: Command): void => {
  const subscribers = program
    .command('subscribers')
    .description('the TypeScript subscribers that have run on this database, and their replay');
  subscribers
    .command('list')
    .description('each subscriber: the last change it delivered, how many are ahead of it, parked changes')
    .action(async function (this: Command) {
      const list = await withOperations((operations) => operations.subscribers.list(), { readOnly: true });
      print(
        this,
        table(
          list.map((subscriber) => ({ ...subscriber, updatedAt: subscriber.updatedAt.toISOString() })),
          ['name', 'changeId', 'behind', 'parkedChanges', 'updatedAt'],
        ),
        { subscribers: list },
      );
    });
  replayOptions(
    subscribers
      .command('replay')
      .description(
        "deliver a subscriber's changes again from a log position or a time (its checkpoint moves back)",
      ),
  ).action(replay);
  replayOptions(
    program
      .command('replay')
      .description('the former name of `payfold subscribers replay` (not a webhook redelivery)'),
  ).action(replay);

  program
    .command('change-stream')
    .description(
      'turn the capture of payments changes for subscribers (payfold.row_changes) on or off, or say whether it is on',
    )
    .argument('[state]', 'on or off')
    .action(async function (this: Command, state?: string) {
      if (state !== undefined && state !== 'on' && state !== 'off')
        throw new UsageError(`change-stream: on or off, not ${state}`);
      const on = await withOperations(
        async ({ changeStream }) => {
          if (state !== undefined) await changeStream.switchTo(state === 'on');
          return changeStream.isOn();
        },
        { readOnly: state === undefined },
      );
      print(
        this,
        on
          ? 'the change stream is on: every change of a payments row is captured for subscribers'
          : 'the change stream is off: no change is captured, and subscribers are refused',
        { changeStream: on ? 'on' : 'off' },
      );
    });
};
