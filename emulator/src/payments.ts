import type Stripe from 'stripe';
import { disputeTransaction, refundTransaction, settleCharge } from './balance-transactions.js';
import { invalid, type Params, resourceMissing, StripeApiError } from './params.js';
import {
  type CardOutcome,
  cardOutcome,
  noBillingDetails,
  paymentMethodOf,
  testCardOf,
} from './payment-methods.js';
import {
  type Act,
  type EmulatorStore,
  type ObjectType,
  referencedId,
  type StoredObjects,
  testClockType,
} from './store.js';

/**
 * What customers and banks do to payments: test cards that succeed, are declined or are
 * disputed, payment intents and their charges, refunds and disputes. Each function changes the
 * store in the order Stripe does and emits the events Stripe emits on the way, so that one call
 * gives the same burst of events (most in the same second) as the real thing.
 */

type IntentKind = 'PaymentIntent' | 'SetupIntent';

const unexpectedState = (kind: IntentKind, message: string) =>
  new StripeApiError(
    400,
    'invalid_request_error',
    message,
    kind === 'PaymentIntent' ? 'payment_intent_unexpected_state' : 'setup_intent_unexpected_state',
  );

/** An intent that succeeded or was canceled is done: Stripe refuses to confirm or cancel it. */
export const refuseDoneIntent = (kind: IntentKind, status: string, action: 'confirm' | 'cancel'): void => {
  if (status !== 'succeeded' && status !== 'canceled') return;
  throw unexpectedState(
    kind,
    action === 'confirm'
      ? `This ${kind}'s status is ${status}, so it cannot be confirmed.`
      : `You cannot cancel this ${kind} because it has a status of ${status}.`,
  );
};

/** What an intent is confirmed with: the payment method given, else its own; none is refused. */
export const methodToConfirm = (kind: IntentKind, given: string | null, own: string | null): string => {
  const method = given ?? own;
  if (!method)
    throw unexpectedState(kind, `You cannot confirm this ${kind} because it is missing a payment method.`);
  return method;
};

export const day = 24 * 60 * 60;

/** The account time of an act: the request's clock, else the store's. */
export const timeOf = (act: Act): number => act.context.at ?? act.store.now();

/** The time of a customer's objects: its test clock's frozen time, else the store's clock. */
export const customerTime = (store: EmulatorStore, customerId: string | null): number => {
  const clockId = customerId ? store.get('customer', customerId)?.test_clock : null;
  const clock = typeof clockId === 'string' ? store.get(testClockType, clockId) : undefined;
  return clock ? clock.frozen_time : store.now();
};

/** The same act, at the time of the customer's objects. */
export const onCustomerClock = (act: Act, customerId: string | null): Act => ({
  store: act.store,
  context: { ...act.context, at: customerTime(act.store, customerId) },
});

/** The same act, at the time of the objects of the record's customer. */
export const onClockOf = (act: Act, record: { customer?: string | { id: string } | null }): Act =>
  onCustomerClock(act, referencedId(record.customer));

/** The charge a dispute is about. */
export const disputedCharge = (store: EmulatorStore, dispute: Stripe.Dispute): Stripe.Charge =>
  existing(store, 'charge', referencedId(dispute.charge) ?? '', 'charge');

export const existing = <T extends ObjectType>(
  store: EmulatorStore,
  type: T,
  id: string,
  param: string,
): StoredObjects[T] => {
  const record = store.get(type, id);
  if (!record) throw resourceMissing(type, id, param);
  return record;
};

const declineMessages: Record<string, string> = {
  generic_decline: 'Your card was declined.',
  insufficient_funds: 'Your card has insufficient funds.',
};

// ---------------------------------------------------------------------------------------------
// Payment intents and charges

export interface PaymentIntentInput {
  amount: number;
  currency: string;
  customer: string | null;
  description: string | null;
  metadata: Record<string, string>;
  paymentMethod: string | null;
}

