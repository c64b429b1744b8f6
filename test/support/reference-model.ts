import type { LogEntry } from '../../src/domain/event-log.js';
import { type Candidate, candidatesOfEntry } from '../../src/domain/stripe/candidates.js';
import { customerMappings, type Pairing, pairingOf, winningSnapshot } from '../../src/domain/stripe/fold.js';
import { chargeSchema, invoicePaymentSchema, paymentIntentSchema } from '../../src/domain/stripe/objects.js';
import {
  checkoutSessionRow,
  customerRow,
  disputeRow,
  invoiceRow,
  invoiceSubscriptionId,
  paymentHistoryRow,
  priceRow,
  productRow,
  type Row,
  refundRow,
  subscriptionRows,
} from '../../src/domain/stripe/rows.js';
import type { Subject } from '../../src/domain/subject.js';
import { earliest } from '../../src/domain/time.js';

/**
 * The expected `payments.*` tables of a set of log entries, computed all at once from the whole
 * set: every object's winner from all of its candidates, every row from the winners. No
 * checkpoints, no pruning, no links, no incremental recomputation: what the projection does
 * incrementally must come out exactly like this.
 */
export type Tables = Record<string, string[]>;

interface Winner {
  environment: 'test' | 'live';
  objectType: string;
  objectId: string;
  snapshot: Record<string, unknown>;
  deleted: boolean;
  observedAt: number;
  createdAt: Date;
}

/** Rows as comparable text: timestamps as ISO strings, keys sorted, nulls and `updated_at` left out. */
export const normaliseRow = (row: Record<string, unknown>): string => {
  const normalised = Object.fromEntries(
    Object.entries(row)
      // A null column and a missing one say the same; `updated_at` is the one column allowed to differ.
      .filter(([column, value]) => column !== 'updated_at' && value !== null && value !== undefined)
      .map(([column, value]) => {
        if (value instanceof Date) return [column, value.toISOString()];
        if (typeof value === 'string' && /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}/.test(value)) {
          return [column, new Date(value).toISOString()];
        }
        return [column, value];
      })
      .sort(([a], [b]) => ((a as string) < (b as string) ? -1 : 1)),
  );
  return JSON.stringify(normalised, (_key, value) =>
    value && typeof value === 'object' && !Array.isArray(value)
      ? Object.fromEntries(Object.entries(value).sort(([a], [b]) => (a < b ? -1 : 1)))
      : value,
  );
};

