import type Stripe from 'stripe';
import { integer, invalid, mergeMetadata, type Params, required, StripeApiError, text } from './params.js';
import { existing, onClockOf, refundCharge } from './payments.js';
import { type Resource, resource } from './resources.js';
import { type Act, referencedId } from './store.js';

const reasons = new Set(['duplicate', 'fraudulent', 'order_change', 'product_unsatisfactory']);

/** The charge that paid an invoice, through its paid invoice payment. */
const chargeOfInvoice = (act: Act, invoice: Stripe.Invoice): Stripe.Charge | null => {
  const payment = act.store
    .all('invoice_payment')
    .find((candidate) => candidate.invoice === invoice.id && candidate.status === 'paid');
  const intentId = referencedId(payment?.payment.payment_intent);
  const intent = intentId ? act.store.get('payment_intent', intentId) : undefined;
  const chargeId = referencedId(intent?.latest_charge);
  return chargeId ? (act.store.get('charge', chargeId) ?? null) : null;
};

const amountParam = (params: Params, name: string): number => {
  const value = integer(params, name);
  if (value !== null && value < 0) throw invalid(name, `${name} must be positive.`);
  return value ?? 0;
};

/**
 * A credit note on a finalized invoice (`credit_note.created`, then `invoice.updated` with the
 * invoice's credited amount). On an open invoice it lowers what is due; on a paid one it is settled
 * by `refund_amount` (a refund of the invoice's charge), `credit_amount` (the customer's balance)
 * and `out_of_band_amount`, which must add up to `amount`.
 */
const issueCreditNote = (params: Params, act: Act): Stripe.CreditNote => {
  const { store } = act;
  const invoice = existing(store, 'invoice', required(params, 'invoice'), 'invoice');
  const onClock = onClockOf(act, invoice);
  if (invoice.status !== 'open' && invoice.status !== 'paid') {
    throw new StripeApiError(
      400,
      'invalid_request_error',
      `Invoice ${invoice.id} is ${invoice.status}: only open or paid invoices can be credited.`,
      'invoice_not_editable',
    );
  }
  const reason = text(params, 'reason');
  if (reason !== null && !reasons.has(reason)) throw invalid('reason', `Invalid reason: ${reason}`);
  const refundAmount = amountParam(params, 'refund_amount');
  const creditAmount = amountParam(params, 'credit_amount');
  const outOfBand = amountParam(params, 'out_of_band_amount');
  const settled = refundAmount + creditAmount + outOfBand;
  const amount = integer(params, 'amount') ?? settled;
  const paid = invoice.status === 'paid';
  if (paid && settled !== amount) {
    throw invalid(
      'amount',
      'The sum of refund_amount, credit_amount and out_of_band_amount must equal amount.',
    );
  }
  const creditable = paid
    ? invoice.amount_paid - invoice.post_payment_credit_notes_amount
    : invoice.amount_due - invoice.pre_payment_credit_notes_amount;
  if (amount <= 0 || amount > creditable) {
    throw invalid('amount', `The credit note amount must be between 1 and ${creditable}.`);
  }
  const refunds: Stripe.CreditNote.Refund[] = [];
  if (paid && refundAmount > 0) {
    const charge = chargeOfInvoice(onClock, invoice);
    if (!charge) throw invalid('refund_amount', `Invoice ${invoice.id} has no charge to refund.`);
    const refund = refundCharge(onClock, charge, { amount: refundAmount, reason: null, metadata: {} });
    refunds.push({
      amount_refunded: refundAmount,
      payment_record_refund: null,
      refund: refund.id,
      type: 'refund',
    });
  }
  const id = store.id('cn');
  const created = onClock.context.at ?? store.now();
  const number = `${invoice.number ?? 'EMU'}-CN-${String(store.all('credit_note').filter((note) => note.invoice === invoice.id).length + 1).padStart(2, '0')}`;
  const note = store.create(
    'credit_note',
    {
      id,
      object: 'credit_note',
      amount,
      amount_shipping: 0,
      created,
      currency: invoice.currency,
      customer: referencedId(invoice.customer) as string,
      customer_account: null,
      customer_balance_transaction: null,
      discount_amount: 0,
      discount_amounts: [],
      effective_at: created,
      invoice: invoice.id,
      lines: { object: 'list', data: [], has_more: false, url: `/v1/credit_notes/${id}/lines` },
      livemode: false,
      memo: text(params, 'memo'),
      metadata: mergeMetadata({}, params.metadata),
      number,
      out_of_band_amount: paid && outOfBand > 0 ? outOfBand : null,
      pdf: `https://pay.stripe.com/credit_notes/emulator/${id}/pdf`,
      post_payment_amount: paid ? amount : 0,
      pre_payment_amount: paid ? 0 : amount,
      pretax_credit_amounts: [],
      reason: reason as Stripe.CreditNote.Reason | null,
      refunds,
      shipping_cost: null,
      status: 'issued',
      subtotal: amount,
      subtotal_excluding_tax: amount,
      total: amount,
      total_excluding_tax: amount,
      total_taxes: [],
      type: paid ? 'post_payment' : 'pre_payment',
      voided_at: null,
    },
    'credit_note.created',
    onClock.context,
  );
  creditInvoice(onClock, invoice, paid ? amount : 0, paid ? 0 : amount);
  return note;
};

/** Moves an invoice's credited amounts (and, before payment, what is due): `invoice.updated`. */
const creditInvoice = (act: Act, invoice: Stripe.Invoice, postPayment: number, prePayment: number) =>
  act.store.update(
    'invoice',
    invoice.id,
    {
      post_payment_credit_notes_amount: invoice.post_payment_credit_notes_amount + postPayment,
      pre_payment_credit_notes_amount: invoice.pre_payment_credit_notes_amount + prePayment,
      ...(prePayment !== 0 && {
        amount_due: invoice.amount_due - prePayment,
        amount_remaining: invoice.amount_remaining - prePayment,
      }),
    },
    'invoice.updated',
    act.context,
  );

export const creditNotes: Resource = resource({
  type: 'credit_note',
  path: 'credit_notes',
  create: issueCreditNote,
  update: (note, params, act) =>
    act.store.update(
      'credit_note',
      note.id,
      {
        ...('memo' in params && { memo: text(params, 'memo') }),
        ...('metadata' in params && { metadata: mergeMetadata(note.metadata ?? {}, params.metadata) }),
      },
      'credit_note.updated',
      onClockOf(act, note).context,
    ),
  actions: {
    /** Voids an issued credit note; a refund it made stays (`credit_note.voided`, `invoice.updated`). */
    void: (note, _params, act) => {
      if (note.status === 'void') {
        throw new StripeApiError(400, 'invalid_request_error', `Credit note ${note.id} is already void.`);
      }
      const onClock = onClockOf(act, note);
      const voided = onClock.store.update(
        'credit_note',
        note.id,
        { status: 'void', voided_at: onClock.context.at ?? onClock.store.now() },
        'credit_note.voided',
        onClock.context,
      );
      const invoice = existing(onClock.store, 'invoice', referencedId(note.invoice) as string, 'invoice');
      creditInvoice(onClock, invoice, -note.post_payment_amount, -note.pre_payment_amount);
      return voided;
    },
  },
  matches: (note, params) =>
    (!text(params, 'invoice') || note.invoice === text(params, 'invoice')) &&
    (!text(params, 'customer') || note.customer === text(params, 'customer')),
});
