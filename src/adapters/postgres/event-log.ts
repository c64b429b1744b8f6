import pg from 'pg';
import type { Environment } from '../../domain/environment.js';
import type { LogCheckpoint, LogEntry, NewLogEntry } from '../../domain/event-log.js';
import { parseHoldableJson } from '../../domain/stripe/postgres-text.js';
import {
  type AppendResult,
  type EventLog,
  LogBusyError,
  LogUnavailableError,
} from '../../ports/event-log.js';

const appendColumns = 7;
/**
 * One multi-row insert per batch. Each value travels as its own parameter, so a 4 KB body is sent
 * as is: no array literal to escape in Node and to parse again in Postgres. Batch sizes are rounded
 * up to a power of two (the extra rows are all null and filtered out), so a handful of prepared
 * statements serve every batch.
 */
const appendEventsSql = (rows: number): string => {
  const values = Array.from({ length: rows }, (_, row) => {
    const first = row * appendColumns + 1;
    return `($${first}, $${first + 1}, $${first + 2}, $${first + 3}, $${first + 4}, $${first + 5}, $${first + 6})`;
  });
  return `
    insert into payfold.events as e (environment, type, version, dedupe_key, stream, data, metadata)
    select environment, type, version::smallint, dedupe_key, stream, data::json, metadata::jsonb
    from (values ${values.join(', ')}) as v(environment, type, version, dedupe_key, stream, data, metadata)
    where dedupe_key is not null
    on conflict (dedupe_key) do nothing
    returning e.dedupe_key, e.position::text as stored_position`;
};
const entryByDedupeKeySql = 'select * from payfold.events where dedupe_key = $1';
const loggedDedupeKeysSql = 'select dedupe_key from payfold.events where dedupe_key = any($1::text[])';
const readStreamSql = 'select * from payfold.events where stream = $1 order by transaction_id, position';
const entriesAtSql = `
  select * from payfold.events
  where position = any($1::bigint[]) and (transaction_id, position) in (select * from unnest($2::xid8[], $1::bigint[]))
  order by transaction_id, position`;
const appendBucket = (rows: number): number => 2 ** Math.ceil(Math.log2(Math.max(1, rows)));
const readEventsStatement = 'payfold_read_events';
/** The most bytes of entries one read returns (at least one entry, whatever its size). */
const defaultReadBytes = 16 * 1024 * 1024;
const readEventsSql = 'select * from payfold.read_events($1::xid8, $2, $3, $4)';
/**
 * Entries' `json` payloads parsed by `parseHoldableJson`, which notes those with no text Postgres
 * could not hold while it has the raw text, so projections need not look again.
 */
const logEntryTypes = {
  getTypeParser: ((oid: number, format?: string) =>
    oid === pg.types.builtins.JSON
      ? parseHoldableJson
      : pg.types.getTypeParser(oid, format as 'text')) as typeof pg.types.getTypeParser,
};
const headPositionSql = 'select coalesce(max(position), 0)::text as head from payfold.events';
const hasEntriesAfterSql = `
  select exists (
    select 1 from payfold.events
    where position <= $3 and (transaction_id, position) > ($1::xid8, $2)
  ) as pending`;
// From positions, not count(*): one index entry read, whatever the size of the log. Positions that
// duplicate appends skipped, and entries that commit out of order, make it an estimate.
const countEntriesAfterSql = `
  select greatest(0, coalesce((select max(position) from payfold.events), 0) - $1)::text as behind`;
const notificationChannel = 'payfold_events';

interface PendingAppend {
  entry: NewLogEntry;
  resolve: (result: AppendResult) => void;
  reject: (error: unknown) => void;
}

interface EventRow {
  position: string;
  transaction_id: string;
  environment: Environment;
  type: string;
  version: number;
  dedupe_key: string;
  stream: string;
  data: unknown;
  metadata: Record<string, unknown>;
  recorded_at: Date;
}

const logEntryOfRow = (row: EventRow): LogEntry => ({
  position: BigInt(row.position),
  transactionId: BigInt(row.transaction_id),
  environment: row.environment,
  type: row.type,
  version: row.version,
  dedupeKey: row.dedupe_key,
  stream: row.stream,
  data: row.data,
  metadata: row.metadata,
  recordedAt: row.recorded_at,
});

const appendValues = (entry: NewLogEntry) => [
  entry.environment,
  entry.type,
  entry.version,
  entry.dedupeKey,
  entry.stream,
  entry.data,
  JSON.stringify(entry.metadata),
];

/** A refusal of something in the statement, not a lost connection or a server going away. */
const isAboutTheData = (error: unknown): boolean => {
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' && !/^(08|53|57|58|XX)/.test(code);
};

