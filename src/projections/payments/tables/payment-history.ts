import type { Environment } from '../../../domain/environment.js';
import {
  chargeSchema,
  invoicePaymentSchema,
  invoiceSchema,
  paymentIntentSchema,
  subscriptionSchema,
} from '../../../domain/stripe/objects.js';
import { type Subject, subjectOfMetadata } from '../../../domain/subject.js';
import { earliest } from '../../../domain/time.js';
import {
  type DerivedTable,
  type ObjectRef,
  type RowOf,
  subjectColumns,
  timestamp,
  type Winner,
  type WinnerSource,
} from './table.js';

const columns = {
  environment: 'text not null',
  payment_id: 'text not null',
  payment_intent_id: 'text',
  charge_id: 'text',
  type: 'text not null',
  status: 'text not null',
  subject_type: 'text',
  subject_id: 'text',
  customer_id: 'text',
  invoice_id: 'text',
  subscription_id: 'text',
  amount: 'bigint',
  amount_refunded: 'bigint not null',
  currency: 'text',
  paid_at: 'timestamptz',
  failed_at: 'timestamptz',
} as const;

type PaymentRow = RowOf<typeof columns>;
type Charge = ReturnType<typeof chargeSchema.parse>;

/** A payment is a payment intent, or a charge made without one; its row is built around it. */
const paymentRoot = (environment: Environment, intentId: string | null, chargeId: string): ObjectRef =>
  intentId
    ? { environment, objectType: 'payment_intent', objectId: intentId }
    : { environment, objectType: 'charge', objectId: chargeId };

const rootOfCharge = (charge: Winner): ObjectRef => {
  const { id, payment_intent } = chargeSchema.parse(charge.snapshot);
  return paymentRoot(charge.environment, payment_intent, id);
};

/** The payments an invoice is paid by: its intent, and the intents, charges and invoice payments linking to it. */
const rootsOfInvoice = async (
  environment: Environment,
  invoiceId: string,
  source: WinnerSource,
): Promise<ObjectRef[]> => {
  const invoice = await source.winner(environment, 'invoice', invoiceId);
  const intentId = invoice ? invoiceSchema.parse(invoice.snapshot).payment_intent : null;
  const [intentIds, linkedObjects] = await Promise.all([
    source.linkedFrom(environment, invoiceId, 'invoice', 'payment_intent'),
    Promise.all(
      (['charge', 'invoice_payment'] as const).map(async (objectType) =>
        Promise.all(
          (await source.linkedFrom(environment, invoiceId, 'invoice', objectType)).map((id) =>
            source.winner(environment, objectType, id),
          ),
        ),
      ),
    ),
  ]);
  const linkedRoots = await Promise.all(
    linkedObjects.flat().map((winner) => (winner ? rootsOfPaymentObject(winner, source) : [])),
  );
  return [
    ...(intentId ? [paymentRoot(environment, intentId, intentId)] : []),
    ...intentIds.map((id) => paymentRoot(environment, id, id)),
    ...linkedRoots.flat(),
  ];
};

/** The payments whose rows read this object. */
const rootsOfPaymentObject = async (changed: Winner, source: WinnerSource): Promise<ObjectRef[]> => {
  const { environment, objectId } = changed;
  switch (changed.objectType) {
    case 'payment_intent':
      return [paymentRoot(environment, objectId, objectId)];
    case 'charge':
      return [rootOfCharge(changed)];
    case 'invoice_payment': {
      const { payment } = invoicePaymentSchema.parse(changed.snapshot);
      if (payment.paymentIntent)
        return [paymentRoot(environment, payment.paymentIntent, payment.paymentIntent)];
      const charge = await source.winner(environment, 'charge', payment.charge);
      return charge ? [rootOfCharge(charge)] : [];
    }
    case 'invoice':
      return rootsOfInvoice(environment, objectId, source);
    case 'subscription': {
      const invoiceIds = await source.linkedFrom(environment, objectId, 'subscription', 'invoice');
      return (await Promise.all(invoiceIds.map((id) => rootsOfInvoice(environment, id, source)))).flat();
    }
    default:
      return [];
  }
};

