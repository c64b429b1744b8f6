import { createHash } from 'node:crypto';
import type { Environment } from '../environment.js';
import { type LogEntry, logEntryType } from '../event-log.js';
import {
  type CheckoutEntryData,
  checkoutRequestSnapshot,
  type PortalEntryData,
  portalRequestSnapshot,
  sessionEntryType,
} from '../session-requests.js';
import { canonicalJson } from './canonical.js';
import { activeEntitlementSummaryType } from './objects.js';
import { withDerivedFields } from './older-shapes.js';
import { textPostgresCanHold } from './postgres-text.js';

export type StripeObject = Record<string, unknown> & { id: string; object: string };

/** Where a snapshot was observed. Webhook snapshots outrank API reads of the same second. */
export type ObservationSource = 'webhook' | 'api';

/**
 * One observation of a Stripe object: what the log says the object looked like at a second of
 * Stripe's clock. The winning snapshot of an object is chosen from all of its candidates.
 */
export interface Candidate {
  environment: Environment;
  objectType: string;
  objectId: string;
  /** Unix seconds on Stripe's clock: `event.created` for webhooks, the `Date` header for API reads. */
  observedAt: number;
  source: ObservationSource;
  eventId: string | null;
  eventType: string | null;
  /** A `*.created` event: the object's first state, before anything else in its second. */
  isCreated: boolean;
  /** A deletion of an object Stripe cannot undelete. */
  isDeletion: boolean;
  previousAttributes: Record<string, unknown> | null;
  snapshot: StripeObject;
  /**
   * Identifies the candidate: the same observation delivered twice has the same key. Also the
   * last tie-break of the winner rule, where it stands for the snapshot's hash.
   */
  key: string;
  /** Recorded time of the log entry it came from (for `created_at`). */
  recordedAt: Date;
}

/**
 * Object types whose deletion is final. Their deleted events (a product's, a price's, a tax id's…)
 * carry a full object without `deleted: true`, so for these types the event type says it.
 */
const deletableTypes = new Set([
  'customer',
  'product',
  'price',
  'invoice',
  'coupon',
  'tax_id',
  'discount',
  'product_feature',
]);

/** Legacy plans are prices under another shape; they share ids and one winner. */
export const objectTypeOf = (object: string): string => (object === 'plan' ? 'price' : object);

/**
 * Objects Stripe sends without an id, named by what they are about: a customer's active
 * entitlements summary is its customer's (one per customer, replaced by each new one).
 */
const identified = (value: unknown): unknown => {
  if (typeof value !== 'object' || value === null) return value;
  const object = value as Record<string, unknown>;
  if (object.object !== activeEntitlementSummaryType || object.id !== undefined) return value;
  return typeof object.customer === 'string' ? { ...object, id: object.customer } : value;
};

const isStripeObject = (value: unknown): value is StripeObject =>
  typeof value === 'object' &&
  value !== null &&
  typeof (value as { id?: unknown }).id === 'string' &&
  typeof (value as { object?: unknown }).object === 'string';

interface StripeEventData {
  id: string;
  type: string;
  created: number;
  /** Set on events about a Stripe Connect account, not the platform's own. */
  account?: unknown;
  data: { object: unknown; previous_attributes?: Record<string, unknown> | null };
}

export const candidateOfStripeEvent = (
  environment: Environment,
  event: StripeEventData,
  recordedAt: Date,
): Candidate | undefined => {
  // Payfold keeps one account's payments: an event about a connected account's objects is kept in
  // the log but projects nothing, so a connected account cannot claim a subject through metadata.
  if (event.account != null) return undefined;
  const sent = identified(event.data.object);
  if (!isStripeObject(sent)) return undefined;
  // `invoice.upcoming` carries a preview of an invoice that does not exist yet (`upcoming_in_…`).
  if (event.type === 'invoice.upcoming' || sent.id.startsWith('upcoming_')) return undefined;
  const objectType = objectTypeOf(sent.object);
  const snapshot = withDerivedFields(objectType, event.type, sent);
  const isDeletion =
    deletableTypes.has(objectType) && (snapshot.deleted === true || event.type.endsWith('.deleted'));
  const previousAttributes = event.data.previous_attributes ?? null;
  return {
    environment,
    objectType,
    objectId: snapshot.id,
    observedAt: event.created,
    source: 'webhook',
    eventId: event.id,
    eventType: event.type,
    isCreated: event.type.endsWith('.created'),
    isDeletion,
    previousAttributes,
    snapshot,
    // An event never changes, so its id names the observation; API reads will hash their snapshot.
    key: `event:${event.id}`,
    recordedAt,
  };
};

