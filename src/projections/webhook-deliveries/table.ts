import type { LogEntry } from '../../domain/event-log.js';
import { stripeEventEnvelopeSchema, stripeEventObjectRef } from '../../domain/stripe-event.js';
import type { RowOf, TableShape } from '../table-shape.js';

const columns = {
  environment: 'text not null',
  event_id: 'text not null',
  event_type: 'text not null',
  api_version: 'text',
  livemode: 'boolean not null',
  object_type: 'text',
  object_id: 'text',
  received_at: 'timestamptz not null',
  log_position: 'bigint not null',
} as const;

/** `payments.webhook_events`: one row per Stripe event delivered to Payfold, whatever its type. */
export const webhookEventsTable: TableShape<typeof columns> = {
  name: 'payments.webhook_events',
  key: ['environment', 'event_id'],
  columns,
};

/** A delivery's row, from its log entry alone. `log_position` is a bigint: exact as text. */
export const webhookEventRow = (
  entry: LogEntry,
): Omit<RowOf<typeof columns>, 'log_position'> & { log_position: string } => {
  const event = stripeEventEnvelopeSchema.parse(entry.data);
  const { objectType, objectId } = stripeEventObjectRef(event);
  return {
    environment: entry.environment,
    event_id: event.id,
    event_type: event.type,
    api_version: event.api_version ?? null,
    livemode: event.livemode,
    object_type: objectType,
    object_id: objectId,
    received_at: entry.recordedAt,
    log_position: entry.position.toString(),
  };
};
