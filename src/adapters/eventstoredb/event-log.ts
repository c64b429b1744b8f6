import {
  type AllStreamResolvedEvent,
  ANY,
  BACKWARDS,
  binaryEvent,
  END,
  EventStoreDBClient,
  excludeSystemEvents,
  FORWARDS,
  NO_STREAM,
  type Position,
  type ResolvedEvent,
  START,
  StreamNotFoundError,
  UnavailableError,
  WrongExpectedVersionError,
} from '@eventstore/db-client';
import type { Environment } from '../../domain/environment.js';
import {
  isAtOrBefore,
  isLogStart,
  type LogCheckpoint,
  type LogEntry,
  type NewLogEntry,
} from '../../domain/event-log.js';
import { nameBasedUuid } from '../../domain/subject.js';
import { type AppendResult, type EventLog, LogUnavailableError } from '../../ports/event-log.js';

/** What Payfold keeps beside an entry's data (its bytes are the entry's, verbatim). */
interface EntryMetadata {
  environment: Environment;
  version: number;
  dedupeKey: string;
  stream: string;
  recordedAt: string;
  metadata: Record<string, unknown>;
}

/**
 * Each entry is the only event of a stream named by its dedupe key, appended with `NO_STREAM`:
 * the server refuses a second append for as long as the stream exists, not only within its short
 * window for repeated event ids. The event id is also derived from the dedupe key, so a retry of
 * the same append within that window is taken as the same write.
 */
const entryStreamPrefix = 'payfold.entry-';
export const entryStreamOf = (dedupeKey: string): string => `${entryStreamPrefix}${nameBasedUuid(dedupeKey)}`;

/**
 * The entries about one thing (a Stripe object, a session request, a kind's sync pages): links to
 * the entry streams. Stripe's ids differ between test and live, and the other streams name their
 * environment, so the log's stream name is enough.
 */
export const objectStreamOf = (stream: string): string => `payfold.${stream}`;

/** Raw events read from `$all` per request while looking for entries among system events. */
const readPageSize = 500;

/** Counted exactly up to this many (each count reads the entries); beyond it, `countEntriesAfter` says this many. */
const countLimit = 1_000;

const toPosition = (checkpoint: LogCheckpoint): Position | typeof START =>
  isLogStart(checkpoint) ? START : { commit: checkpoint.transactionId, prepare: checkpoint.position };

/** `$all`'s order is (commit, prepare): the runner's checkpoint holds them as (transactionId, position). */
const isAfter = (position: Position, checkpoint: LogCheckpoint): boolean =>
  !isAtOrBefore({ transactionId: position.commit, position: position.prepare }, checkpoint);

const isSystemEvent = (type: string, streamId: string) => type.startsWith('$') || streamId.startsWith('$');

/** A Payfold entry from an event as the client returns it; undefined for anything else in the server. */
export const entryOf = (resolved: AllStreamResolvedEvent | ResolvedEvent): LogEntry | undefined => {
  const event = resolved.event;
  // Only Payfold's entries: system events, links, and whatever other writers keep in the same server are skipped.
  if (!event || isSystemEvent(event.type, event.streamId) || !event.streamId.startsWith(entryStreamPrefix))
    return undefined;
  // Read through a link or from a stream, an event may come without its `$all` position.
  const position = event.position ?? {
    commit: resolved.commitPosition ?? 0n,
    prepare: resolved.commitPosition ?? 0n,
  };
  // The client hands metadata that is JSON over parsed, and other metadata as bytes.
  const metadata = (
    event.metadata instanceof Uint8Array
      ? JSON.parse(Buffer.from(event.metadata).toString('utf8'))
      : event.metadata
  ) as EntryMetadata;
  return {
    position: position.prepare,
    transactionId: position.commit,
    environment: metadata.environment,
    type: event.type,
    version: metadata.version,
    dedupeKey: metadata.dedupeKey,
    stream: metadata.stream,
    data: JSON.parse(Buffer.from(event.data as Uint8Array).toString('utf8')),
    metadata: metadata.metadata,
    recordedAt: new Date(metadata.recordedAt),
  };
};

