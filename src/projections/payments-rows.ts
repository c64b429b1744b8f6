import type { PoolClient } from 'pg';
import type { Environment } from '../domain/environment.js';
import { chargeSchema, invoicePaymentSchema, paymentIntentSchema } from '../domain/stripe/objects.js';
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
} from '../domain/stripe/rows.js';
import type { Subject } from '../domain/subject.js';
import { type PaymentsTable, paymentsTables, upsertRows } from './payments-tables.js';

export interface ObjectRef {
  environment: Environment;
  objectType: string;
  objectId: string;
}

interface StoredWinner {
  snapshot: Record<string, unknown>;
  deleted: boolean;
  createdAt: Date;
}

const winnerSql = `
  select snapshot, deleted, created_at from payments.stripe_objects
  where environment = $1 and object_type = $2 and object_id = $3`;
const linkedFromSql = `
  select object_type, object_id from payfold.stripe_object_links
  where environment = $1 and target_id = $2 and link = $3 and object_type = $4
  order by object_id`;
const mappedSubjectSql = `
  select subject_type, subject_id from payments.customer_mappings where environment = $1 and customer_id = $2`;
const subscriptionsOfCustomerSql = `
  select subscription_id from payments.subscriptions where environment = $1 and customer_id = $2`;
const paymentsOfCustomerSql = `
  select payment_id, payment_intent_id from payments.payment_history where environment = $1 and customer_id = $2`;
const deleteRemovedItemsSql = `
  delete from payments.subscription_items
  where environment = $1 and subscription_id = $2 and not (subscription_item_id = any($3::text[]))`;

/** Reads winning snapshots and links within the projection's transaction, each at most once. */
class WinnerReader {
  private readonly cache = new Map<string, Promise<unknown>>();
  constructor(private readonly client: PoolClient) {}

  private cached<T>(key: string, load: () => Promise<T>): Promise<T> {
    const hit = this.cache.get(key);
    if (hit) return hit as Promise<T>;
    const loaded = load();
    this.cache.set(key, loaded);
    return loaded;
  }

  winner(
    environment: Environment,
    objectType: string,
    objectId: string | null,
  ): Promise<StoredWinner | undefined> {
    if (!objectId) return Promise.resolve(undefined);
    return this.cached(`w\u0000${environment}\u0000${objectType}\u0000${objectId}`, async () => {
      const { rows } = await this.client.query(winnerSql, [environment, objectType, objectId]);
      const row = rows[0];
      return row ? { snapshot: row.snapshot, deleted: row.deleted, createdAt: row.created_at } : undefined;
    });
  }

  /** Ids of the objects of a type whose winner links to a target. */
  linkedFrom(
    environment: Environment,
    targetId: string,
    link: string,
    objectType: string,
  ): Promise<string[]> {
    return this.cached(`l\u0000${environment}\u0000${targetId}\u0000${link}\u0000${objectType}`, async () => {
      const { rows } = await this.client.query(linkedFromSql, [environment, targetId, link, objectType]);
      return rows.map((row) => row.object_id as string);
    });
  }

  mappedSubject(environment: Environment, customerId: string | null): Promise<Subject | null> {
    if (!customerId) return Promise.resolve(null);
    return this.cached(`m\u0000${environment}\u0000${customerId}`, async () => {
      const { rows } = await this.client.query(mappedSubjectSql, [environment, customerId]);
      const row = rows[0];
      return row ? { type: row.subject_type, id: row.subject_id } : null;
    });
  }
}

/** A row to recompute: a table and the id of the object it is built around. */
type Root =
  | {
      kind:
        | 'product'
        | 'price'
        | 'customer'
        | 'subscription'
        | 'invoice'
        | 'refund'
        | 'dispute'
        | 'checkout.session';
      id: string;
    }
  | { kind: 'payment'; id: string; isIntent: boolean };

const directRoots = new Set([
  'product',
  'price',
  'customer',
  'subscription',
  'invoice',
  'refund',
  'dispute',
  'checkout.session',
]);

const paymentRootOfCharge = (snapshot: Record<string, unknown>): Root => {
  const charge = chargeSchema.parse(snapshot);
  return charge.payment_intent
    ? { kind: 'payment', id: charge.payment_intent, isIntent: true }
    : { kind: 'payment', id: charge.id, isIntent: false };
};

/**
 * Rows of `payments.*` recomputed from winning snapshots. Which rows a changed object touches:
 * its own row, and for payments every payment that reads it (through links kept per winner).
 */
