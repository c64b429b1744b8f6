import type { Environment } from './environment.js';
import type { StripeEventEnvelope } from './stripe-event.js';

/**
 * Log entry types. Each type is versioned: a change to the shape of `data` gets a new version and
 * readers accept every version they know.
 */
export const logEntryType = {
  stripeEvent: 'stripe.event',
  stripeConnectionChanged: 'stripe.connection.changed',
  stripeSyncPage: 'stripe.sync.page',
  stripeObjectFetched: 'stripe.object.fetched',
} as const;

/** An entry on its way into the log. `data` is JSON text, stored verbatim. */
export interface NewLogEntry {
  environment: Environment;
  type: string;
  version: number;
  /** At most one entry per dedupe key is ever stored, whatever the concurrency. */
  dedupeKey: string;
  /** The thing the entry is about, e.g. `stripe:customer:cus_123`; a stream in EventStoreDB terms. */
  stream: string;
  data: string;
  metadata: Record<string, unknown>;
}

/**
 * Where a reader is in the global order. In Postgres this is the appending transaction's id and the
 * entry's position within the table (see the `payfold.read_events` SQL function for why both).
 */
export interface LogCheckpoint {
  transactionId: bigint;
  position: bigint;
}

export const logStart: LogCheckpoint = { transactionId: 0n, position: 0n };

export const isLogStart = (checkpoint: LogCheckpoint): boolean =>
  checkpoint.transactionId === logStart.transactionId && checkpoint.position === logStart.position;

/** Whether `a` comes before `b` in the log's global order (transaction, then position), or is `b`. */
export const isAtOrBefore = (a: LogCheckpoint, b: LogCheckpoint): boolean =>
  a.transactionId < b.transactionId || (a.transactionId === b.transactionId && a.position <= b.position);

export interface LogEntry {
  position: bigint;
  transactionId: bigint;
  environment: Environment;
  type: string;
  version: number;
  dedupeKey: string;
  stream: string;
  data: unknown;
  metadata: Record<string, unknown>;
  recordedAt: Date;
}

export const checkpointOf = (entry: LogEntry): LogCheckpoint => ({
  transactionId: entry.transactionId,
  position: entry.position,
});

export const stripeEventDedupeKey = (environment: Environment, eventId: string): string =>
  `stripe.event/${environment}/${eventId}`;

/** A verified Stripe webhook, kept verbatim: the raw body is the entry's data. */
export const stripeEventLogEntry = (
  environment: Environment,
  rawBody: string,
  event: StripeEventEnvelope,
): NewLogEntry => ({
  environment,
  type: logEntryType.stripeEvent,
  version: 1,
  dedupeKey: stripeEventDedupeKey(environment, event.id),
  stream: `stripe.${event.data.object.object ?? 'unknown'}/${event.data.object.id ?? event.id}`,
  data: rawBody,
  metadata: {},
});

/** What a connection change records: the account, never the key. */
export interface StripeConnectionChange {
  change: 'connected' | 'removed';
  accountId: string;
  livemode: boolean;
}

/** An environment connected to a Stripe account, or its connection removed. `changeId` names this change. */
export const stripeConnectionLogEntry = (
  environment: Environment,
  changeId: string,
  change: StripeConnectionChange,
): NewLogEntry => ({
  environment,
  type: logEntryType.stripeConnectionChanged,
  version: 1,
  dedupeKey: `stripe.connection/${environment}/${changeId}`,
  stream: `stripe.connection/${environment}`,
  data: JSON.stringify({ change: change.change, account_id: change.accountId, livemode: change.livemode }),
  metadata: {},
});

/** One page of a Stripe list call made by a sync, as the log keeps it. */
export interface StripeSyncPage {
  /** The sync run this page belongs to: a page is appended once per run and cursor. */
  syncId: string;
  /** The kind of object listed (`customer`, `checkout.session`…). */
  objectKind: string;
  /** The `starting_after` the page was asked with; null for the first page. */
  cursor: string | null;
  /** Stripe's clock when it answered (its `Date` header), Unix seconds. */
  observedAt: number;
  objects: Array<Record<string, unknown>>;
  hasMore: boolean;
}

/** The stream of one kind's sync pages in an environment. */
export const stripeSyncStream = (environment: Environment, objectKind: string): string =>
  `stripe.sync/${environment}/${objectKind}`;

export const stripeSyncPageLogEntry = (environment: Environment, page: StripeSyncPage): NewLogEntry => ({
  environment,
  type: logEntryType.stripeSyncPage,
  version: 1,
  dedupeKey: `stripe.sync.page/${environment}/${page.syncId}/${page.objectKind}/${page.cursor ?? ''}`,
  stream: stripeSyncStream(environment, page.objectKind),
  data: JSON.stringify({
    sync_id: page.syncId,
    object_kind: page.objectKind,
    cursor: page.cursor,
    observed_at: page.observedAt,
    objects: page.objects,
    has_more: page.hasMore,
  }),
  metadata: {},
});

/** The ids of the objects one sync run's pages listed, from the entries of its kind's stream. */
export const objectIdsListedBySync = (entries: readonly LogEntry[], syncId: string): string[] => [
  ...new Set(
    entries
      .filter((entry) => entry.type === logEntryType.stripeSyncPage)
      .map((entry) => entry.data as { sync_id?: unknown; objects?: Array<{ id?: unknown }> })
      .filter((data) => data.sync_id === syncId)
      .flatMap((data) => (data.objects ?? []).map((object) => object.id))
      .filter((id): id is string => typeof id === 'string'),
  ),
];

/** One object as a single retrieve returned it (`{id, object, deleted: true}` for one Stripe deleted). */
export interface StripeObjectFetch {
  /** Names this fetch: the same fetch is appended once. */
  fetchId: string;
  observedAt: number;
  object: Record<string, unknown> & { id: string; object: string };
}

export const stripeObjectFetchedLogEntry = (
  environment: Environment,
  fetch: StripeObjectFetch,
): NewLogEntry => ({
  environment,
  type: logEntryType.stripeObjectFetched,
  version: 1,
  dedupeKey: `stripe.object.fetched/${environment}/${fetch.object.object}/${fetch.object.id}/${fetch.fetchId}`,
  stream: `stripe.${fetch.object.object}/${fetch.object.id}`,
  data: JSON.stringify({ observed_at: fetch.observedAt, object: fetch.object }),
  metadata: {},
});
