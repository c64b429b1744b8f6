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
import { earliest } from '../domain/time.js';
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

const winnersSql = `
  select o.environment, o.object_type, o.object_id, o.snapshot, o.deleted, o.created_at
  from payments.stripe_objects o
  where o.object_id = any($3::text[])
    and (o.environment, o.object_type, o.object_id) in (select * from unnest($1::text[], $2::text[], $3::text[]))`;
const linksToSql = `
  select l.environment, l.target_id, l.link, l.object_type, l.object_id
  from payfold.stripe_object_links l
  where l.environment = $1 and l.target_id = any($2::text[])
  order by l.object_id`;
const mappedSubjectsSql = `
  select m.environment, m.customer_id, m.subject_type, m.subject_id
  from payments.customer_mappings m
  where m.environment = $1 and m.customer_id = any($2::text[])`;
const subscriptionsOfCustomerSql = `
  select subscription_id from payments.subscriptions where environment = $1 and customer_id = $2`;
const paymentsOfCustomerSql = `
  select payment_id, payment_intent_id from payments.payment_history where environment = $1 and customer_id = $2`;
/** Items no longer listed by their subscription's complete item list. */
const deleteRemovedItemsSql = `
  delete from payments.subscription_items i
  using jsonb_to_recordset($1::jsonb) as s(environment text, "subscriptionId" text, "itemIds" text[])
  where i.environment = s.environment and i.subscription_id = s."subscriptionId"
    and not (i.subscription_item_id = any(s."itemIds"))`;

interface LinkRow {
  link: string;
  objectType: string;
  objectId: string;
}

const key = (...parts: string[]) => parts.join('\u0000');

/**
 * Reads winning snapshots, links and mappings within the projection's transaction. Callers load
 * what a batch needs in a few set-based queries (`load…`); the getters then answer from memory,
 * and fall back to loading one thing when something was not loaded ahead.
 */
class WinnerReader {
  private readonly winners = new Map<string, StoredWinner | null>();
  private readonly links = new Map<string, LinkRow[]>();
  private readonly mappings = new Map<string, Subject | null>();
  constructor(private readonly client: PoolClient) {}

  /** A winner this batch has just written needs no reading back. */
  seed(ref: ObjectRef, winner: StoredWinner): void {
    this.winners.set(key(ref.environment, ref.objectType, ref.objectId), winner);
  }

  async loadWinners(refs: Iterable<ObjectRef>): Promise<void> {
    const missing = [...refs].filter(
      (ref) => !this.winners.has(key(ref.environment, ref.objectType, ref.objectId)),
    );
    if (missing.length === 0) return;
    for (const ref of missing) this.winners.set(key(ref.environment, ref.objectType, ref.objectId), null);
    const { rows } = await this.client.query(winnersSql, [
      missing.map((ref) => ref.environment),
      missing.map((ref) => ref.objectType),
      missing.map((ref) => ref.objectId),
    ]);
    for (const row of rows) {
      this.winners.set(key(row.environment, row.object_type, row.object_id), {
        snapshot: row.snapshot,
        deleted: row.deleted,
        createdAt: row.created_at,
      });
    }
  }

  async loadLinksTo(environment: Environment, targetIds: Iterable<string>): Promise<void> {
    const missing = [...new Set(targetIds)].filter((id) => !this.links.has(key(environment, id)));
    if (missing.length === 0) return;
    for (const id of missing) this.links.set(key(environment, id), []);
    const { rows } = await this.client.query(linksToSql, [environment, missing]);
    for (const row of rows) {
      this.links.get(key(environment, row.target_id))?.push({
        link: row.link,
        objectType: row.object_type,
        objectId: row.object_id,
      });
    }
  }

  async loadMappings(environment: Environment, customerIds: Iterable<string | null>): Promise<void> {
    const missing = [...new Set(customerIds)].filter(
      (id): id is string => id !== null && !this.mappings.has(key(environment, id)),
    );
    if (missing.length === 0) return;
    for (const id of missing) this.mappings.set(key(environment, id), null);
    const { rows } = await this.client.query(mappedSubjectsSql, [environment, missing]);
    for (const row of rows) {
      this.mappings.set(key(environment, row.customer_id), { type: row.subject_type, id: row.subject_id });
    }
  }