export const createPaymentIntent = (act: Act, input: PaymentIntentInput): Stripe.PaymentIntent => {
  const id = act.store.id('pi');
  return act.store.create(
    'payment_intent',
    {
      id,
      object: 'payment_intent',
      allowed_payment_method_types: null,
      amount: input.amount,
      amount_capturable: 0,
      amount_details: { tip: {} },
      amount_received: 0,
      application: null,
      application_fee_amount: null,
      automatic_payment_methods: null,
      canceled_at: null,
      cancellation_reason: null,
      capture_method: 'automatic',
      client_secret: `${id}_secret_${act.store.id('').slice(1)}`,
      confirmation_method: 'automatic',
      created: timeOf(act),
      currency: input.currency,
      customer: input.customer,
      customer_account: null,
      description: input.description,
      excluded_payment_method_types: null,
      last_payment_error: null,
      managed_payments: null,
      latest_charge: null,
      livemode: false,
      metadata: input.metadata,
      next_action: null,
      on_behalf_of: null,
      payment_method: input.paymentMethod,
      payment_method_configuration_details: null,
      payment_method_options: {
        card: {
          installments: null,
          mandate_options: null,
          network: null,
          request_three_d_secure: 'automatic',
        },
      },
      payment_method_types: ['card'],
      payment_record: null,
      processing: null,
      receipt_email: null,
      review: null,
      setup_future_usage: null,
      shipping: null,
      source: null,
      statement_descriptor: null,
      statement_descriptor_suffix: null,
      status: input.paymentMethod ? 'requires_confirmation' : 'requires_payment_method',
      transfer_data: null,
      transfer_group: null,
    },
    'payment_intent.created',
    act.context,
  );
};

/**
 * A charge's balance transaction comes a while after it succeeded, outside the request. On a test
 * clock it comes seconds later in the clock's time, when an advance passes it (see test-clocks.ts).
 */
export const settleLater = (act: Act, charge: Stripe.Charge) => {
  const { store } = act;
  const customer = store.get('customer', referencedId(charge.customer) ?? '');
  if (customer?.test_clock) return;
  store.schedule(store.settlementDelayMs, () =>
    settleCharge(onClockOf({ store, context: { requestId: null, idempotencyKey: null } }, charge), charge.id),
  );
};

const createCharge = (
  act: Act,
  intent: Stripe.PaymentIntent,
  paymentMethod: Stripe.PaymentMethod,
  card: CardOutcome,
) => {
  const id = act.store.id('ch');
  const succeeds = card.succeeds;
  const amount = intent.amount;
  const charge = act.store.create(
    'charge',
    {
      id,
      object: 'charge',
      amount,
      amount_captured: succeeds ? amount : 0,
      amount_refunded: 0,
      application: null,
      application_fee: null,
      application_fee_amount: null,
      // Since API 2024-04-10 the balance transaction comes later (`charge.updated`).
      balance_transaction: null,
      billing_details: noBillingDetails(),
      calculated_statement_descriptor: 'PAYFOLD EMULATOR',
      captured: succeeds,
      created: timeOf(act),
      currency: intent.currency,
      customer: intent.customer,
      description: intent.description ?? null,
      disputed: false,
      failure_balance_transaction: null,
      failure_code: succeeds ? null : 'card_declined',
      failure_message: succeeds ? null : (declineMessages[card.declineCode ?? 'generic_decline'] ?? null),
      fraud_details: {},
      livemode: false,
      metadata: intent.metadata,
      on_behalf_of: null,
      outcome: {
        advice_code: null,
        network_advice_code: null,
        network_decline_code: null,
        network_status: succeeds ? 'approved_by_network' : 'declined_by_network',
        reason: card.declineCode,
        risk_level: 'normal',
        risk_score: 20,
        seller_message: succeeds
          ? 'Payment complete.'
          : 'The bank did not return any further details with this decline.',
        type: succeeds ? 'authorized' : 'issuer_declined',
      },
      paid: succeeds,
      payment_intent: intent.id,
      payment_method: paymentMethod.id,
      payment_method_details: {
        card: {
          amount_authorized: succeeds ? amount : null,
          authorization_code: succeeds ? '123456' : null,
          brand: card.brand,
          checks: { address_line1_check: null, address_postal_code_check: null, cvc_check: 'pass' },
          country: 'US',
          electronic_commerce_indicator: null,
          exp_month: 12,
          exp_year: 2034,
          fingerprint: `emulator${card.last4}`,
          funding: 'credit',
          installments: null,
          last4: card.last4,
          mandate: null,
          network: card.brand,
          network_transaction_id: succeeds ? act.store.id('').slice(1, 16) : null,
          regulated_status: 'unregulated',
          three_d_secure: null,
          transaction_link_id: null,
          wallet: null,
        },
        type: 'card',
      },
      receipt_email: null,
      receipt_number: null,
      receipt_url: `https://pay.stripe.com/receipts/payment/${id}`,
      refunded: false,
      review: null,
      shipping: null,
      source: null,
      source_transfer: null,
      statement_descriptor: null,
      statement_descriptor_suffix: null,
      status: succeeds ? 'succeeded' : 'failed',
      transfer_data: null,
      transfer_group: null,
    },
    succeeds ? 'charge.succeeded' : 'charge.failed',
    act.context,
  );
  if (succeeds) settleLater(act, charge);
  return charge;
};