export class PaymentsRowsProjection {
  private readonly reader: WinnerReader;
  private readonly roots = new Map<string, { environment: Environment; root: Root }>();

  constructor(private readonly client: PoolClient) {
    this.reader = new WinnerReader(client);
  }

  private addRoot(environment: Environment, root: Root): void {
    this.roots.set(`${environment}\u0000${root.kind}\u0000${root.id}`, { environment, root });
  }

  private async addPaymentRootsOfInvoice(environment: Environment, invoiceId: string): Promise<void> {
    const invoice = await this.reader.winner(environment, 'invoice', invoiceId);
    const snapshot = invoice?.snapshot ?? {};
    if (typeof snapshot.payment_intent === 'string')
      this.addRoot(environment, { kind: 'payment', id: snapshot.payment_intent, isIntent: true });
    for (const id of await this.reader.linkedFrom(environment, invoiceId, 'invoice', 'payment_intent')) {
      this.addRoot(environment, { kind: 'payment', id, isIntent: true });
    }
    for (const id of await this.reader.linkedFrom(environment, invoiceId, 'invoice', 'invoice_payment')) {
      await this.addPaymentRootsOf({ environment, objectType: 'invoice_payment', objectId: id });
    }
    for (const id of await this.reader.linkedFrom(environment, invoiceId, 'invoice', 'charge')) {
      await this.addPaymentRootsOf({ environment, objectType: 'charge', objectId: id });
    }
  }

  private async addPaymentRootsOf({ environment, objectType, objectId }: ObjectRef): Promise<void> {
    const winner = await this.reader.winner(environment, objectType, objectId);
    if (!winner) return;
    switch (objectType) {
      case 'payment_intent':
        this.addRoot(environment, { kind: 'payment', id: objectId, isIntent: true });
        break;
      case 'charge':
        this.addRoot(environment, paymentRootOfCharge(winner.snapshot));
        break;
      case 'invoice_payment': {
        const { payment } = invoicePaymentSchema.parse(winner.snapshot);
        if (payment.paymentIntent)
          this.addRoot(environment, { kind: 'payment', id: payment.paymentIntent, isIntent: true });
        else if (payment.charge)
          await this.addPaymentRootsOf({ environment, objectType: 'charge', objectId: payment.charge });
        break;
      }
      case 'invoice':
        await this.addPaymentRootsOfInvoice(environment, objectId);
        break;
      case 'subscription':
        for (const invoiceId of await this.reader.linkedFrom(
          environment,
          objectId,
          'subscription',
          'invoice',
        )) {
          await this.addPaymentRootsOfInvoice(environment, invoiceId);
        }
        break;
    }
  }

  /** Marks the rows an object whose winner changed is read by. */
  async objectChanged(ref: ObjectRef): Promise<void> {
    if (directRoots.has(ref.objectType))
      this.addRoot(ref.environment, { kind: ref.objectType, id: ref.objectId } as Root);
    await this.addPaymentRootsOf(ref);
  }

  /** Marks the rows that fall back to a customer's mapping for their subject. */
  async mappingChanged(environment: Environment, customerId: string): Promise<void> {
    const subscriptions = await this.client.query(subscriptionsOfCustomerSql, [environment, customerId]);
    for (const row of subscriptions.rows)
      this.addRoot(environment, { kind: 'subscription', id: row.subscription_id });
    const payments = await this.client.query(paymentsOfCustomerSql, [environment, customerId]);
    for (const row of payments.rows) {
      this.addRoot(environment, {
        kind: 'payment',
        id: row.payment_id,
        isIntent: row.payment_intent_id != null,
      });
    }
  }