const invoicePaymentStatus: Record<string, string> = {
  open: 'pending',
  paid: 'succeeded',
  canceled: 'failed',
};

/** The charge a payment stands on now: the intent's latest charge, else the newest one known. */
const latestCharge = (
  intentLatest: string | null,
  embedded: string[],
  charges: Charge[],
): Charge | undefined => {
  const byId = new Map(charges.map((charge) => [charge.id, charge]));
  const named = (intentLatest && byId.get(intentLatest)) || embedded.map((id) => byId.get(id)).find(Boolean);
  if (named) return named;
  return [...charges].sort((a, b) => (b.created ?? 0) - (a.created ?? 0) || (a.id < b.id ? 1 : -1))[0];
};

const newestEmbeddedCharge = (
  embedded: ReadonlyArray<{ id: string; created: number | null }>,
): string | undefined =>
  [...embedded].sort((a, b) => (b.created ?? 0) - (a.created ?? 0) || (a.id < b.id ? 1 : -1))[0]?.id;

/** What a payment row is computed from: winning snapshots only. */
export interface PaymentInputs {
  environment: Environment;
  /** The payment intent the payment is, even when only its charges are known so far. */
  paymentIntentId: string | null;
  paymentIntent: Record<string, unknown> | null;
  /** Every known charge of the payment intent, or the lone charge of a payment made without one. */
  charges: Record<string, unknown>[];
  /** The invoice the payment pays, when one is linked (its id may be known before the invoice). */
  invoiceId: string | null;
  invoice: Record<string, unknown> | null;
  /** Since basil, the link between the invoice and the payment; all that may be known of it yet. */
  invoicePayment: Record<string, unknown> | null;
  /** That invoice's subscription, when known. */
  subscription: Record<string, unknown> | null;
}

/**
 * One payment's row, but for the subject its metadata does not name (`mapped` then decides). Its
 * status reads the intent and its latest charge; refunds show through that charge's
 * `amount_refunded`; its customer is the intent's, else that charge's, else the invoice's.
 */
export const paymentRow = (inputs: PaymentInputs): { row: PaymentRow; metadataSubject: Subject | null } => {
  const intent = inputs.paymentIntent ? paymentIntentSchema.parse(inputs.paymentIntent) : null;
  const charges = inputs.charges.map((charge) => chargeSchema.parse(charge));
  const charge = latestCharge(
    intent?.latest_charge ?? null,
    intent?.charges.data.map((c) => c.id) ?? [],
    charges,
  );
  const invoice = inputs.invoice ? invoiceSchema.parse(inputs.invoice) : null;
  const invoicePayment = inputs.invoicePayment ? invoicePaymentSchema.parse(inputs.invoicePayment) : null;
  const subscription = inputs.subscription ? subscriptionSchema.parse(inputs.subscription) : null;
  const subscriptionId = invoice?.subscription ?? null;

  const amount = intent?.amount ?? charge?.amount ?? invoicePayment?.amount_requested ?? null;
  const refunded = charge?.amount_refunded ?? 0;
  const chargeSucceeded = charge?.status === 'succeeded';
  const intentFailed =
    intent?.status === 'canceled' ||
    (intent?.status === 'requires_payment_method' &&
      (intent.last_payment_error != null || charge?.status === 'failed'));
  let status: string;
  if (refunded > 0 && charge) status = refunded >= (charge.amount ?? 0) ? 'refunded' : 'partially_refunded';
  else if (intent) status = intent.status === 'succeeded' ? 'succeeded' : intentFailed ? 'failed' : 'pending';
  else if (charge) status = chargeSucceeded ? 'succeeded' : charge.status === 'failed' ? 'failed' : 'pending';
  else status = invoicePaymentStatus[invoicePayment?.status ?? ''] ?? 'pending';

  const paid = status === 'succeeded' || status === 'refunded' || status === 'partially_refunded';
  const metadataSubject =
    subjectOfMetadata(intent?.metadata) ??
    subjectOfMetadata(charge?.metadata) ??
    subjectOfMetadata(subscription?.metadata) ??
    subjectOfMetadata(invoice?.metadata);
  const paymentId = inputs.paymentIntentId ?? charge?.id;
  if (!paymentId) throw new Error('a payment needs a payment intent or a charge');
  return {
    metadataSubject,
    row: {
      environment: inputs.environment,
      payment_id: paymentId,
      payment_intent_id: inputs.paymentIntentId,
      // The charge's own snapshot when known; until then the one the intent names (its latest, or
      // before 2022-11-15 the newest it embeds).
      charge_id:
        charge?.id ?? intent?.latest_charge ?? newestEmbeddedCharge(intent?.charges.data ?? []) ?? null,
      type: subscriptionId ? 'subscription_invoice' : 'one_time_payment',
      status,
      ...subjectColumns(metadataSubject),
      customer_id: intent?.customer ?? charge?.customer ?? invoice?.customer ?? null,
      invoice_id: inputs.invoiceId,
      subscription_id: subscriptionId,
      amount,
      amount_refunded: refunded,
      currency: intent?.currency ?? charge?.currency ?? invoicePayment?.currency ?? null,
      paid_at: paid
        ? timestamp(
            charge ? (chargeSucceeded ? charge.created : null) : (invoicePayment?.status_transitions ?? null),
          )
        : null,
      failed_at: status === 'failed' && charge?.status === 'failed' ? timestamp(charge.created) : null,
    },
  };
};

