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

/**
 * The log could not take an append in time: too many are waiting, or the commit did not come
 * within the deadline (it may still commit; a redelivery then finds it a duplicate). The caller
 * answers so that the sender retries: for a webhook, 503.
 */
export class LogBusyError extends Error {}

/**
 * The log's store cannot be reached (down, restarting, refusing connections): nothing was written.
 * The caller answers so that the sender retries: for a webhook, 503.
 */
export class LogUnavailableError extends Error {}

export type AppendResult = { status: 'appended'; position: bigint } | { status: 'duplicate' };

/** The port every event store adapter implements (Postgres by default, EventStoreDB optionally). */
export interface EventLog {
  /** Appends durably; resolves only after the entry is committed (or found to be a duplicate). */
  append(entry: NewLogEntry): Promise<AppendResult>;
  /** The committed entry stored under a dedupe key, if any (a session request read back, say). */
  entryByDedupeKey(dedupeKey: string): Promise<LogEntry | undefined>;
  /** Which of these dedupe keys the log holds (reconcile's missed events). */
  loggedDedupeKeys(dedupeKeys: readonly string[]): Promise<Set<string>>;
  /** Every committed entry of one stream, in the order they were appended (a sync's pages, say). */
  readStream(stream: string): Promise<LogEntry[]>;
  /** The committed entries at these places in the log (parked entries read back for a retry), in log order. */
  entriesAt(checkpoints: readonly LogCheckpoint[]): Promise<LogEntry[]>;
  /**
   * Committed entries after `from`, in the global order, never skipping one committed later: at
   * most `limit` of them and about `maxBytes` (16 MiB unless given; always at least one entry).
   */
  readAll(from: LogCheckpoint, limit: number, maxBytes?: number): Promise<LogEntry[]>;
  /** Calls `onAppended` soon after new entries may be readable. Returns an unsubscribe function. */
  subscribe(onAppended: () => void): () => Promise<void>;
  /** The newest position in the log, for metrics and lag. */
  headPosition(): Promise<bigint>;
  /**
   * About how many entries lie after `from`: how far a reader is behind, for metrics and status.
   * An estimate, cheap whatever the size of the log; `hasEntriesAfter` is the exact question.
   */
  countEntriesAfter(from: LogCheckpoint): Promise<number>;
  /**
   * Whether a committed entry at or below `upTo` lies after `from` in the global order: true while
   * a reader at `from` still has to read it (even if it is not readable yet).
   */
  hasEntriesAfter(from: LogCheckpoint, upTo: bigint): Promise<boolean>;
  close(): Promise<void>;
}

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
