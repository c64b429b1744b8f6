import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { WebhookMetrics } from '../app/ingest-stripe-webhook.js';
import type { ProjectionMetrics } from '../projections/engine/index.js';

/** One registry per running Payfold, so that tests can run several side by side. */
export interface MetricsSources {
  headPosition: () => Promise<bigint>;
  projectionStatuses?: () => Promise<Array<{ name: string; behind: number; parkedEntries: number }>>;
  /** Seconds the oldest open transaction on the database has been running (it holds readers of the log back). */
  oldestTransactionSeconds?: () => Promise<number>;
}

/** One call shared by every gauge of one scrape: the statuses are read once, not per gauge. */
const sharedForOneScrape = <T>(read: () => Promise<T>): (() => Promise<T>) => {
  let last: { at: number; value: Promise<T> } | undefined;
  return () => {
    if (!last || Date.now() - last.at > 1000) last = { at: Date.now(), value: read() };
    return last.value;
  };
};

/** What the webhook door reports: deliveries stored, duplicates, refusals, time to commit. */
const webhookSeries = (registry: Registry) => ({
  webhooksReceived: new Counter({
    name: 'payfold_webhooks_received_total',
    help: 'Verified Stripe webhooks stored in the log for the first time',
    labelNames: ['environment'] as const,
    registers: [registry],
  }),
  webhooksDuplicate: new Counter({
    name: 'payfold_webhooks_duplicate_total',
    help: 'Verified Stripe webhooks whose event was already in the log',
    labelNames: ['environment'] as const,
    registers: [registry],
  }),
  webhooksRejected: new Counter({
    name: 'payfold_webhooks_rejected_total',
    help: 'Webhook requests answered with an error, by reason',
    labelNames: ['reason'] as const,
    registers: [registry],
  }),
  appendSeconds: new Histogram({
    name: 'payfold_event_append_seconds',
    help: 'Time from handing an entry to the log until its commit (or duplicate) is known',
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [registry],
  }),
});

/** Where the log and each projection stand, and how their batches go. */
const projectionSeries = (
  registry: Registry,
  options: MetricsSources,
  projectionStatuses: () => Promise<Array<{ name: string; behind: number; parkedEntries: number }>>,
) => ({
  logHeadPosition: new Gauge({
    name: 'payfold_event_log_head_position',
    help: 'Position of the newest entry in the event log',
    registers: [registry],
    async collect() {
      this.set(Number(await options.headPosition()));
    },
  }),
  projectionPosition: new Gauge({
    name: 'payfold_projection_position',
    help: 'Log position up to which each projection has applied entries',
    labelNames: ['projection'] as const,
    registers: [registry],
  }),
  projectionLag: new Gauge({
    name: 'payfold_projection_lag_entries',
    help: 'Log entries committed after the position each projection has applied',
    labelNames: ['projection'] as const,
    registers: [registry],
    async collect() {
      for (const status of await projectionStatuses()) {
        this.set({ projection: status.name }, status.behind);
      }
    },
  }),
  projectionParked: new Gauge({
    name: 'payfold_projection_parked_entries',
    help: 'Log entries each projection has parked in payfold.projection_errors',
    labelNames: ['projection'] as const,
    registers: [registry],
    async collect() {
      for (const status of await projectionStatuses()) {
        this.set({ projection: status.name }, status.parkedEntries);
      }
    },
  }),
  projectionBatchSeconds: new Histogram({
    name: 'payfold_projection_batch_seconds',
    help: 'Time one projection batch takes, from locking the checkpoint to the commit',
    labelNames: ['projection'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [registry],
  }),
  projectionBatchEntries: new Histogram({
    name: 'payfold_projection_batch_entries',
    help: 'Log entries read by one projection batch',
    labelNames: ['projection'] as const,
    buckets: [1, 5, 10, 25, 50, 100, 200, 500, 1000],
    registers: [registry],
  }),
  oldestTransaction: new Gauge({
    name: 'payfold_oldest_transaction_seconds',
    help: 'Age of the oldest open transaction on the database: projections cannot read past it',
    registers: [registry],
    async collect() {
      if (options.oldestTransactionSeconds) this.set(await options.oldestTransactionSeconds());
    },
  }),
  projectionBatchFailures: new Counter({
    name: 'payfold_projection_batch_failures_total',
    help: 'Projection batches rolled back by an error that parks nothing (deadlock, timeout, trigger), then tried again',
    labelNames: ['projection'] as const,
    registers: [registry],
  }),
  projectionErrors: new Counter({
    name: 'payfold_projection_errors_total',
    help: 'Log entries a projector failed to apply and parked in payfold.projection_errors',
    labelNames: ['projection'] as const,
    registers: [registry],
  }),
});

/** The Prometheus registry behind `/metrics`, and the metric interfaces the use cases report to. */
export const createMetrics = (options: MetricsSources) => {
  const registry = new Registry();
  const projectionStatuses = sharedForOneScrape(async () => (await options.projectionStatuses?.()) ?? []);
  collectDefaultMetrics({ register: registry, prefix: 'payfold_process_' });
  const series = { ...webhookSeries(registry), ...projectionSeries(registry, options, projectionStatuses) };
  const webhooks: WebhookMetrics = {
    stored: (environment, duplicate) =>
      (duplicate ? series.webhooksDuplicate : series.webhooksReceived).inc({ environment }),
    rejected: (reason) => series.webhooksRejected.inc({ reason }),
    appendStarted: () => series.appendSeconds.startTimer(),
  };
  const projections: ProjectionMetrics = {
    batchApplied: (projection, entries, seconds, position) => {
      series.projectionBatchSeconds.observe({ projection }, seconds);
      series.projectionBatchEntries.observe({ projection }, entries);
      series.projectionPosition.set({ projection }, Number(position));
    },
    entryParked: (projection) => series.projectionErrors.inc({ projection }),
    batchFailed: (projection) => series.projectionBatchFailures.inc({ projection }),
  };
  return {
    registry,
    webhooks,
    /** Webhook requests refused since this process started, by reason (the dashboard shows them). */
    rejectedWebhooks: async (): Promise<Array<{ reason: string; count: number }>> =>
      (await series.webhooksRejected.get()).values.map((value) => ({
        reason: String(value.labels.reason),
        count: value.value,
      })),
    projections,
    /** The Prometheus text of every metric. */
    text: async () => ({ contentType: registry.contentType, body: await registry.metrics() }),
  };
};

export type Metrics = ReturnType<typeof createMetrics>;