/**
 * Confirms a payment intent with a card: a charge (`charge.succeeded` or `charge.failed`), then the
 * intent (`payment_intent.succeeded`, or back to `requires_payment_method` with its
 * `last_payment_error` and `payment_intent.payment_failed`). Disputing cards open their dispute.
 */
export const confirmPaymentIntent = (
  act: Act,
  intent: Stripe.PaymentIntent,
  paymentMethod: string | null,
): { succeeded: boolean; charge: Stripe.Charge | null } => {
  refuseDoneIntent('PaymentIntent', intent.status, 'confirm');
  const method = methodToConfirm('PaymentIntent', paymentMethod, intent.payment_method as string | null);
  const card = paymentMethodOf(act, method, 'payment_method');
  const outcome = cardOutcome(testCardOf(act.store, card.id));
  const charge = createCharge(act, intent, card, outcome);
  if (outcome.succeeds) {
    act.store.update(
      'payment_intent',
      intent.id,
      {
        status: 'succeeded',
        amount_received: intent.amount,
        latest_charge: charge.id,
        payment_method: card.id,
        last_payment_error: null,
      },
      'payment_intent.succeeded',
      act.context,
    );
    if (outcome.disputes) openDispute(act, charge, 'fraudulent');
    return { succeeded: true, charge };
  }
  act.store.update(
    'payment_intent',
    intent.id,
    {
      status: 'requires_payment_method',
      latest_charge: charge.id,
      payment_method: null,
      last_payment_error: {
        charge: charge.id,
        code: 'card_declined',
        decline_code: outcome.declineCode ?? 'generic_decline',
        doc_url: 'https://stripe.com/docs/error-codes/card-declined',
        message: charge.failure_message ?? 'Your card was declined.',
        payment_method: structuredClone(card),
        type: 'card_error',
      },
    },
    'payment_intent.payment_failed',
    act.context,
  );
  return { succeeded: false, charge };
};

export const cancelPaymentIntent = (
  act: Act,
  intent: Stripe.PaymentIntent,
  reason: Stripe.PaymentIntent.CancellationReason | null,
): Stripe.PaymentIntent => {
  refuseDoneIntent('PaymentIntent', intent.status, 'cancel');
  return act.store.update(
    'payment_intent',
    intent.id,
    { status: 'canceled', canceled_at: timeOf(act), cancellation_reason: reason ?? 'requested_by_customer' },
    'payment_intent.canceled',
    act.context,
  );
};

// ---------------------------------------------------------------------------------------------
// Refunds and disputes