export const referenceTables = (entries: readonly LogEntry[]): Tables => {
  const candidates = new Map<string, Candidate>();
  for (const candidate of entries.flatMap(candidatesOfEntry)) candidates.set(candidate.key, candidate);
  const byObject = new Map<string, Candidate[]>();
  for (const candidate of candidates.values()) {
    const key = `${candidate.environment}\u0000${candidate.objectType}\u0000${candidate.objectId}`;
    byObject.set(key, [...(byObject.get(key) ?? []), candidate]);
  }
  const winners = new Map<string, Winner>();
  for (const [key, group] of byObject) {
    const winner = winningSnapshot(group);
    const first = group[0] as Candidate;
    if (!winner) continue;
    winners.set(key, {
      environment: first.environment,
      objectType: first.objectType,
      objectId: first.objectId,
      snapshot: winner.snapshot,
      deleted: winner.deleted,
      observedAt: winner.observedAt,
      createdAt: earliest(group.map((c) => c.recordedAt)),
    });
  }
  const winner = (environment: string, objectType: string, objectId: string | null | undefined) =>
    objectId ? winners.get(`${environment}\u0000${objectType}\u0000${objectId}`) : undefined;
  const all = (objectType: string) => [...winners.values()].filter((w) => w.objectType === objectType);

  // Customer mappings: the earliest pairing per subject and customer, then the greedy assignment.
  const pairings = new Map<string, Pairing & { environment: 'test' | 'live'; recordedAt: Date }>();
  for (const candidate of candidates.values()) {
    const pairing = pairingOf(candidate);
    if (!pairing) continue;
    const key = `${candidate.environment}\u0000${pairing.subject.type}\u0000${pairing.subject.id}\u0000${pairing.customerId}`;
    const known = pairings.get(key);
    pairings.set(key, {
      ...pairing,
      environment: candidate.environment,
      observedAt: Math.min(pairing.observedAt, known?.observedAt ?? Number.POSITIVE_INFINITY),
      recordedAt: known && known.recordedAt < candidate.recordedAt ? known.recordedAt : candidate.recordedAt,
    });
  }
  const mappingRows: Row[] = [];
  const mapped = new Map<string, Subject>();
  for (const environment of ['test', 'live'] as const) {
    const ofEnvironment = [...pairings.values()].filter((p) => p.environment === environment);
    for (const mapping of customerMappings(ofEnvironment)) {
      const pairing = ofEnvironment.find(
        (p) =>
          p.customerId === mapping.customerId &&
          p.subject.type === mapping.subject.type &&
          p.subject.id === mapping.subject.id,
      );
      mapped.set(`${environment}\u0000${mapping.customerId}`, mapping.subject);
      mappingRows.push({
        environment,
        subject_type: mapping.subject.type,
        subject_id: mapping.subject.id,
        customer_id: mapping.customerId,
        created_at: pairing?.recordedAt ?? null,
      });
    }
  }
  const mappedSubject = (environment: string, customerId: string | null) =>
    customerId ? (mapped.get(`${environment}\u0000${customerId}`) ?? null) : null;

  const tables: Record<string, Row[]> = {
    stripe_objects: [...winners.values()].map((w) => ({
      environment: w.environment,
      object_type: w.objectType,
      object_id: w.objectId,
      observed_at: new Date(w.observedAt * 1000),
      deleted: w.deleted,
      snapshot: w.snapshot,
      created_at: w.createdAt,
    })),
    customer_mappings: mappingRows,
    products: [],
    prices: [],
    customers: [],
    subscriptions: [],
    subscription_items: [],
    invoices: [],
    refunds: [],
    disputes: [],
    checkout_sessions: [],
    payment_history: [],
  };
  const add = (table: string, row: Row, createdAt: Date) =>
    tables[table]?.push({ ...row, created_at: createdAt });
  for (const w of winners.values()) {
    const input = { environment: w.environment, snapshot: w.snapshot, deleted: w.deleted };
    if (w.objectType === 'product') add('products', productRow(input), w.createdAt);
    if (w.objectType === 'price') add('prices', priceRow(input), w.createdAt);
    if (w.objectType === 'customer') add('customers', customerRow(input), w.createdAt);
    if (w.objectType === 'invoice') add('invoices', invoiceRow(input), w.createdAt);
    if (w.objectType === 'refund') add('refunds', refundRow(input), w.createdAt);
    if (w.objectType === 'dispute') add('disputes', disputeRow(input), w.createdAt);
    if (w.objectType === 'checkout.session') add('checkout_sessions', checkoutSessionRow(input), w.createdAt);
    if (w.objectType === 'subscription') {
      const customerId = typeof w.snapshot.customer === 'string' ? w.snapshot.customer : null;
      const rows = subscriptionRows(input, mappedSubject(w.environment, customerId));
      add('subscriptions', rows.subscription, w.createdAt);
      for (const item of rows.items) add('subscription_items', item, w.createdAt);
    }
  }

  // Payments: every payment intent, every charge made without one, every invoice payment's payment.
  const roots = new Map<string, { environment: string; id: string; isIntent: boolean }>();
  const addRoot = (environment: string, id: string, isIntent: boolean) =>
    roots.set(`${environment}\u0000${id}`, { environment, id, isIntent });
  for (const w of all('payment_intent')) addRoot(w.environment, w.objectId, true);
  for (const w of all('charge')) {
    const charge = chargeSchema.parse(w.snapshot);
    addRoot(w.environment, charge.payment_intent ?? charge.id, charge.payment_intent != null);
  }
  for (const w of all('invoice_payment')) {
    const { payment } = invoicePaymentSchema.parse(w.snapshot);
    if (payment.paymentIntent) addRoot(w.environment, payment.paymentIntent, true);
    else if (payment.charge) {
      const charge = winner(w.environment, 'charge', payment.charge);
      if (charge) {
        const fields = chargeSchema.parse(charge.snapshot);
        addRoot(w.environment, fields.payment_intent ?? fields.id, fields.payment_intent != null);
      }
    }
  }
  const byId = (a: Winner, b: Winner) => (a.objectId < b.objectId ? -1 : 1);
  for (const { environment, id, isIntent } of roots.values()) {
    const intent = isIntent ? winner(environment, 'payment_intent', id) : undefined;
    const charges = isIntent
      ? all('charge')
          .filter(
            (w) => w.environment === environment && chargeSchema.parse(w.snapshot).payment_intent === id,
          )
          .sort(byId)
      : [winner(environment, 'charge', id)].filter((w): w is Winner => w !== undefined);
    const invoicePayment = all('invoice_payment')
      .filter((w) => {
        if (w.environment !== environment) return false;
        const { payment } = invoicePaymentSchema.parse(w.snapshot);
        return isIntent ? payment.paymentIntent === id : payment.charge === id;
      })
      .sort(byId)[0];
    if (!intent && charges.length === 0 && !invoicePayment) continue;
    const intentFields = intent ? paymentIntentSchema.parse(intent.snapshot) : null;
    const chargeFields = charges.map((c) => chargeSchema.parse(c.snapshot));
    const linkedInvoice = all('invoice')
      .filter(
        (w) => w.environment === environment && w.snapshot[isIntent ? 'payment_intent' : 'charge'] === id,
      )
      .sort(byId)[0];
    const invoiceId =
      intentFields?.invoice ??
      chargeFields.map((c) => c.invoice).find(Boolean) ??
      (invoicePayment ? invoicePaymentSchema.parse(invoicePayment.snapshot).invoice : null) ??
      linkedInvoice?.objectId ??
      null;
    const invoice = winner(environment, 'invoice', invoiceId);
    const subscription = invoice
      ? winner(environment, 'subscription', invoiceSubscriptionId(invoice.snapshot))
      : undefined;
    const customerId =
      intentFields?.customer ??
      chargeFields.map((c) => c.customer).find(Boolean) ??
      (typeof invoice?.snapshot.customer === 'string' ? invoice.snapshot.customer : null);
    const row = paymentHistoryRow({
      environment: environment as 'test' | 'live',
      paymentIntentId: isIntent ? id : null,
      paymentIntent: intent?.snapshot ?? null,
      charges: charges.map((c) => c.snapshot),
      invoiceId,
      invoice: invoice?.snapshot ?? null,
      invoicePayment: invoicePayment?.snapshot ?? null,
      subscription: subscription?.snapshot ?? null,
      mapped: mappedSubject(environment, customerId),
    });
    add(
      'payment_history',
      row,
      earliest(
        [intent, ...charges, invoicePayment]
          .filter((w): w is Winner => w !== undefined)
          .map((w) => w.createdAt),
      ),
    );
  }

  return Object.fromEntries(
    Object.entries(tables).map(([table, rows]) => [table, rows.map(normaliseRow).sort()]),
  );
};

export const projectedTableNames = [
  'stripe_objects',
  'customer_mappings',
  'products',
  'prices',
  'customers',
  'subscriptions',
  'subscription_items',
  'invoices',
  'refunds',
  'disputes',
  'checkout_sessions',
  'payment_history',
] as const;

/** The rows in which two sets of tables differ, as `table: -expected` / `table: +actual` lines. */
export const tableDifferences = (actual: Tables, expected: Tables): string[] =>
  Object.keys({ ...actual, ...expected }).flatMap((table) => {
    const have = new Set(actual[table] ?? []);
    const want = new Set(expected[table] ?? []);
    return [
      ...[...want].filter((row) => !have.has(row)).map((row) => `${table}: -${row}`),
      ...[...have].filter((row) => !want.has(row)).map((row) => `${table}: +${row}`),
    ];
  });
