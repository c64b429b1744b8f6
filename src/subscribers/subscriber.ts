export type ChangeOperation = 'insert' | 'update' | 'delete';

/** One real change of a `payments.*` row, as a subscriber receives it. */
export interface RowChange {
  /** The change's place in the stream (`payfold.row_changes.id`). */
  id: string;
  /** The same for every delivery of this change: use it to make the handler's effects idempotent. */
  idempotencyKey: string;
  /** `payments.subscriptions`… */
  table: string;
  operation: ChangeOperation;
  environment: string | null;
  /** The row's primary key columns. */
  key: Record<string, unknown>;
  /**
   * The row after the change (null for a delete), as JSON (times as ISO strings). Always null for
   * `payments.stripe_objects`, whose changes carry the key only: read the snapshot by key.
   */
  row: Record<string, unknown> | null;
  /** The row before it (null for an insert; always null for `payments.stripe_objects`). */
  previous: Record<string, unknown> | null;
  /** The last log entry of the projection batch that made it. */
  logPosition: number | null;
  changedAt: Date;
}

/**
 * Code of the app's that reacts to changes of the payments tables (fulfillment, emails, a CRM):
 * every real change it asks for, at least once, in order, with a durable checkpoint.
 */
export interface Subscriber {
  /** Names its checkpoint: renaming a subscriber starts it from the beginning. */
  name: string;
  /** Only these tables (`payments.subscriptions`…); all when left out. */
  tables?: readonly string[];
  /** Only these operations; all when left out. */
  operations?: readonly ChangeOperation[];
  /**
   * Where a subscriber that has never run starts: at the changes made from now on (the default,
   * so that a new welcome-email subscriber does not greet every past customer), or at the first
   * change kept. `payfold subscribers replay` moves it back later either way.
   */
  startFrom?: 'now' | 'beginning';
  /** Throwing retries the change (with backoff), then parks it in `payfold.subscriber_errors`. */
  handle(change: RowChange): Promise<void>;
}

const subscriberName = /^[a-z][a-z0-9_.-]{0,99}$/;

/** A subscriber, checked: its name must be usable as a checkpoint's name. */
export const defineSubscriber = (subscriber: Subscriber): Subscriber => {
  if (!subscriberName.test(subscriber.name)) {
    throw new Error(
      `subscriber name ${JSON.stringify(subscriber.name)}: lower-case letters, digits, _ . and - (at most 100)`,
    );
  }
  for (const table of subscriber.tables ?? []) {
    if (!table.startsWith('payments.'))
      throw new Error(`subscriber ${subscriber.name}: ${table} is not a payments table`);
  }
  return subscriber;
};