/** A refund of all or part of what is left on a charge: `refund.created`, then `charge.refunded`. */
export const refundCharge = (
  act: Act,
  charge: Stripe.Charge,
  input: { amount: number | null; reason: Stripe.Refund.Reason | null; metadata: Record<string, string> },
): Stripe.Refund => {
  if (charge.status !== 'succeeded') {
    throw new StripeApiError(
      400,
      'invalid_request_error',
      `Charge ${charge.id} has not succeeded, so it cannot be refunded.`,
      'charge_not_refundable',
    );
  }
  if (charge.disputed) {
    throw new StripeApiError(
      400,
      'invalid_request_error',
      `Charge ${charge.id} has been charged back; cannot issue a refund.`,
      'charge_disputed',
    );
  }
  const left = charge.amount - charge.amount_refunded;
  if (left === 0) {
    throw new StripeApiError(
      400,
      'invalid_request_error',
      `Charge ${charge.id} has already been refunded.`,
      'charge_already_refunded',
    );
  }
  const amount = input.amount ?? left;
  if (amount <= 0 || amount > left) {
    throw new StripeApiError(
      400,
      'invalid_request_error',
      `Refund amount (${amount}) is greater than unrefunded amount on charge (${left})`,
      'amount_too_large',
      'amount',
    );
  }
  const refundId = act.store.id('re');
  const refund = act.store.create(
    'refund',
    {
      id: refundId,
      object: 'refund',
      amount,
      balance_transaction: refundTransaction(act, refundId, amount, charge.currency).id,
      charge: charge.id,
      created: timeOf(act),
      currency: charge.currency,
      customer: charge.customer,
      customer_account: null,
      destination_details: {
        card: {
          reference_status: 'pending',
          reference_type: 'acquirer_reference_number',
          type: 'refund',
        },
        type: 'card',
      },
      metadata: input.metadata,
      payment_intent: charge.payment_intent,
      payment_method: charge.payment_method,
      reason: input.reason,
      receipt_number: null,
      source_transfer_reversal: null,
      status: 'succeeded',
      transfer_reversal: null,
    },
    'refund.created',
    act.context,
  );
  const refunded = charge.amount_refunded + amount;
  act.store.update(
    'charge',
    charge.id,
    { amount_refunded: refunded, refunded: refunded === charge.amount },
    'charge.refunded',
    act.context,
  );
  return refund;
};

const evidenceFields = [
  'access_activity_log',
  'billing_address',
  'cancellation_policy',
  'cancellation_policy_disclosure',
  'cancellation_rebuttal',
  'customer_communication',
  'customer_email_address',
  'customer_name',
  'customer_purchase_ip',
  'customer_signature',
  'duplicate_charge_documentation',
  'duplicate_charge_explanation',
  'duplicate_charge_id',
  'product_description',
  'receipt',
  'refund_policy',
  'refund_policy_disclosure',
  'refund_refusal_explanation',
  'service_date',
  'service_documentation',
  'shipping_address',
  'shipping_carrier',
  'shipping_date',
  'shipping_documentation',
  'shipping_tracking_number',
  'uncategorized_file',
  'uncategorized_text',
] as const;

/**
 * The cardholder disputes a charge: `charge.dispute.created` (status `needs_response`), then
 * `charge.dispute.funds_withdrawn` as the amount leaves the balance.
 */
export const openDispute = (act: Act, charge: Stripe.Charge, reason: string): Stripe.Dispute => {
  if (charge.status !== 'succeeded' || charge.disputed) {
    throw new StripeApiError(
      400,
      'invalid_request_error',
      `Charge ${charge.id} cannot be disputed: it has not succeeded or is disputed already.`,
      'charge_not_disputable',
    );
  }
  const now = timeOf(act);
  act.store.update('charge', charge.id, { disputed: true }, null, act.context);
  const brand = charge.payment_method_details?.card?.brand ?? 'visa';
  const id = act.store.id('dp');
  const amount = charge.amount - charge.amount_refunded;
  // The funds leave the balance as the dispute opens: both of its events carry the withdrawal.
  const withdrawal = disputeTransaction(
    act,
    { id, amount, currency: charge.currency, charge: charge.id },
    'withdrawn',
  );
  const dispute = act.store.create(
    'dispute',
    {
      id,
      object: 'dispute',
      amount,
      balance_transactions: [withdrawal],
      charge: charge.id,
      created: now,
      currency: charge.currency,
      enhanced_eligibility_types: [],
      intended_submission_method: null,
      evidence: {
        ...Object.fromEntries(evidenceFields.map((field) => [field, null])),
        enhanced_evidence: {},
      } as unknown as Stripe.Dispute.Evidence,
      evidence_details: {
        due_by: now + 21 * day,
        enhanced_eligibility: {},
        has_evidence: false,
        past_due: false,
        submission_count: 0,
        submission_method: 'not_submitted',
      },
      is_charge_refundable: false,
      livemode: false,
      metadata: {},
      payment_intent: charge.payment_intent,
      payment_method_details: {
        card: { brand, case_type: 'chargeback', network: brand, network_reason_code: '10.4' },
        type: 'card',
      },
      reason,
      status: 'needs_response',
    },
    'charge.dispute.created',
    act.context,
  );
  act.store.emit('charge.dispute.funds_withdrawn', dispute, undefined, act.context);
  return dispute;
};

