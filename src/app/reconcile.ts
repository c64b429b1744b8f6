import type Stripe from 'stripe';
import type { Environment } from '../domain/environment.js';
import { stripeEventDedupeKey, stripeEventLogEntry } from '../domain/event-log.js';
import { activeEntitlementSummaryType, showsNothing, snapshotDifferences } from '../domain/stripe/objects.js';
import { stripeEventEnvelopeSchema } from '../domain/stripe-event.js';
import { type SyncObjectKind, syncObjectKinds } from '../domain/sync-kinds.js';
import type { ReconcileStore } from '../ports/stores.js';
import { StripeGatewayError, type WithResponse } from '../ports/stripe.js';
import type { ParkedEntry, ProjectionEngine, TableDrift } from '../projections/engine/index.js';
import { appendFetchedObject } from './fetched-objects.js';
import { notConnectedMessage, type StripeConnections } from './stripe-connections/index.js';
import { stripeRead } from './stripe-read.js';
import {
  activeEntitlementSummary,
  listEveryObject,
  type ScopeReads,
  type SyncStripeDeps,
  syncStripe,
} from './sync-stripe.js';

/** How far back Stripe keeps events (`GET /v1/events` lists the last 30 days). */
const eventsWindowSeconds = 30 * 24 * 3600;

/** Where each object type is read alone, for the re-fetch of an ambiguous tie. */
const retrievePaths: Record<string, string> = {
  customer: '/v1/customers',
  product: '/v1/products',
  price: '/v1/prices',
  subscription: '/v1/subscriptions',
  invoice: '/v1/invoices',
  payment_intent: '/v1/payment_intents',
  charge: '/v1/charges',
  refund: '/v1/refunds',
  dispute: '/v1/disputes',
  'checkout.session': '/v1/checkout/sessions',
  payment_method: '/v1/payment_methods',
  setup_intent: '/v1/setup_intents',
  'entitlements.feature': '/v1/entitlements/features',
  tax_id: '/v1/tax_ids',
  credit_note: '/v1/credit_notes',
  coupon: '/v1/coupons',
  promotion_code: '/v1/promotion_codes',
  subscription_schedule: '/v1/subscription_schedules',
  'radar.early_fraud_warning': '/v1/radar/early_fraud_warnings',
  invoice_payment: '/v1/invoice_payments',
};

export interface ObjectDrift {
  objectKind: SyncObjectKind;
  listed: number;
  /** In Stripe, not in the tables. */
  missing: string[];
  /** In both, different in fields the tables show: the object and those fields. */
  stale: Array<{ id: string; fields: string[] }>;
  /**
   * In both, different only in fields no table shows (Stripe changes some without an event): not
   * drift, listed for information.
   */
  informational: Array<{ id: string; fields: string[] }>;
  /** In the tables as live, not listed by Stripe. */
  extra: string[];
}

export interface ReconcileReport {
  environment: Environment;
  dryRun: boolean;
  /** Stripe events of the last 30 days that the log lacked. */
  missedEvents: { listed: number; missing: string[] };
  objects: ObjectDrift[];
  /** Objects whose winner only an id or a hash could pick: re-fetched (settled) unless a dry run. */
  ambiguousTies: Array<{ objectType: string; objectId: string }>;
  /** Payments tables that differ from what the log builds (a table edited by hand, say). */
  tables: Record<string, TableDrift>;
  /** How many differences were found in all. */
  drift: number;
  /**
   * Entries the projections parked (and passed over) while bringing the tables to the log's head
   * and building them again: not drift, but rows they would have changed are missing.
   */
  parkedEntries: ParkedEntry[];
  repaired: boolean;
  seconds: number;
}

export type ReconcileResult =
  | { ok: true; report: ReconcileReport }
  | { ok: false; status: 409 | 502; message: string };

export interface ReconcileDeps extends Omit<SyncStripeDeps, 'connections'> {
  connections: StripeConnections;
  projections: ProjectionEngine;
  store: ReconcileStore;
}

/**
 * Proves, or repairs, that the tables match Stripe. (a) Stripe's events of the last 30 days that
 * the log lacks; (b) every object Stripe lists against its winning snapshot: missing, stale (with
 * the fields) or extra; (c) objects whose winner only an id or a hash could pick; (d) the payments
 * tables against what the log builds. A repair only appends to the log (the missed events, a sync
 * of the kinds that drifted, a fetch of each tied object) and then rebuilds the tables from it,
 * writing only the rows that differ: never a table directly.
 */