/** gRPC's status for a server that cannot be reached; some calls report it without the client's own class. */
const grpcUnavailable = 14;

const unavailable = (error: unknown): unknown =>
  error instanceof UnavailableError || (error as { code?: unknown }).code === grpcUnavailable
    ? new LogUnavailableError(`EventStoreDB is unavailable: ${(error as Error).message}`)
    : error;

/**
 * The log in EventStoreDB or KurrentDB (`PAYFOLD_EVENT_STORE=esdb://…`), behind the same port as
 * the Postgres log. Positions are `$all`'s: commit and prepare, kept as the checkpoint's
 * transactionId and position, so a checkpoint in Postgres resumes exactly where it stopped.
 */
export class EventStoreDbEventLog implements EventLog {
  private readonly client: EventStoreDBClient;

  constructor(connectionString: string) {
    this.client = EventStoreDBClient.connectionString(connectionString);
  }

  async append(entry: NewLogEntry): Promise<AppendResult> {
    const metadata: EntryMetadata = {
      environment: entry.environment,
      version: entry.version,
      dedupeKey: entry.dedupeKey,
      stream: entry.stream,
      recordedAt: new Date().toISOString(),
      metadata: entry.metadata,
    };
    const entryStream = entryStreamOf(entry.dedupeKey);
    let position: Position | undefined;
    try {
      const appended = await this.client.appendToStream(
        entryStream,
        binaryEvent({
          id: nameBasedUuid(`event/${entry.dedupeKey}`),
          type: entry.type,
          data: Buffer.from(entry.data, 'utf8'),
          metadata: Buffer.from(JSON.stringify(metadata), 'utf8'),
        }),
        { expectedRevision: NO_STREAM },
      );
      position = appended.position;
    } catch (error) {
      if (error instanceof WrongExpectedVersionError) return { status: 'duplicate' };
      throw unavailable(error);
    }
    // The object's stream links to the entry. Were this lost (a crash right here), the entry would
    // still be in `$all` for every projection; only the per-object view would lack it, and the
    // link's own id makes a repeated link one.
    await this.client
      .appendToStream(
        objectStreamOf(entry.stream),
        binaryEvent({
          id: nameBasedUuid(`link/${entry.dedupeKey}`),
          type: '$>',
          data: Buffer.from(`0@${entryStream}`, 'utf8'),
        }),
        { expectedRevision: ANY },
      )
      .catch(() => undefined);
    // Servers before 20.6 do not say where an append landed; the entry is stored all the same.
    return { status: 'appended', position: position?.prepare ?? 0n };
  }

  async entryByDedupeKey(dedupeKey: string): Promise<LogEntry | undefined> {
    return (await this.readWholeStream(entryStreamOf(dedupeKey), false))[0];
  }

  async loggedDedupeKeys(dedupeKeys: readonly string[]): Promise<Set<string>> {
    const logged = new Set<string>();
    // A few at a time: one read per key.
    for (let at = 0; at < dedupeKeys.length; at += 16) {
      const keys = dedupeKeys.slice(at, at + 16);
      const found = await Promise.all(keys.map((key) => this.entryByDedupeKey(key)));
      keys.forEach((key, index) => {
        if (found[index]) logged.add(key);
      });
    }
    return logged;
  }

  async readStream(stream: string): Promise<LogEntry[]> {
    return this.readWholeStream(objectStreamOf(stream), true);
  }

  async entriesAt(checkpoints: readonly LogCheckpoint[]): Promise<LogEntry[]> {
    const entries: LogEntry[] = [];
    for (const checkpoint of checkpoints) {
      for await (const resolved of this.client.readAll({
        fromPosition: toPosition(checkpoint),
        maxCount: 1,
        direction: FORWARDS,
      })) {
        const entry = entryOf(resolved);
        if (
          entry &&
          entry.position === checkpoint.position &&
          entry.transactionId === checkpoint.transactionId
        )
          entries.push(entry);
      }
    }
    return entries;
  }