  /** A winner already in memory, without loading. */
  peek(ref: ObjectRef): StoredWinner | undefined {
    return this.winners.get(key(ref.environment, ref.objectType, ref.objectId)) ?? undefined;
  }

  async winner(
    environment: Environment,
    objectType: string,
    objectId: string | null,
  ): Promise<StoredWinner | undefined> {
    if (!objectId) return undefined;
    await this.loadWinners([{ environment, objectType, objectId }]);
    return this.winners.get(key(environment, objectType, objectId)) ?? undefined;
  }

  /** Ids of the objects of a type whose winner links to a target, in id order. */
  async linkedFrom(
    environment: Environment,
    targetId: string,
    link: string,
    objectType: string,
  ): Promise<string[]> {
    await this.loadLinksTo(environment, [targetId]);
    return (this.links.get(key(environment, targetId)) ?? [])
      .filter((row) => row.link === link && row.objectType === objectType)
      .map((row) => row.objectId);
  }

  /** Every object linking to a target, whatever the link. */
  async linksTo(environment: Environment, targetId: string): Promise<LinkRow[]> {
    await this.loadLinksTo(environment, [targetId]);
    return this.links.get(key(environment, targetId)) ?? [];
  }

  async mappedSubject(environment: Environment, customerId: string | null): Promise<Subject | null> {
    if (!customerId) return null;
    await this.loadMappings(environment, [customerId]);
    return this.mappings.get(key(environment, customerId)) ?? null;
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

const refsOf = (environment: Environment, links: LinkRow[]): ObjectRef[] =>
  links.map((link) => ({ environment, objectType: link.objectType, objectId: link.objectId }));

const textField = (snapshot: Record<string, unknown> | undefined, field: string): string | null => {
  const value = snapshot?.[field];
  return typeof value === 'string' ? value : null;
};

/**
 * Rows of `payments.*` recomputed from winning snapshots. Which rows a changed object touches:
 * its own row, and for payments every payment that reads it (through links kept per winner).
 * Each phase loads what the next one reads in a few set-based queries, so a batch of a thousand
 * entries costs a handful of round trips, not thousands.
 */
export class PaymentsRowsProjection {
  private readonly reader: WinnerReader;
  private readonly changed: ObjectRef[] = [];
  private readonly roots = new Map<string, { environment: Environment; root: Root }>();

  constructor(private readonly client: PoolClient) {
    this.reader = new WinnerReader(client);
  }

  /** An object whose winner this batch changed: the rows that read it are recomputed. */
  objectChanged(ref: ObjectRef, winner: StoredWinner): void {
    this.reader.seed(ref, winner);
    this.changed.push(ref);
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

  private addRoot(environment: Environment, root: Root): void {
    this.roots.set(key(environment, root.kind, root.id), { environment, root });
  }

  /** Loads every object linking to the targets, and those objects' winners. */
  private async loadLinkedObjects(environment: Environment, targetIds: string[]): Promise<void> {
    await this.reader.loadLinksTo(environment, targetIds);
    const sources = await Promise.all(targetIds.map((id) => this.reader.linksTo(environment, id)));
    await this.reader.loadWinners(sources.flatMap((links) => refsOf(environment, links)));
  }

  private async addPaymentRootsOfInvoice(environment: Environment, invoiceId: string): Promise<void> {
    const invoice = await this.reader.winner(environment, 'invoice', invoiceId);
    const intentId = textField(invoice?.snapshot, 'payment_intent');
    if (intentId) this.addRoot(environment, { kind: 'payment', id: intentId, isIntent: true });
    for (const link of await this.reader.linksTo(environment, invoiceId)) {
      if (link.link !== 'invoice') continue;
      if (link.objectType === 'payment_intent')
        this.addRoot(environment, { kind: 'payment', id: link.objectId, isIntent: true });
      if (link.objectType === 'invoice_payment' || link.objectType === 'charge') {
        await this.addPaymentRootsOf({ environment, objectType: link.objectType, objectId: link.objectId });
      }
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

  /** Which rows read the changed objects: their own, and the payments that read them. */
  private async findRoots(): Promise<void> {
    for (const environment of new Set(this.changed.map((ref) => ref.environment))) {
      const changed = this.changed.filter((ref) => ref.environment === environment);
      await this.loadLinkedObjects(
        environment,
        changed
          .filter((ref) => ref.objectType === 'invoice' || ref.objectType === 'subscription')
          .map((ref) => ref.objectId),
      );
      const invoicesOfSubscriptions = (
        await Promise.all(
          changed
            .filter((ref) => ref.objectType === 'subscription')
            .map((ref) => this.reader.linkedFrom(environment, ref.objectId, 'subscription', 'invoice')),
        )
      ).flat();
      await this.loadLinkedObjects(environment, invoicesOfSubscriptions);
      await this.reader.loadWinners(
        changed.flatMap((ref) => {
          const payment =
            ref.objectType === 'invoice_payment' ? this.reader.peek(ref)?.snapshot.payment : undefined;
          const chargeId = textField(payment as Record<string, unknown> | undefined, 'charge');
          return chargeId ? [{ environment, objectType: 'charge', objectId: chargeId }] : [];
        }),
      );
    }
    for (const ref of this.changed) {
      if (directRoots.has(ref.objectType))
        this.addRoot(ref.environment, { kind: ref.objectType, id: ref.objectId } as Root);
      await this.addPaymentRootsOf(ref);
    }
  }

  /** Loads everything the rows of the found roots read. */
  private async loadRowInputs(): Promise<void> {
    for (const environment of new Set([...this.roots.values()].map((entry) => entry.environment))) {
      const roots = [...this.roots.values()]
        .filter((entry) => entry.environment === environment)
        .map((e) => e.root);
      const payments = roots.filter((root) => root.kind === 'payment');
      await this.reader.loadWinners([
        ...roots
          .filter((root) => root.kind !== 'payment')
          .map((root) => ({ environment, objectType: root.kind, objectId: root.id })),
        ...payments.map((root) => ({
          environment,
          objectType: root.kind === 'payment' && root.isIntent ? 'payment_intent' : 'charge',
          objectId: root.id,
        })),
      ]);
      await this.loadLinkedObjects(
        environment,
        payments.map((root) => root.id),
      );
      const paymentObjects = (
        await Promise.all(
          payments.map(async (root) => [
            await this.reader.winner(
              environment,
              root.kind === 'payment' && root.isIntent ? 'payment_intent' : 'charge',
              root.id,
            ),
            ...(await Promise.all(
              (
                await this.reader.linksTo(environment, root.id)
              ).map((link) => this.reader.winner(environment, link.objectType, link.objectId)),
            )),
          ]),
        )
      )
        .flat()
        .filter((winner): winner is StoredWinner => winner !== undefined);
      const invoiceIds = paymentObjects
        .map((winner) => textField(winner.snapshot, 'invoice'))
        .filter(Boolean) as string[];
      await this.reader.loadWinners(
        invoiceIds.map((objectId) => ({ environment, objectType: 'invoice', objectId })),
      );
      const invoices = await Promise.all(
        invoiceIds.map((id) => this.reader.winner(environment, 'invoice', id)),
      );
      const subscriptionIds = invoices.flatMap((invoice) =>
        invoice ? [invoiceSubscriptionId(invoice.snapshot)] : [],
      );
      await this.reader.loadWinners(
        subscriptionIds
          .filter(Boolean)
          .map((objectId) => ({ environment, objectType: 'subscription', objectId: objectId as string })),
      );
      const subscriptions = await Promise.all(
        roots
          .filter((root) => root.kind === 'subscription')
          .map((root) => this.reader.winner(environment, 'subscription', root.id)),
      );
      await this.reader.loadMappings(environment, [
        ...[...paymentObjects, ...invoices, ...subscriptions].map((winner) =>
          textField(winner?.snapshot, 'customer'),
        ),
      ]);
    }
  }

  /** Recomputes every row the changed objects are read by, and writes the ones that changed. */
  async write(): Promise<void> {
    await this.findRoots();
    await this.loadRowInputs();
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
    if (itemSets.length > 0) await this.client.query(deleteRemovedItemsSql, [JSON.stringify(itemSets)]);
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
      .map((winner) => winner.createdAt);
    return { row, createdAt: earliest(createdAt) };
  }
}