/**
 * An object as an API read returned it, observed at the response's `Date`. Nothing but the snapshot
 * names the observation, so its key is the snapshot's hash: the same state read twice is one
 * candidate.
 */
export const candidateOfApiRead = (
  environment: Environment,
  snapshot: unknown,
  observedAt: number,
  recordedAt: Date,
): Candidate | undefined => {
  const read = identified(snapshot);
  if (!isStripeObject(read)) return undefined;
  const objectType = objectTypeOf(read.object);
  return {
    environment,
    objectType,
    objectId: read.id,
    observedAt,
    source: 'api',
    eventId: null,
    eventType: null,
    isCreated: false,
    isDeletion: deletableTypes.has(objectType) && read.deleted === true,
    previousAttributes: null,
    snapshot: read,
    key: snapshotKey('api', read),
    recordedAt,
  };
};

const snapshotKey = (prefix: string, snapshot: unknown): string =>
  `${prefix}:${createHash('sha256').update(canonicalJson(snapshot)).digest('hex')}`;

/**
 * A state of a session request Payfold made: an object of Payfold's own, observed at the second it
 * was requested (so its states are ordered by status: asked, refused, created).
 */
const candidateOfSessionRequest = (
  environment: Environment,
  snapshot: StripeObject & { status: string; requested_at: number },
  recordedAt: Date,
): Candidate => ({
  environment,
  objectType: snapshot.object,
  objectId: snapshot.id,
  observedAt: snapshot.requested_at,
  source: 'api',
  eventId: null,
  eventType: null,
  isCreated: snapshot.status === 'initialized',
  isDeletion: false,
  previousAttributes: null,
  snapshot,
  key: snapshotKey('payfold', snapshot),
  recordedAt,
});

const checkoutTypes = new Set<string>([
  sessionEntryType.checkoutRequested,
  sessionEntryType.checkoutCreated,
  sessionEntryType.checkoutFailed,
]);
const portalTypes = new Set<string>([
  sessionEntryType.portalRequested,
  sessionEntryType.portalCreated,
  sessionEntryType.portalFailed,
]);

/** A checkout request's state, and the session Stripe answered with once it created one. */
const candidatesOfCheckoutEntry = (entry: LogEntry): Candidate[] => {
  const data = entry.data as CheckoutEntryData;
  const request = candidateOfSessionRequest(
    entry.environment,
    checkoutRequestSnapshot(data),
    entry.recordedAt,
  );
  if (data.status !== 'created') return [request];
  const session = candidateOfApiRead(entry.environment, data.session, data.observedAt, entry.recordedAt);
  return session ? [request, session] : [request];
};

interface StripeSyncPageData {
  observed_at: number;
  objects: unknown[];
}

/**
 * Every Stripe object observation a log entry carries, its text as Postgres can hold it (see
 * `textPostgresCanHold`). Entries of other kinds carry none.
 */
export const candidatesOfEntry = (logged: LogEntry): Candidate[] => {
  const entry = { ...logged, data: textPostgresCanHold(logged.data) };
  if (entry.type === logEntryType.stripeEvent) {
    const candidate = candidateOfStripeEvent(
      entry.environment,
      entry.data as StripeEventData,
      entry.recordedAt,
    );
    return candidate ? [candidate] : [];
  }
  if (entry.type === logEntryType.stripeSyncPage) {
    const page = entry.data as StripeSyncPageData;
    return page.objects.flatMap(
      (snapshot) => candidateOfApiRead(entry.environment, snapshot, page.observed_at, entry.recordedAt) ?? [],
    );
  }
  if (entry.type === logEntryType.stripeObjectFetched) {
    const fetched = entry.data as { observed_at: number; object: unknown };
    const candidate = candidateOfApiRead(
      entry.environment,
      fetched.object,
      fetched.observed_at,
      entry.recordedAt,
    );
    return candidate ? [candidate] : [];
  }
  if (checkoutTypes.has(entry.type)) return candidatesOfCheckoutEntry(entry);
  if (portalTypes.has(entry.type)) {
    const snapshot = portalRequestSnapshot(entry.data as PortalEntryData);
    return [candidateOfSessionRequest(entry.environment, snapshot, entry.recordedAt)];
  }
  return [];
};