// Postgres is down, restarting or refusing connections: the append never reached the table.
const unavailableCodes = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  '57P01',
  '57P02',
  '57P03',
  '53300',
]);
const isDatabaseUnavailable = (error: unknown): boolean => {
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string') return code.startsWith('08') || unavailableCodes.has(code);
  return /Connection terminated|timeout exceeded when trying to connect/.test((error as Error).message ?? '');
};

export interface PostgresEventLogOptions {
  /** Most entries written by one statement. */
  maxBatchSize?: number;
  /** Batches being committed at once; while they commit, new appends gather into the next batch. */
  maxConcurrentBatches?: number;
  /** How often subscribers are woken without a notification (a lost LISTEN connection, say). */
  pollIntervalMs?: number;
  /** Appends waiting for a batch before new ones are refused at once (default 10,000): memory stays bounded. */
  maxPending?: number;
  /** How long an append may wait for its commit before it is answered as busy (default 5,000 ms). */
  appendDeadlineMs?: number;
}

/**
 * The Postgres event log. Appends are grouped: every append made while earlier batches are
 * committing joins the next batch, which is written by one multi-row `INSERT … ON CONFLICT DO NOTHING`, so the
 * number of commits (and fsyncs) grows with time, not with requests.
 */
export class PostgresEventLog implements EventLog {
  private readonly pending: PendingAppend[] = [];
  private batchesInFlight = 0;
  private flushScheduled = false;
  private readonly maxBatchSize: number;
  private readonly maxConcurrentBatches: number;
  private readonly pollIntervalMs: number;
  private readonly maxPending: number;
  private readonly appendDeadlineMs: number;
  /** Counters for tests and the bench: how well appends are being grouped. */
  readonly stats = { batchesWritten: 0, entriesWritten: 0 };

  constructor(
    private readonly pool: pg.Pool,
    private readonly connectionString: string,
    options: PostgresEventLogOptions = {},
  ) {
    this.maxBatchSize = appendBucket(options.maxBatchSize ?? 512);
    this.maxConcurrentBatches = options.maxConcurrentBatches ?? 2;
    this.pollIntervalMs = options.pollIntervalMs ?? 1000;
    this.maxPending = options.maxPending ?? 10_000;
    this.appendDeadlineMs = options.appendDeadlineMs ?? 5000;
  }

  append(entry: NewLogEntry): Promise<AppendResult> {
    if (this.pending.length >= this.maxPending) {
      return Promise.reject(new LogBusyError(`the log has ${this.pending.length} appends waiting`));
    }
    return new Promise<AppendResult>((resolve, reject) => {
      const deadline = setTimeout(
        () => reject(new LogBusyError(`the log did not commit within ${this.appendDeadlineMs} ms`)),
        this.appendDeadlineMs,
      );
      const settle =
        <T>(done: (value: T) => void) =>
        (value: T) => {
          clearTimeout(deadline);
          done(value);
        };
      this.pending.push({ entry, resolve: settle(resolve), reject: settle(reject) });
      if (!this.flushScheduled) {
        this.flushScheduled = true;
        // Let the appends of the current I/O turn gather before the first batch leaves.
        setImmediate(() => {
          this.flushScheduled = false;
          this.flush();
        });
      }
    });
  }

  private flush(): void {
    while (this.pending.length > 0 && this.batchesInFlight < this.maxConcurrentBatches) {
      const batch = this.pending.splice(0, this.maxBatchSize);
      this.batchesInFlight += 1;
      this.writeBatch(batch).finally(() => {
        this.batchesInFlight -= 1;
        this.flush();
      });
    }
  }

  private async writeBatch(batch: PendingAppend[]): Promise<void> {
    // Appends of one dedupe key within a batch become one row; the rest of them are duplicates.
    // Keys are written in sorted order so that two batches sharing keys lock them in the same order
    // and cannot deadlock.
    const byKey = new Map<string, PendingAppend[]>();
    for (const append of batch) {
      const same = byKey.get(append.entry.dedupeKey);
      if (same) same.push(append);
      else byKey.set(append.entry.dedupeKey, [append]);
    }
    const entries = [...byKey.values()]
      .map((appends) => (appends[0] as PendingAppend).entry)
      .sort((a, b) => (a.dedupeKey < b.dedupeKey ? -1 : a.dedupeKey > b.dedupeKey ? 1 : 0));
    try {
      const bucket = appendBucket(entries.length);
      const values: Array<string | number | null> = new Array(bucket * appendColumns).fill(null);
      entries.forEach((entry, row) => {
        values.splice(row * appendColumns, appendColumns, ...appendValues(entry));
      });
      const { rows } = await this.pool.query<{ dedupe_key: string; stored_position: string }>({
        name: `payfold_append_events_${bucket}`,
        text: appendEventsSql(bucket),
        values,
      });
      this.stats.batchesWritten += 1;
      this.stats.entriesWritten += rows.length;
      const stored = new Map(rows.map((row) => [row.dedupe_key, BigInt(row.stored_position)]));
      for (const [key, appends] of byKey) {
        const position = stored.get(key);
        appends.forEach((append, index) => {
          append.resolve(
            position !== undefined && index === 0
              ? { status: 'appended', position }
              : { status: 'duplicate' },
          );
        });
      }
    } catch (error) {
      // An entry Postgres refuses (a value its `json` cannot hold, say) fails only itself: the
      // batch is halved until it stands alone, so its neighbours are stored and answered 200.
      if (byKey.size > 1 && isAboutTheData(error)) {
        const groups = [...byKey.values()];
        const half = Math.ceil(groups.length / 2);
        await this.writeBatch(groups.slice(0, half).flat());
        await this.writeBatch(groups.slice(half).flat());
        return;
      }
      const failure = isDatabaseUnavailable(error)
        ? new LogUnavailableError(`Postgres is unavailable: ${(error as Error).message}`)
        : error;
      for (const append of batch) append.reject(failure);
    }
  }

