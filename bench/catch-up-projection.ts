// Child process of the catch_up measure: projects a log from empty checkpoints through every
// projector `payfold serve` runs, then prints one JSON line with the time and its peak RSS. A
// process of its own, so that the RSS is the projection's and not the log generator's.
import { pino } from 'pino';
import { PostgresEventLog } from '../src/adapters/postgres/event-log.js';
import { createPool } from '../src/adapters/postgres/pool.js';
import { projectors } from '../src/projections/index.js';
import { ProjectionRunner } from '../src/projections/runner.js';

const databaseUrl = process.argv[2];
if (!databaseUrl) throw new Error('usage: catch-up-projection.ts <database url>');
const pool = createPool(databaseUrl, { max: 4 });
const log = new PostgresEventLog(pool, databaseUrl);
// The runner's own batch sizes, as `payfold serve` uses them.
const runner = new ProjectionRunner({ pool, log, projectors, logger: pino({ level: 'silent' }) });
const started = performance.now();
await runner.catchUp();
const seconds = (performance.now() - started) / 1000;
process.stdout.write(
  `${JSON.stringify({ seconds, max_rss_mb: Math.round(process.resourceUsage().maxRSS / 1024) })}\n`,
);
await log.close();
await pool.end();
