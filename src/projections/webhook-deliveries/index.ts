import type { PoolClient } from 'pg';
import { type LogEntry, logEntryType } from '../../domain/event-log.js';
import type { Projector } from '../engine/index.js';
import { webhookEventRow } from './table.js';

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

const insertWebhookEvents = async (client: PoolClient, entries: readonly LogEntry[]): Promise<void> => {
  const rows = entries.map(webhookEventRow);
  await client.query({
    name: 'payfold_insert_webhook_events',
    text: insertWebhookEventsSql,
    values: [
      rows.map((row) => row.environment),
      rows.map((row) => row.event_id),
      rows.map((row) => row.event_type),
      rows.map((row) => row.api_version),
      rows.map((row) => row.livemode),
      rows.map((row) => row.object_type),
      rows.map((row) => row.object_id),
      rows.map((row) => row.received_at),
      rows.map((row) => row.log_position),
    ],
  });
};

/** `payments.webhook_events` from Stripe events (see `table.ts`). */
export const webhookEventsProjector: Projector = {
  name: 'webhook_events',
  version: 1,
  tables: ['payments.webhook_events'],
  entryTypes: [logEntryType.stripeEvent],
  apply: insertWebhookEvents,
  // One row per entry and nothing to judge: a rebuild is the same insert in the runner's larger chunks.
  rebuild: (client) => ({
    add: (entries) => insertWebhookEvents(client, entries),
    finish: async () => undefined,
  }),
};