  async readAll(from: LogCheckpoint, limit: number, maxBytes = defaultReadBytes): Promise<LogEntry[]> {
    const { rows } = await this.pool.query<EventRow>({
      name: readEventsStatement,
      text: readEventsSql,
      values: [from.transactionId.toString(), from.position.toString(), limit, maxBytes],
      types: logEntryTypes,
    });
    return rows.map(logEntryOfRow);
  }

  async entriesAt(checkpoints: readonly LogCheckpoint[]): Promise<LogEntry[]> {
    const { rows } = await this.pool.query<EventRow>(entriesAtSql, [
      checkpoints.map((checkpoint) => checkpoint.position.toString()),
      checkpoints.map((checkpoint) => checkpoint.transactionId.toString()),
    ]);
    return rows.map(logEntryOfRow);
  }

  async entryByDedupeKey(dedupeKey: string): Promise<LogEntry | undefined> {
    const { rows } = await this.pool.query<EventRow>(entryByDedupeKeySql, [dedupeKey]);
    return rows[0] && logEntryOfRow(rows[0]);
  }

  async loggedDedupeKeys(dedupeKeys: readonly string[]): Promise<Set<string>> {
    const { rows } = await this.pool.query<{ dedupe_key: string }>(loggedDedupeKeysSql, [dedupeKeys]);
    return new Set(rows.map((row) => row.dedupe_key));
  }

  async readStream(stream: string): Promise<LogEntry[]> {
    const { rows } = await this.pool.query<EventRow>(readStreamSql, [stream]);
    return rows.map(logEntryOfRow);
  }

  async headPosition(): Promise<bigint> {
    const { rows } = await this.pool.query<{ head: string }>(headPositionSql);
    return BigInt(rows[0]?.head ?? '0');
  }

  async countEntriesAfter(from: LogCheckpoint): Promise<number> {
    const { rows } = await this.pool.query<{ behind: string }>(countEntriesAfterSql, [
      from.position.toString(),
    ]);
    return Number(rows[0]?.behind ?? 0);
  }

  async hasEntriesAfter(from: LogCheckpoint, upTo: bigint): Promise<boolean> {
    const { rows } = await this.pool.query<{ pending: boolean }>(hasEntriesAfterSql, [
      from.transactionId.toString(),
      from.position.toString(),
      upTo.toString(),
    ]);
    return rows[0]?.pending === true;
  }

  subscribe(onAppended: () => void): () => Promise<void> {
    let closed = false;
    let client: pg.Client | undefined;
    let retryTimer: NodeJS.Timeout | undefined;
    const listen = async (): Promise<void> => {
      if (closed) return;
      const next = new pg.Client({
        connectionString: this.connectionString,
        application_name: 'payfold-listen',
      });
      next.on('notification', () => onAppended());
      next.on('error', () => {
        next.end().catch(() => undefined);
        if (client === next) client = undefined;
        if (!closed) retryTimer = setTimeout(listen, this.pollIntervalMs);
      });
      try {
        await next.connect();
        await next.query(`listen ${notificationChannel}`);
        client = next;
        if (closed) await next.end();
        // Entries appended while no one listened are picked up now.
        onAppended();
      } catch {
        await next.end().catch(() => undefined);
        if (!closed) retryTimer = setTimeout(listen, this.pollIntervalMs);
      }
    };
    void listen();
    const poll = setInterval(onAppended, this.pollIntervalMs);
    return async () => {
      closed = true;
      clearInterval(poll);
      if (retryTimer) clearTimeout(retryTimer);
      await client?.end().catch(() => undefined);
    };
  }

  /** Waits for every append already made to settle. */
  async drain(): Promise<void> {
    while (this.pending.length > 0 || this.batchesInFlight > 0) {
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  }

  async close(): Promise<void> {
    await this.drain();
  }
}
