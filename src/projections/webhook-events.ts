import type { PoolClient } from 'pg';
import { type LogEntry, logEntryType } from '../domain/event-log.js';
import { stripeEventEnvelopeSchema, stripeEventObjectRef } from '../domain/stripe-event.js';
import type { Projector } from './projector.js';

export interface WebhookEventRow {
  environment: string;
  eventId: string;
  eventType: string;
  apiVersion: string | null;
  livemode: boolean;
  objectType: string | null;
  objectId: string | null;
  receivedAt: Date;
  logPosition: bigint;
}

export const webhookEventRow = (entry: LogEntry): WebhookEventRow => {
  const event = stripeEventEnvelopeSchema.parse(entry.data);
  const { objectType, objectId } = stripeEventObjectRef(event);
  return {
    environment: entry.environment,
    eventId: event.id,
    eventType: event.type,
    apiVersion: event.api_version ?? null,
    livemode: event.livemode,
    objectType,
    objectId,
    receivedAt: entry.recordedAt,
    logPosition: entry.position,
  };
};

// A delivery never changes once logged (the log stores one entry per event id), so a replayed
// entry finds its row and writes nothing.
const insertWebhookEventsSql = `
  insert into payments.webhook_events (
    environment, event_id, event_type, api_version, livemode, object_type, object_id,
    received_at, log_position, created_at, updated_at)
  select environment, event_id, event_type, api_version, livemode, object_type, object_id,
         received_at, log_position, received_at, received_at
  from unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::boolean[], $6::text[], $7::text[],
              $8::timestamptz[], $9::bigint[])
    as t(environment, event_id, event_type, api_version, livemode, object_type, object_id, received_at, log_position)
  on conflict (environment, event_id) do nothing`;

/** `payments.webhook_events`: one row per Stripe event delivered to Payfold, whatever its type. */
export const webhookEventsProjector: Projector = {
  name: 'webhook_events',
  entryTypes: [logEntryType.stripeEvent],
  async apply(client: PoolClient, entries: readonly LogEntry[]) {
    const rows = entries.map(webhookEventRow);
    await client.query({
      name: 'payfold_insert_webhook_events',
      text: insertWebhookEventsSql,
      values: [
        rows.map((row) => row.environment),
        rows.map((row) => row.eventId),
        rows.map((row) => row.eventType),
        rows.map((row) => row.apiVersion),
        rows.map((row) => row.livemode),
        rows.map((row) => row.objectType),
        rows.map((row) => row.objectId),
        rows.map((row) => row.receivedAt),
        rows.map((row) => row.logPosition.toString()),
      ],
    });
  },
};