  /** Recomputes every marked row and writes the ones that changed. */
  async write(): Promise<void> {
    const batches = new Map<PaymentsTable, Map<string, Row & { created_at: Date }>>();
    const add = (target: PaymentsTable, row: Row, createdAt: Date) => {
      const rows = batches.get(target) ?? new Map();
      rows.set(target.key.map((column) => String(row[column])).join('\u0000'), {
        ...row,
        created_at: createdAt,
      });
      batches.set(target, rows);
    };
    const itemSets: Array<{ environment: Environment; subscriptionId: string; itemIds: string[] }> = [];

    for (const { environment, root } of this.roots.values()) {
      if (root.kind === 'payment') {
        const payment = await this.paymentRow(environment, root);
        if (payment) add(paymentsTables.paymentHistory, payment.row, payment.createdAt);
        continue;
      }
      const stored = await this.reader.winner(environment, root.kind, root.id);
      if (!stored) continue;
      const winner = { environment, snapshot: stored.snapshot, deleted: stored.deleted };
      switch (root.kind) {
        case 'product':
          add(paymentsTables.products, productRow(winner), stored.createdAt);
          break;
        case 'price':
          add(paymentsTables.prices, priceRow(winner), stored.createdAt);
          break;
        case 'customer':
          add(paymentsTables.customers, customerRow(winner), stored.createdAt);
          break;
        case 'invoice':
          add(paymentsTables.invoices, invoiceRow(winner), stored.createdAt);
          break;
        case 'refund':
          add(paymentsTables.refunds, refundRow(winner), stored.createdAt);
          break;
        case 'dispute':
          add(paymentsTables.disputes, disputeRow(winner), stored.createdAt);
          break;
        case 'checkout.session':
          add(paymentsTables.checkoutSessions, checkoutSessionRow(winner), stored.createdAt);
          break;
        case 'subscription': {
          const customerId = typeof stored.snapshot.customer === 'string' ? stored.snapshot.customer : null;
          const rows = subscriptionRows(winner, await this.reader.mappedSubject(environment, customerId));
          add(paymentsTables.subscriptions, rows.subscription, stored.createdAt);
          for (const item of rows.items) add(paymentsTables.subscriptionItems, item, stored.createdAt);
          if (rows.itemsComplete) {
            itemSets.push({
              environment,
              subscriptionId: root.id,
              itemIds: rows.items.map((item) => String(item.subscription_item_id)),
            });
          }
          break;
        }
      }
    }
    for (const { environment, subscriptionId, itemIds } of itemSets) {
      await this.client.query(deleteRemovedItemsSql, [environment, subscriptionId, itemIds]);
    }
    for (const [target, rows] of batches) await upsertRows(this.client, target, [...rows.values()]);
  }

  private async paymentRow(
    environment: Environment,
    root: { id: string; isIntent: boolean },
  ): Promise<{ row: Row; createdAt: Date } | undefined> {
    const intent = root.isIntent
      ? await this.reader.winner(environment, 'payment_intent', root.id)
      : undefined;
    const chargeIds = root.isIntent
      ? await this.reader.linkedFrom(environment, root.id, 'payment_intent', 'charge')
      : [root.id];
    const charges = (
      await Promise.all(chargeIds.map((id) => this.reader.winner(environment, 'charge', id)))
    ).filter((charge): charge is StoredWinner => charge !== undefined);
    const link = root.isIntent ? 'payment_intent' : 'charge';
    const invoicePaymentIds = await this.reader.linkedFrom(environment, root.id, link, 'invoice_payment');
    const invoicePayment = await this.reader.winner(
      environment,
      'invoice_payment',
      invoicePaymentIds[0] ?? null,
    );
    if (!intent && charges.length === 0 && !invoicePayment) return undefined;

    const intentFields = intent ? paymentIntentSchema.parse(intent.snapshot) : null;
    const chargeFields = charges.map((charge) => chargeSchema.parse(charge.snapshot));
    const invoiceId =
      intentFields?.invoice ??
      chargeFields.map((charge) => charge.invoice).find(Boolean) ??
      (invoicePayment ? invoicePaymentSchema.parse(invoicePayment.snapshot).invoice : null) ??
      (await this.reader.linkedFrom(environment, root.id, link, 'invoice'))[0] ??
      null;
    const invoice = await this.reader.winner(environment, 'invoice', invoiceId);
    const subscription = invoice
      ? await this.reader.winner(environment, 'subscription', invoiceSubscriptionId(invoice.snapshot))
      : undefined;
    const customerId =
      intentFields?.customer ??
      chargeFields.map((charge) => charge.customer).find(Boolean) ??
      (typeof invoice?.snapshot.customer === 'string' ? invoice.snapshot.customer : null);
    const row = paymentHistoryRow({
      environment,
      paymentIntentId: root.isIntent ? root.id : null,
      paymentIntent: intent?.snapshot ?? null,
      charges: charges.map((charge) => charge.snapshot),
      invoiceId,
      invoice: invoice?.snapshot ?? null,
      invoicePayment: invoicePayment?.snapshot ?? null,
      subscription: subscription?.snapshot ?? null,
      mapped: await this.reader.mappedSubject(environment, customerId),
    });
    const createdAt = [intent, ...charges, invoicePayment]
      .filter((winner): winner is StoredWinner => winner !== undefined)
      .map((winner) => winner.createdAt)
      .reduce((earliest, at) => (at < earliest ? at : earliest));
    return { row, createdAt };
  }
}
