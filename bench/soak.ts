// The soak measure (run only with `--only soak`): webhooks at a steady rate for a long time
// (default 30 minutes, `--duration`), the embedded Postgres restarted twice on the way (at a third
// and at two thirds), then: every acknowledged event must be in the log and projected. Reports
// acknowledged, logged and projected counts, answers by status, and the server's peak RSS.
import { readFileSync } from 'node:fs';
import pg from 'pg';
import { createSignedEventSource } from './signed-events.js';
import { createDatabase, noPeerFigures, note, pgCtl, startPayfold, webhookSecret } from './support.js';

const rate = 500;

/** A process's memory from /proc: `VmHWM` is its peak resident set, `VmRSS` the present one. */
const memoryMb = (pid: number | undefined, field: 'VmHWM' | 'VmRSS'): number | null => {
  if (!pid) return null;
  const match = new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return match ? Math.round(Number(match[1]) / 1024) : null;
};

export const measureSoak = async (adminUrl: string, dataDirectory: string | undefined, seconds: number) => {
  const databaseUrl = await createDatabase(adminUrl, 'payfold_bench_soak');
  const payfold = await startPayfold(databaseUrl);
  const nextEvent = createSignedEventSource(webhookSecret);
  const acknowledged: string[] = [];
  const answers: Record<string, number> = {};
  let inFlight = 0;
  let skipped = 0;
  const send = async () => {
    const { body, signature } = nextEvent();
    inFlight += 1;
    try {
      const response = await fetch(`${payfold.url}/api/webhooks/stripe/test`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'stripe-signature': signature },
        body,
      });
      answers[response.status] = (answers[response.status] ?? 0) + 1;
      if (response.ok) acknowledged.push(JSON.parse(body).id);
      await response.arrayBuffer();
    } catch {
      answers.network_error = (answers.network_error ?? 0) + 1;
    } finally {
      inFlight -= 1;
    }
  };
  const restarts: Array<{ at_s: number; ok: boolean; error?: string }> = [];
  const restartAt = dataDirectory ? [seconds / 3, (2 * seconds) / 3] : [];
  note(`sending ${rate} webhooks/s for ${seconds} s${dataDirectory ? ', restarting Postgres twice' : ''}`);
  const started = performance.now();
  // Whether memory levels off under a steady load or keeps growing: the server's RSS every 30 s.
  const rssSamples: Array<{ at_s: number; rss_mb: number | null }> = [];
  const sampling = setInterval(
    () =>
      rssSamples.push({
        at_s: Math.round((performance.now() - started) / 1000),
        rss_mb: memoryMb(payfold.pid, 'VmRSS'),
      }),
    30_000,
  );
  const ticks: Array<Promise<void>> = [];
  for (let tick = 0; tick < seconds * 10; tick += 1) {
    const elapsed = (performance.now() - started) / 1000;
    const due = restartAt.find((at) => at <= elapsed);
    if (due !== undefined && dataDirectory) {
      restartAt.splice(restartAt.indexOf(due), 1);
      note(`restarting Postgres at ${Math.round(elapsed)} s`);
      ticks.push(
        pgCtl(dataDirectory, 'restart').then(
          () => void restarts.push({ at_s: Math.round(elapsed), ok: true }),
          (error: Error) =>
            void restarts.push({ at_s: Math.round(elapsed), ok: false, error: error.message }),
        ),
      );
    }
    for (let index = 0; index < rate / 10; index += 1) {
      // A sender that cannot keep up drops its surplus rather than queueing without bound.
      if (inFlight >= 512) skipped += 1;
      else ticks.push(send());
    }
    const next = started + (tick + 1) * 100;
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, next - performance.now())));
  }
  await Promise.all(ticks);
  clearInterval(sampling);
  note('waiting for the projections to reach the head of the log');
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  const counts = async () =>
    (
      await client.query<{ logged: number; projected: number; missing: number }>(
        `select (select count(*)::int from payfold.events where type = 'stripe.event') as logged,
                (select count(*)::int from payments.webhook_events) as projected,
                (select count(*)::int from unnest($1::text[]) as k(key)
                 where not exists (select 1 from payfold.events e where e.dedupe_key = k.key)) as missing`,
        [acknowledged.map((id) => `stripe.event/test/${id}`)],
      )
    ).rows[0] as { logged: number; projected: number; missing: number };
  let result = await counts();
  const deadline = Date.now() + 300_000;
  while (result.projected < result.logged && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 2000));
    result = await counts();
  }
  await client.end();
  const rss = memoryMb(payfold.pid, 'VmHWM');
  await payfold.stop();
  return {
    measure: 'soak',
    setup: { rate_per_s: rate, seconds, postgres_restarts: restarts },
    budget: { acknowledged_equals_logged_equals_projected: true },
    payfold: {
      sent: Object.values(answers).reduce((sum, count) => sum + count, 0),
      not_sent_sender_behind: skipped,
      answers,
      acknowledged: acknowledged.length,
      logged: result.logged,
      projected: result.projected,
      acknowledged_missing_from_log: result.missing,
      peak_rss_mb: rss,
      rss_mb_every_30_s: rssSamples,
    },
    peers: noPeerFigures('not run'),
    within_budget: result.missing === 0 && result.projected === result.logged,
  };
};
