// wrk with bench/webhook-load.lua: the load generator of the webhook measures when it is installed
// (`apt-get install wrk`); a C program, so it leaves the two cores to the server and Postgres.
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

export const hasWrk = spawnSync('wrk', ['--version']).error === undefined;

export type SignedEvent = { body: string; signature: string };

export interface WrkRun {
  url: string;
  connections: number;
  /** The pre-signed events, written to a file before the clock starts. */
  events: Iterable<SignedEvent>;
  /** `load`: cyclically for `durationSeconds`; `once`: each event once, wrk ended when all are answered. */
  mode: { kind: 'load'; durationSeconds: number } | { kind: 'once' };
}

/** Runs wrk and returns the JSON of the result line it prints (`WRK_RESULT` or `WRK_EVENTS`). */
export const runWrk = async (run: WrkRun): Promise<Record<string, number>> => {
  const directory = await mkdtemp(path.join(tmpdir(), 'payfold-bench-events-'));
  const file = path.join(directory, 'events.tsv');
  const out = createWriteStream(file);
  // The script's check request uses up the first line: a placeholder, so every event is sent.
  if (run.mode.kind === 'once') out.write('-\t-');
  let first = run.mode.kind !== 'once';
  for (const event of run.events) {
    if (!out.write(`${first ? '' : '\n'}${event.signature}\t${event.body}`)) await once(out, 'drain');
    first = false;
  }
  await new Promise((resolve) => out.end(resolve));
  const tag = run.mode.kind === 'once' ? 'WRK_EVENTS ' : 'WRK_RESULT ';
  try {
    const script = path.join(import.meta.dirname, 'webhook-load.lua');
    const duration = run.mode.kind === 'load' ? `-d${run.mode.durationSeconds}s` : '-d600s';
    const args = ['-t1', `-c${run.connections}`, duration, '--latency', '-s', script, run.url, '--', file];
    if (run.mode.kind === 'once') args.push('once');
    const output = await new Promise<string>((resolve, reject) => {
      const child = spawn('wrk', args, { stdio: ['ignore', 'pipe', 'inherit'] });
      let text = '';
      child.stdout.on('data', (chunk) => {
        text += String(chunk);
        // In `once` mode wrk would otherwise wait out its whole duration.
        if (tag === 'WRK_EVENTS ' && text.includes(tag)) child.kill('SIGINT');
      });
      child.on('error', reject);
      child.on('exit', () => resolve(text));
    });
    const line = output.split('\n').find((candidate) => candidate.startsWith(tag));
    if (!line) throw new Error(`wrk printed no result: ${output}`);
    return JSON.parse(line.slice(tag.length));
  } finally {
    await rm(directory, { recursive: true, force: true });
  }
};