export const reconcileStripe = async (
  deps: ReconcileDeps,
  environment: Environment,
  dryRun: boolean,
): Promise<ReconcileResult> => {
  const { connections, gateway, log, store } = deps;
  const secretKey = await connections.secretKey(environment);
  if (!secretKey) return { ok: false, status: 409, message: notConnectedMessage(environment) };
  const started = performance.now();
  try {
    // The tables as of the log's head: entries the projections have yet to apply are lag, not drift.
    await deps.projections.catchUp();
    const missedEvents = await findMissedEvents(deps, environment, secretKey);
    const objects: ObjectDrift[] = [];
    // The test clocks and customers, read once for every kind listed per customer.
    const scopeReads: ScopeReads = {};
    for (const objectKind of syncObjectKinds) {
      const drift: ObjectDrift = {
        objectKind,
        listed: 0,
        missing: [],
        stale: [],
        informational: [],
        extra: [],
      };
      const listed: string[] = [];
      await listEveryObject(
        gateway,
        environment,
        secretKey,
        objectKind,
        async (page) => {
          const winners = await store.winners(
            environment,
            objectKind,
            page.map((object) => object.id),
          );
          for (const object of page) {
            listed.push(object.id);
            const winner = winners.get(object.id);
            if (!winner) {
              if (!showsNothing(objectKind, object)) drift.missing.push(object.id);
            } else {
              // As the log would keep it: the package's decimals (and other values) as their JSON.
              const { projected, elsewhere } = snapshotDifferences(
                objectKind,
                JSON.parse(JSON.stringify(object)),
                winner,
              );
              if (projected.length > 0) drift.stale.push({ id: object.id, fields: projected });
              if (elsewhere.length > 0) drift.informational.push({ id: object.id, fields: elsewhere });
            }
          }
        },
        scopeReads,
      );
      drift.listed = listed.length;
      drift.extra = await store.winnersNotListed(environment, objectKind, listed);
      objects.push(drift);
    }
    const ambiguousTies = await store.ties(environment);
    const tablesBefore = await tableDrift(deps);
    const drift =
      missedEvents.missing.length +
      objects.reduce((sum, kind) => sum + kind.missing.length + kind.stale.length + kind.extra.length, 0) +
      ambiguousTies.length +
      Object.values(tablesBefore).reduce(
        (sum, table) => sum + table.missing + table.differing + table.extra,
        0,
      );

    if (!dryRun && drift > 0) {
      for (const event of missedEvents.events) {
        const body = JSON.stringify(event);
        await log.append(stripeEventLogEntry(environment, body, stripeEventEnvelopeSchema.parse(event)));
      }
      const drifted = objects
        .filter((kind) => kind.missing.length + kind.stale.length + kind.extra.length > 0)
        .map((kind) => kind.objectKind);
      // A sync of what drifted: its pages, and a fetch of each object it no longer lists.
      if (drifted.length > 0) {
        const synced = await syncStripe(deps, environment, drifted);
        if (!synced.ok)
          return synced.status === 502 ? synced : { ok: false, status: 409, message: synced.message };
      }
      for (const tie of ambiguousTies) {
        await refetch(deps, environment, secretKey, tie.objectType, tie.objectId);
        await store.settleTie(environment, tie.objectType, tie.objectId);
      }
      await deps.projections.rebuild({ reason: 'reconcile' });
    }
    return {
      ok: true,
      report: {
        environment,
        dryRun,
        missedEvents: { listed: missedEvents.listed, missing: missedEvents.missing },
        objects,
        ambiguousTies,
        tables: tablesBefore,
        drift,
        parkedEntries: (await deps.projections.report(100)).parkedEntries.filter(
          (entry) => !entry.dismissedAt,
        ),
        repaired: !dryRun && drift > 0,
        seconds: Number(((performance.now() - started) / 1000).toFixed(2)),
      },
    };
  } catch (error) {
    if (error instanceof StripeGatewayError) return { ok: false, status: 502, message: error.message };
    throw error;
  }
};

const findMissedEvents = async (
  { gateway, log }: ReconcileDeps,
  environment: Environment,
  secretKey: string,
) => {
  const since = Math.floor(Date.now() / 1000) - eventsWindowSeconds;
  const listed: Stripe.Event[] = [];
  // A page per call, so that each request waits its turn under the rate limit.
  let after: string | undefined;
  do {
    const cursor = after;
    const page = await gateway.call(environment, secretKey, ({ stripe }) =>
      stripe.events.list({ limit: 100, created: { gte: since }, ...(cursor && { starting_after: cursor }) }),
    );
    listed.push(...page.data);
    after = page.has_more ? page.data.at(-1)?.id : undefined;
  } while (after);
  const logged = await log.loggedDedupeKeys(
    listed.map((event) => stripeEventDedupeKey(environment, event.id)),
  );
  const events = listed
    .filter((event) => !logged.has(stripeEventDedupeKey(environment, event.id)))
    // Oldest first, as Stripe would have sent them.
    .sort((a, b) => a.created - b.created);
  return { listed: listed.length, missing: events.map((event) => event.id), events };
};

/** Every projection built from the log into shadow tables and compared with the live ones. */
const tableDrift = async ({ projections }: ReconcileDeps): Promise<Record<string, TableDrift>> => {
  const rebuilt = await projections.rebuild({ reason: 'reconcile', dryRun: true });
  const summaries = rebuilt.ok ? rebuilt.summaries : [];
  return Object.assign({}, ...summaries.map((summary) => summary.drift ?? {}));
};

const refetch = async (
  { gateway, log }: ReconcileDeps,
  environment: Environment,
  secretKey: string,
  objectType: string,
  objectId: string,
): Promise<void> => {
  if (objectType === activeEntitlementSummaryType) {
    const read = await activeEntitlementSummary(stripeRead(gateway, environment, secretKey), objectId);
    const summary = read.data[0] as Stripe.Entitlements.ActiveEntitlementSummary;
    await appendFetchedObject(log, environment, {
      ...summary,
      id: objectId,
      lastResponse: read.lastResponse,
    });
    return;
  }
  const path = retrievePaths[objectType];
  if (!path) return;
  const fetched = (await gateway.call(environment, secretKey, ({ stripe }) =>
    stripe.rawRequest('GET', `${path}/${encodeURIComponent(objectId)}`),
  )) as unknown as Record<string, unknown> & { id: string; object: string } & WithResponse;
  await appendFetchedObject(log, environment, fetched);
};
