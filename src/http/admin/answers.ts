import { z } from 'zod';
import { environmentSchema } from '../../domain/environment.js';
import { syncObjectKinds } from '../../domain/sync-kinds.js';

/*
 * What each admin route answers, as `/docs` publishes it. The objects are strict: test/docs.test.ts
 * parses real answers with these schemas, so a field a route adds without documenting it fails there.
 */

const time = z.iso.datetime();
const count = z.number().int().min(0);

const tableRow = z
  .record(z.string(), z.unknown())
  .describe('A row of a payments table: its columns by name, as Postgres returns them');

const parkedEntry = z.strictObject({
  projection: z.string(),
  position: z.number().int(),
  entryType: z.string(),
  error: z.string().describe('Why the projector could not apply it, in one line'),
  occurredAt: time,
  dismissedAt: time.nullable().describe('When an admin dismissed it; null while it is parked'),
});

const projectionStatus = z.strictObject({
  name: z.string(),
  lastRebuild: z
    .strictObject({ at: time, reason: z.string(), quiet: z.boolean(), entries: count })
    .nullable(),
  position: z.number().int().describe('The log position the projection has applied up to'),
  behind: count.describe('Entries in the log after that position'),
  updatedAt: time.nullable().describe('When its checkpoint last moved; null before it first ran'),
  parkedEntries: count,
  dismissedEntries: count,
});

export const projectionsReportAnswer = z.strictObject({
  projections: z.array(projectionStatus),
  parkedEntries: z.array(parkedEntry).describe('The most recent parked and dismissed entries'),
});

const tableChanges = z.strictObject({ inserted: count, updated: count, deleted: count });
const tableDrift = z.strictObject({
  missing: count.describe('Rows the log builds that the table lacks'),
  differing: count,
  differingColumns: z.array(z.string()),
  extra: count.describe('Rows the log does not support'),
});

export const rebuildAnswer = z.strictObject({
  rebuilds: z.array(
    z.strictObject({
      projection: z.string(),
      entries: count,
      seconds: z.number(),
      entriesPerSecond: z.number(),
      changes: z.record(z.string(), tableChanges).describe('Rows each live table changed by'),
      parkedEntries: z
        .array(parkedEntry)
        .describe('Entries the projector could not apply: parked, passed over'),
      unparked: count.describe('Entries parked before that this rebuild applied'),
      drift: z.record(z.string(), tableDrift).optional(),
    }),
  ),
});

export const retryAnswer = z.strictObject({
  retries: z.array(
    z.strictObject({ projection: z.string(), retried: count, applied: count, stillParked: count }),
  ),
});

export const dismissAnswer = z.union([
  z.strictObject({ dismissed: z.array(z.number().int()).describe('The positions dismissed now') }),
  z.strictObject({
    parkedAgain: z.array(z.number().int()).describe('With undo: the positions parked again'),
  }),
]);

const webhookSetup = z.union([
  z.strictObject({ managed: z.literal(true), url: z.string() }),
  z.strictObject({ managed: z.literal(false), message: z.string().describe('How to forward webhooks') }),
]);

const connectionStatus = z.strictObject({
  environment: environmentSchema,
  maskedKey: z.string().describe('sk_test_…abcd'),
  accountId: z.string(),
  webhook: z.union([
    z.strictObject({ managed: z.literal(true), endpointId: z.string() }),
    z.strictObject({ managed: z.literal(false), message: z.string() }),
  ]),
  portalConfigurationCreatedByPayfold: z.string().nullable(),
  active: z.boolean(),
  connectedAt: time,
});

const syncCursor = z.strictObject({
  objectKind: z.string(),
  syncId: z.string(),
  nextCursor: z.string().nullable(),
  pages: count,
  objects: count,
  startedAt: time,
  finishedAt: time.nullable(),
});

export const statusAnswer = projectionsReportAnswer.extend({
  connections: z.array(connectionStatus),
  syncs: z.strictObject({ test: z.array(syncCursor), live: z.array(syncCursor) }),
  lastWebhooks: z
    .strictObject({ test: time.nullable(), live: time.nullable() })
    .describe('When the last webhook of each environment arrived'),
  logHeadPosition: z.number().int(),
  changeStream: z.enum(['on', 'off']),
});