const present = (winner: Winner | undefined): winner is Winner => winner !== undefined;

/**
 * `payments.payment_history`: one row per payment, from its payment intent, charges, invoice
 * payment, invoice and that invoice's subscription.
 */
export const paymentHistoryTable: DerivedTable<typeof columns> = {
  name: 'payments.payment_history',
  key: ['environment', 'payment_id'],
  columns,
  rootsAffectedBy: rootsOfPaymentObject,
  mappedRowRoot: (row) => paymentRoot(row.environment as Environment, row.payment_intent_id, row.payment_id),
  rowsOf: async (root, source) => {
    const { environment, objectId } = root;
    const isIntent = root.objectType === 'payment_intent';
    const link = isIntent ? 'payment_intent' : 'charge';
    const [intent, chargeIds, invoicePaymentIds, linkedInvoiceIds] = await Promise.all([
      isIntent ? source.winner(environment, 'payment_intent', objectId) : undefined,
      isIntent ? source.linkedFrom(environment, objectId, 'payment_intent', 'charge') : [objectId],
      source.linkedFrom(environment, objectId, link, 'invoice_payment'),
      source.linkedFrom(environment, objectId, link, 'invoice'),
    ]);
    const [charges, invoicePayment] = await Promise.all([
      Promise.all(chargeIds.map((id) => source.winner(environment, 'charge', id))).then((found) =>
        found.filter(present),
      ),
      source.winner(environment, 'invoice_payment', invoicePaymentIds[0] ?? null),
    ]);
    if (!intent && charges.length === 0 && !invoicePayment) return { rows: [] };

    const invoiceId =
      (intent ? paymentIntentSchema.parse(intent.snapshot).invoice : null) ??
      charges.map((charge) => chargeSchema.parse(charge.snapshot).invoice).find(Boolean) ??
      (invoicePayment ? invoicePaymentSchema.parse(invoicePayment.snapshot).invoice : null) ??
      linkedInvoiceIds[0] ??
      null;
    const invoice = await source.winner(environment, 'invoice', invoiceId);
    const subscription = invoice
      ? await source.winner(environment, 'subscription', invoiceSchema.parse(invoice.snapshot).subscription)
      : undefined;
    const { row, metadataSubject } = paymentRow({
      environment,
      paymentIntentId: isIntent ? objectId : null,
      paymentIntent: intent?.snapshot ?? null,
      charges: charges.map((charge) => charge.snapshot),
      invoiceId,
      invoice: invoice?.snapshot ?? null,
      invoicePayment: invoicePayment?.snapshot ?? null,
      subscription: subscription?.snapshot ?? null,
    });
    const subject = metadataSubject ?? (await source.mappedSubject(environment, row.customer_id));
    return {
      rows: [
        {
          row: { ...row, ...subjectColumns(subject) },
          createdAt: earliest([intent, ...charges, invoicePayment].filter(present).map((w) => w.createdAt)),
        },
      ],
    };
  },
};
