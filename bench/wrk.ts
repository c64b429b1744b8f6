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
    return await runWrkScript({
      script: 'webhook-load.lua',
      url: run.url,
      connections: run.connections,
      durationSeconds: run.mode.kind === 'load' ? run.mode.durationSeconds : 600,
      scriptArgs: run.mode.kind === 'once' ? [file, 'once'] : [file],
      tag,
    });
  } finally {
    await rm(directory, { recursive: true, force: true });
  }
};

/**
 * Runs wrk with one of the bench's Lua scripts and returns the JSON of the line it prints after
 * `tag`; wrk is ended as soon as that line comes (a `once` run would otherwise wait out its time).
 */
export const runWrkScript = async (run: {
  script: string;
  url: string;
  connections: number;
  durationSeconds: number;
  scriptArgs: string[];
  tag: string;
}): Promise<Record<string, number>> => {
  const script = path.join(import.meta.dirname, run.script);
  const args = [
    '-t1',
    `-c${run.connections}`,
    `-d${run.durationSeconds}s`,
    '--latency',
    '-s',
    script,
    run.url,
    '--',
    ...run.scriptArgs,
  ];
  const output = await new Promise<string>((resolve, reject) => {
    const child = spawn('wrk', args, { stdio: ['ignore', 'pipe', 'inherit'] });
    let text = '';
    child.stdout.on('data', (chunk) => {
      text += String(chunk);
      if (run.tag === 'WRK_EVENTS ' && text.includes(run.tag)) child.kill('SIGINT');
    });
    child.on('error', reject);
    child.on('exit', () => resolve(text));
  });
  const line = output.split('\n').find((candidate) => candidate.startsWith(run.tag));
  if (!line) throw new Error(`wrk printed no result: ${output}`);
  return JSON.parse(line.slice(run.tag.length));
};
