// Child process of the catch_up measure: projects a log from empty checkpoints through every
// projector `payfold serve` runs, then prints one JSON line with the time and its peak RSS. A
// process of its own, so that the RSS is the projection's and not the log generator's; plain
// JavaScript over the compiled code (`npm run bench` builds it first), as `payfold` runs, because
// the TypeScript loader alone added about 30 MB to the RSS it measures.
// With `--read-only` it only reads the whole log through the same port, in the chunks a rebuild
// reads: the floor any projection of this log stands on, measured beside it. With `--batches` the
// projectors apply the log in batches, as they did before the rebuild path existed. With
// `--rebuild` the projections, already built, are rebuilt as `payfold rebuild` does: into shadow
// tables, then only the difference applied to the live ones.
import { pino } from 'pino';
import { PostgresEventLog } from '../dist/server/adapters/postgres/event-log.js';
import { createPool } from '../dist/server/adapters/postgres/pool.js';
import { checkpointOf, logStart } from '../dist/server/domain/event-log.js';
import { rebuildProjections } from '../dist/server/projections/engine/rebuild.js';
import { ProjectionRunner } from '../dist/server/projections/engine/runner.js';
import { projectors } from '../dist/server/projections/index.js';

const [databaseUrl, mode] = process.argv.slice(2);
if (!databaseUrl)
  throw new Error('usage: catch-up-projection.js <database url> [--read-only | --batches | --rebuild]');
// The pool `payfold rebuild` has, so that the rebuild builds as many projections at once as it does.
const pool = createPool(databaseUrl, { max: 6 });
const log = new PostgresEventLog(pool, databaseUrl);
const started = performance.now();
if (mode === '--read-only') {
  let from = logStart;
  for (;;) {
    const last = (await log.readAll(from, 1000)).at(-1);
    if (!last) break;
    from = checkpointOf(last);
  }
} else if (mode === '--rebuild') {
  await rebuildProjections({ pool, log, projectors, logger: pino({ level: 'silent' }), reason: 'bench' });
} else {
  // The runner's own sizes, as `payfold serve` uses them.
  const runner = new ProjectionRunner({
    pool,
    log,
    projectors:
      mode === '--batches'
        ? projectors.map((projector) => ({ ...projector, rebuild: undefined }))
        : projectors,
    logger: pino({ level: 'silent' }),
  });
  await runner.catchUp();
}
const seconds = (performance.now() - started) / 1000;
process.stdout.write(
  `${JSON.stringify({ seconds, max_rss_mb: Math.round(process.resourceUsage().maxRSS / 1024) })}\n`,
);
await log.close();
await pool.end();
