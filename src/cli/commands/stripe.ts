import type { Command } from 'commander';
import type { Environment } from '../../domain/environment.js';
import { syncObjectKinds } from '../../domain/sync-kinds.js';
import {
  environmentFlag,
  environmentOf,
  globals,
  print,
  settleAfterAppend,
  UsageError,
  withOperations,
} from '../command-context.js';

/** `config set [environment] [key]`: the first word is the environment only when it names one. */
const environmentAndKey = async (
  command: Command,
  words: readonly string[],
): Promise<{ environment: Environment; key: string | undefined }> => {
  const [first, second] = words;
  // Two words are an environment and a key; one is the environment when it names one, else the key.
  if (second !== undefined || first === 'test' || first === 'live')
    return { environment: await environmentOf(command, first), key: second };
  return { environment: await environmentOf(command, undefined), key: first };
};

/** `config set|remove`: connecting an account, per environment. */
const registerConfigCommands = (program: Command): void => {
  const config = program
    .command('config')
    .description('connect Payfold to a Stripe account, per environment');
  config
    .command('set')
    .description(
      'check a secret key with Stripe, store it encrypted, connect the environment and run its first sync',
    )
    .argument('[environment]', 'test (the default) or live; --live says live too')
    .argument('[secret-key]', 'sk_... or rk_... (asked for without echo when omitted)')
    .option('--force', 'switch the environment to a key of another Stripe account')
    .action(async function (
      this: Command,
      first: string | undefined,
      second: string | undefined,
      options: { force?: boolean },
    ) {
      const { environment, key: given } = await environmentAndKey(
        this,
        [first, second].filter((word) => word !== undefined) as string[],
      );
      const { readSecret } = await import('../read-secret.js');
      const key = given ?? (await readSecret(`Stripe ${environment} secret key: `));
      const { result, tables } = await withOperations(async (operations, database) => {
        const connected = await operations.stripe.connect(environment, key, {
          force: options.force ?? false,
          firstSync: 'wait',
        });
        return {
          result: connected,
          tables: connected.ok ? (await settleAfterAppend(operations, database)).line : '',
        };
      });
      if (!result.ok) throw new UsageError(result.refusal.message);
      const { connection, switchedFrom, firstSync, webhook } = result;
      const synced =
        firstSync === undefined || firstSync === 'started'
          ? ''
          : firstSync.ok
            ? `; first sync: ${firstSync.summary.kinds.reduce((sum, kind) => sum + kind.objects, 0)} objects appended`
            : `; first sync failed: ${firstSync.message} (run payfold sync --environment ${environment})`;
      print(
        this,
        [
          `${environment} connected to ${connection.accountId} with ${connection.maskedKey}${switchedFrom ? ` (was ${switchedFrom})` : ''}${synced}`,
          webhook.managed ? `webhooks: Stripe sends them to ${webhook.url}` : `webhooks: ${webhook.message}`,
          tables,
        ].join('\n'),
        result,
      );
    });

  config
    .command('remove')
    .description("deactivate an environment's Stripe connection (the stored tables stay)")
    .argument('[environment]', 'test (the default) or live; --live says live too')
    .action(async function (this: Command, given: string | undefined) {
      const environment = await environmentOf(this, given);
      const removed = await withOperations(({ stripe }) => stripe.connections.remove(environment));
      print(this, removed ? `${environment} disconnected` : `${environment} was not connected`, { removed });
    });
};

/** `config set|remove`, `sync` and `reconcile`: the account, into the log, against the tables. */
export const registerStripeCommands = (program: Command): void => {
  registerConfigCommands(program);

  program
    .command('sync')
    .description(
      'append every object of the Stripe account to the log, page by page (a sync stopped half-way resumes)',
    )
    .option('--environment <environment>', 'test (the default), live or all; --live says live too')
    .option('--objects <kinds>', `comma-separated, of ${syncObjectKinds.join(', ')} (default: all)`)
    .action(async function (this: Command, options: { environment?: string; objects?: string }) {
      const environments =
        options.environment === 'all'
          ? (['test', 'live'] as const)
          : [await environmentOf(this, options.environment)];
      const kinds = options.objects?.split(',').map((kind) => {
        const known = syncObjectKinds.find((candidate) => candidate === kind.trim());
        if (!known) throw new UsageError(`--objects: ${kind} is not one of ${syncObjectKinds.join(', ')}`);
        return known;
      });
      const json = globals(this).json;
      const { syncProgressReporter } = await import('../sync-progress.js');
      const { summaries, tables } = await withOperations(async (operations, database) => {
        const done = [];
        for (const environment of environments) {
          const result = await operations.stripe.sync(
            environment,
            kinds,
            json ? undefined : syncProgressReporter(environment),
          );
          if (!result.ok) {
            // `all` syncs the environments that are connected.
            if (options.environment === 'all' && result.status === 409) continue;
            throw new UsageError(result.message);
          }
          done.push(result.summary);
        }
        return {
          summaries: done,
          tables: done.length > 0 ? (await settleAfterAppend(operations, database)).line : '',
        };
      });
      print(
        this,
        [
          ...summaries.map(
            (summary) =>
              `${summary.environment}: ${summary.kinds.reduce((sum, kind) => sum + kind.objects, 0)} objects appended in ${summary.seconds.toFixed(1)} s`,
          ),
          tables || 'no environment is connected',
        ].join('\n'),
        { syncs: summaries },
      );
    });

  program
    .command('reconcile')
    .description(
      'prove, or repair, that the tables match Stripe: missed webhooks, drifted objects, ties, tables (a dry run exits 2 when it finds drift)',
    )
    .option(...environmentFlag)
    .option('--dry-run', 'report only; change nothing; exit 2 when there is drift, as git diff --exit-code')
    .action(async function (this: Command, options: { environment?: string; dryRun?: boolean }) {
      const environment = await environmentOf(this, options.environment);
      const { reconcileReportText } = await import('../reconcile-report.js');
      const result = await withOperations(({ stripe }) =>
        stripe.reconcile(environment, options.dryRun === true),
      );
      if (!result.ok) throw new UsageError(result.message);
      print(this, reconcileReportText(result.report), result.report);
      // 0 clean, 2 differences found, 1 an error: scripts can tell them apart.
      if (options.dryRun && result.report.drift > 0) process.exitCode = 2;
    });
};