  /**
   * `$all` after `from`, page by page until `limit` entries (or `maxBytes`) or the end. This version
   * of the client reads `$all` without a server-side filter, so system events (and the links above)
   * are skipped here; the live subscription filters on the server. `$all` has no gaps to wait for:
   * an event is in it once it is committed.
   */
  async readAll(from: LogCheckpoint, limit: number, maxBytes = 16 * 1024 * 1024): Promise<LogEntry[]> {
    const entries: LogEntry[] = [];
    let bytes = 0;
    let cursor = from;
    try {
      for (;;) {
        let read = 0;
        // A read starts at its position itself, which the reader has already passed.
        for await (const resolved of this.client.readAll({
          fromPosition: toPosition(cursor),
          maxCount: readPageSize + 1,
          direction: FORWARDS,
        })) {
          read += 1;
          const position = resolved.event?.position ?? resolved.link?.position;
          if (!position || !isAfter(position, cursor)) continue;
          cursor = { transactionId: position.commit, position: position.prepare };
          const entry = entryOf(resolved);
          if (!entry) continue;
          entries.push(entry);
          bytes += (resolved.event?.data as Uint8Array | undefined)?.byteLength ?? 0;
          if (entries.length >= limit || bytes >= maxBytes) return entries;
        }
        if (read < readPageSize + 1) return entries;
      }
    } catch (error) {
      throw unavailable(error);
    }
  }

  subscribe(onAppended: () => void): () => Promise<void> {
    let closed = false;
    let retryTimer: NodeJS.Timeout | undefined;
    let subscription: ReturnType<EventStoreDBClient['subscribeToAll']> | undefined;
    // Live events only, filtered on the server; a dropped connection is followed by a new
    // subscription and one wake-up, so nothing appended meanwhile waits for the next event.
    const start = (delayMs: number) => {
      if (closed) return;
      subscription = this.client.subscribeToAll({ fromPosition: END, filter: excludeSystemEvents() });
      subscription.on('data', () => onAppended());
      // Whatever was appended while no subscription was open is read by the wake-up this gives.
      setImmediate(onAppended);
      subscription.on('error', () => {
        subscription = undefined;
        if (!closed) retryTimer = setTimeout(() => start(Math.min(delayMs * 2, 30_000)), delayMs);
      });
    };
    start(500);
    return async () => {
      closed = true;
      clearTimeout(retryTimer);
      await subscription?.unsubscribe().catch(() => undefined);
    };
  }

  async headPosition(): Promise<bigint> {
    for await (const resolved of this.client.readAll({
      fromPosition: END,
      direction: BACKWARDS,
      maxCount: 100,
    })) {
      const entry = entryOf(resolved);
      if (entry) return entry.position;
    }
    return 0n;
  }

  async countEntriesAfter(from: LogCheckpoint): Promise<number> {
    return (await this.readAll(from, countLimit)).length;
  }

  async hasEntriesAfter(from: LogCheckpoint, upTo: bigint): Promise<boolean> {
    const [next] = await this.readAll(from, 1);
    return next !== undefined && next.position <= upTo;
  }

  async close(): Promise<void> {
    await this.client.dispose();
  }

  /** Every entry of a stream; an absent stream is empty. */
  private async readWholeStream(stream: string, resolveLinkTos: boolean): Promise<LogEntry[]> {
    const entries: LogEntry[] = [];
    try {
      for await (const resolved of this.client.readStream(stream, {
        fromRevision: START,
        direction: FORWARDS,
        resolveLinkTos,
      })) {
        const entry = entryOf(resolved);
        if (entry) entries.push(entry);
      }
    } catch (error) {
      if (error instanceof StreamNotFoundError) return entries;
      throw unavailable(error);
    }
    return entries;
  }
}