const assertDisputeOpen = (dispute: Stripe.Dispute) => {
  if (dispute.status === 'won' || dispute.status === 'lost') {
    throw new StripeApiError(
      400,
      'invalid_request_error',
      `This dispute is already closed (${dispute.status}).`,
      'dispute_already_closed',
    );
  }
};

/**
 * The merchant answers a dispute: evidence is staged, or submitted (`submit`, Stripe's default)
 * putting the dispute `under_review` (`charge.dispute.updated`). As in Stripe's test mode,
 * `uncategorized_text` of `winning_evidence` or `losing_evidence` then closes it won or lost.
 */
export const updateDispute = (act: Act, dispute: Stripe.Dispute, params: Params): Stripe.Dispute => {
  assertDisputeOpen(dispute);
  const given = (params.evidence as Params | undefined) ?? {};
  const unknown = Object.keys(given).find((field) => !(evidenceFields as readonly string[]).includes(field));
  if (unknown) throw invalid(`evidence[${unknown}]`, `Received unknown parameter: evidence[${unknown}]`);
  // Evidence arrives as form text; the emulator keeps it as given.
  const evidence = { ...dispute.evidence, ...given } as Stripe.Dispute.Evidence;
  const submit = params.submit === undefined ? true : params.submit === 'true';
  const details = dispute.evidence_details;
  const changes: Partial<Stripe.Dispute> = {
    evidence,
    evidence_details: {
      ...details,
      has_evidence: Object.values(evidence).some((value) => value != null && value !== ''),
      submission_count: details.submission_count + (submit ? 1 : 0),
    },
    ...(params.metadata !== undefined
      ? { metadata: { ...dispute.metadata, ...(params.metadata as Record<string, string>) } }
      : {}),
    ...(submit ? { status: 'under_review' as const } : {}),
  };
  const updated = act.store.update('dispute', dispute.id, changes, 'charge.dispute.updated', act.context);
  if (submit && evidence.uncategorized_text === 'winning_evidence') return closeDispute(act, updated, 'won');
  if (submit && evidence.uncategorized_text === 'losing_evidence') return closeDispute(act, updated, 'lost');
  return updated;
};

/**
 * A dispute ends: `charge.dispute.closed` (won or lost); a won dispute gives the funds back
 * (`charge.dispute.funds_reinstated`).
 */
export const closeDispute = (act: Act, dispute: Stripe.Dispute, outcome: 'won' | 'lost'): Stripe.Dispute => {
  assertDisputeOpen(dispute);
  // A won dispute's funds come back as it closes: both of its events carry the reinstatement.
  const balanceTransactions =
    outcome === 'won'
      ? [...dispute.balance_transactions, disputeTransaction(act, dispute, 'reinstated')]
      : dispute.balance_transactions;
  const closed = act.store.update(
    'dispute',
    dispute.id,
    { status: outcome, balance_transactions: balanceTransactions },
    'charge.dispute.closed',
    act.context,
  );
  if (outcome === 'won') act.store.emit('charge.dispute.funds_reinstated', closed, undefined, act.context);
  return closed;
};