export const webhookEndpointAnswer = z.strictObject({
  endpoint: z
    .strictObject({
      endpointId: z.string(),
      url: z.string(),
      status: z.string().describe('enabled, or disabled (Stripe disables an endpoint that keeps failing)'),
      enabledEvents: z.array(z.string()),
    })
    .nullable(),
});

export const connectAnswer = z.strictObject({
  connection: connectionStatus,
  webhook: webhookSetup,
  switchedFrom: z.string().optional().describe('The account the environment was connected to before'),
  firstSync: z.literal('started').optional().describe("A new account's first sync runs after the answer"),
});

export const removeConnectionAnswer = z.strictObject({
  removed: z.boolean().describe('false when the environment had no key'),
});

export const syncAnswer = z.strictObject({
  syncs: z.array(
    z.strictObject({
      environment: environmentSchema,
      kinds: z.array(
        z.strictObject({
          objectKind: z.enum(syncObjectKinds),
          pages: count,
          objects: count,
          done: z.boolean(),
          resumed: z.boolean(),
          deleted: count.describe('Objects the tables held that Stripe no longer has'),
        }),
      ),
      seconds: z.number(),
    }),
  ),
});

const objectDifferences = z.array(z.strictObject({ id: z.string(), fields: z.array(z.string()) }));

export const reconcileAnswer = z.strictObject({
  report: z.strictObject({
    environment: environmentSchema,
    dryRun: z.boolean(),
    missedEvents: z.strictObject({ listed: count, missing: z.array(z.string()) }),
    objects: z.array(
      z.strictObject({
        objectKind: z.enum(syncObjectKinds),
        listed: count,
        missing: z.array(z.string()).describe('In Stripe, not in the tables'),
        stale: objectDifferences.describe('Different in fields the tables show: drift'),
        informational: objectDifferences.describe(
          'Different only in fields no table shows (Stripe changes some without an event): not drift',
        ),
        extra: z.array(z.string()).describe('In the tables as live, not listed by Stripe'),
      }),
    ),
    ambiguousTies: z.array(z.strictObject({ objectType: z.string(), objectId: z.string() })),
    tables: z.record(z.string(), tableDrift).describe('Tables that differ from what the log builds'),
    drift: count.describe('How many differences were found in all'),
    parkedEntries: z.array(parkedEntry),
    repaired: z.boolean(),
    seconds: z.number(),
  }),
});

export const catalogChangeAnswer = z.strictObject({
  object: z
    .looseObject({ id: z.string(), object: z.enum(['product', 'price']) })
    .describe('The product or price as Stripe answered it'),
});

export const catalogAnswer = z.strictObject({
  products: z
    .array(tableRow)
    .describe(
      'payments.products rows, each with `prices`, its payments.prices rows, and `features`, its payments.product_features rows',
    ),
  features: z.array(tableRow).describe('payments.features rows'),
  coupons: z
    .array(tableRow)
    .describe('payments.coupons rows, each with `promotion_codes`, its payments.promotion_codes rows'),
});

export const customersAnswer = z.strictObject({ customers: z.array(tableRow) });

export const overviewAnswer = z.strictObject({
  overview: z.strictObject({
    customers: z.array(tableRow),
    customerMappings: z.array(tableRow),
    subscriptions: z.array(tableRow).describe('Each with `items`, its payments.subscription_items rows'),
    invoices: z.array(tableRow),
    paymentHistory: z.array(tableRow),
    refunds: z.array(tableRow),
    disputes: z.array(tableRow),
    checkoutSessions: z.array(tableRow),
    paymentMethods: z.array(tableRow),
    setupIntents: z.array(tableRow),
    entitlements: z.array(tableRow),
    taxIds: z.array(tableRow),
    earlyFraudWarnings: z.array(tableRow),
    creditNotes: z.array(tableRow),
    discounts: z.array(tableRow).describe('Each with its coupon’s terms'),
    subscriptionSchedules: z.array(tableRow),
  }),
});

export const webhookActivityAnswer = z.strictObject({
  deliveries: z
    .array(tableRow)
    .describe('The newest deliveries, with how many times Stripe delivered each again'),
  perMinute: z.array(z.strictObject({ minute: z.string(), events: count })),
  rejected: z
    .array(z.strictObject({ reason: z.string(), count }))
    .describe('Webhook requests refused since this process started, by reason'),
});
