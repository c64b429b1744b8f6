import fc from 'fast-check';
import { type NewLogEntry, stripeSyncPageLogEntry } from '../../src/domain/event-log.js';
import { type CheckoutRequest, checkoutRequestLogEntry } from '../../src/domain/session-requests.js';
import { nameBasedUuid } from '../../src/domain/subject.js';

/**
 * Generated Stripe histories for the convergence properties: stories of customers buying through
 * Checkout, paying invoices, getting refunds and disputes, cancelling, in pre-basil or basil
 * shapes, with many events sharing a second so that ties and `previous_attributes` chains are
 * common. Each object moves forward only, so its last emitted state is the truth a projection must
 * converge to.
 */

export interface GeneratedEvent {
  id: string;
  object: 'event';
  type: string;
  api_version: string;
  created: number;
  livemode: false;
  data: {
    /** Without an id for the one object Stripe sends without (a customer's entitlement summary). */
    object: Record<string, unknown> & { object: string };
    previous_attributes?: Record<string, unknown>;
  };
}

export interface StoryPlan {
  mode: 'subscription' | 'payment';
  basil: boolean;
  subject: { type: 'team' | 'user'; id: string } | null;
  subjectOnCustomer: boolean;
  paymentFails: boolean;
  refund: 'none' | 'partial' | 'full';
  dispute: boolean;
  cancel: 'none' | 'period_end' | 'now';
  renameCustomer: boolean;
  deleteCustomer: boolean;
  quantityChange: boolean;
  /**
   * The Checkout Session was asked for through Payfold's session API (stories with a subject):
   * its request, Stripe's answer (and before it a refusal, retried) are in the log beside the events.
   */
  throughPayfold: 'no' | 'created' | 'failed_then_created';
  /** The card saved to the customer: its default for invoices, then maybe its subscription's; detached later or not. */
  paymentMethod: 'none' | 'saved' | 'saved_then_detached';
  /** A card set up without a payment, which succeeds or fails. */
  setupIntent: 'none' | 'succeeded' | 'failed';
  /** An active subscription's features: the plan's one, a second added, and that one taken back. */
  features: 'one' | 'upgraded' | 'upgraded_then_downgraded';
  /** A VAT number of the customer's, verified later; deleted or not. */
  taxId: 'none' | 'added' | 'added_then_deleted';
  /** A card network warns of fraud on the charge; a refund or dispute makes it not actionable. */
  earlyFraudWarning: boolean;
  /** Part of a paid invoice credited out of band; the note voided later or not. */
  creditNote: 'none' | 'issued' | 'issued_then_voided';
  /** A coupon applied to the subscription; taken off later or not. */
  discount: 'none' | 'applied' | 'applied_then_removed';
  /** A schedule over the subscription: in its first phase, moved to its second, or released. */
  schedule: 'none' | 'first_phase' | 'second_phase' | 'released';
}

export interface HistoryPlan {
  stories: StoryPlan[];
  archivePrice: boolean;
  /** A session request Stripe refused and nobody retried: its row stays `failed`. */
  abandonedRequest: boolean;
  renameProduct: boolean;
  deleteProduct: boolean;
  /** The catalog's features, read by a sync (Stripe sends no event about them); one archived later. */
  archiveFeature: boolean;
  /** A coupon with a promotion code: the code deactivated, the coupon deleted, or neither. */
  coupon: 'none' | 'kept' | 'code_deactivated' | 'deleted';
  /** 0: the next event shares the second, 1: the next second, etc. */
  steps: number[];
}

const summaryType = 'entitlements.active_entitlement_summary';

/** Stripe sends a customer's entitlement summary without an id; the truth names it by its customer. */
const withoutIdOfSummary = (object: StripeObjectState): Record<string, unknown> & { object: string } => {
  if (object.object !== summaryType) return object;
  const { id: _customer, ...sent } = object;
  return sent;
};

/** True with the given probability. */
const chance = (probability: number) => fc.integer({ min: 0, max: 99 }).map((n) => n < probability * 100);

const storyArbitrary: fc.Arbitrary<StoryPlan> = fc.record({
  mode: fc.constantFrom('subscription' as const, 'payment' as const),
  basil: fc.boolean(),
  subject: fc.option(
    fc.record({
      type: fc.constantFrom('team' as const, 'user' as const),
      id: fc.constantFrom('1', '2', '3'),
    }),
    { freq: 4 },
  ),
  subjectOnCustomer: fc.boolean(),
  paymentFails: chance(0.2),
  refund: fc.constantFrom('none' as const, 'partial' as const, 'full' as const),
  dispute: fc.boolean(),
  cancel: fc.constantFrom('none' as const, 'period_end' as const, 'now' as const),
  renameCustomer: fc.boolean(),
  deleteCustomer: chance(0.15),
  quantityChange: fc.boolean(),
  throughPayfold: fc.constantFrom('no' as const, 'created' as const, 'failed_then_created' as const),
  paymentMethod: fc.constantFrom('none' as const, 'saved' as const, 'saved_then_detached' as const),
  setupIntent: fc.constantFrom('none' as const, 'succeeded' as const, 'failed' as const),
  // A feature taken back is the case that needs the whole list read: half the stories have it.
  features: fc.constantFrom(
    'one' as const,
    'upgraded' as const,
    'upgraded_then_downgraded' as const,
    'upgraded_then_downgraded' as const,
  ),
  taxId: fc.constantFrom('none' as const, 'added' as const, 'added_then_deleted' as const),
  earlyFraudWarning: fc.boolean(),
  creditNote: fc.constantFrom('none' as const, 'issued' as const, 'issued_then_voided' as const),
  discount: fc.constantFrom('none' as const, 'applied' as const, 'applied_then_removed' as const),
  schedule: fc.constantFrom(
    'none' as const,
    'first_phase' as const,
    'second_phase' as const,
    'released' as const,
  ),
});

export const historyPlanArbitrary: fc.Arbitrary<HistoryPlan> = fc.record({
  stories: fc.array(storyArbitrary, { minLength: 1, maxLength: 3 }),
  archivePrice: fc.boolean(),
  abandonedRequest: chance(0.3),
  renameProduct: fc.boolean(),
  deleteProduct: chance(0.2),
  archiveFeature: fc.boolean(),
  coupon: fc.constantFrom('none' as const, 'kept' as const, 'code_deactivated' as const, 'deleted' as const),
  steps: fc.array(fc.constantFrom(0, 0, 0, 1, 1, 2), { minLength: 120, maxLength: 120 }),
});

type StripeObjectState = Record<string, unknown> & { id: string; object: string };

/** Builds the events of a plan; `truth` holds each object's last emitted state. */
export const buildHistory = (plan: HistoryPlan, runId: string) => {
  const events: GeneratedEvent[] = [];
  /** Entries of the session API, in the order Payfold would append them. */
  const sessionEntries: NewLogEntry[] = [];
  /** API reads (sync pages) of objects Stripe sends no event about. */
  const reads: NewLogEntry[] = [];
  const truth = new Map<string, StripeObjectState>();
  const deleted = new Set<string>();
  let second = 1_750_000_000;
  let step = 0;
  let eventCounter = 0;

  const tick = () => {
    second += plan.steps[step % plan.steps.length] ?? 0;
    step += 1;
    return second;
  };
  const emit = (
    type: string,
    object: StripeObjectState,
    basil: boolean,
    previous?: Record<string, unknown>,
  ): void => {
    eventCounter += 1;
    events.push({
      id: `evt_${runId}_${String(eventCounter).padStart(4, '0')}`,
      object: 'event',
      type,
      api_version: basil ? '2025-03-31.basil' : '2020-08-27',
      created: tick(),
      livemode: false,
      data: {
        object: withoutIdOfSummary(structuredClone(object)),
        ...(previous ? { previous_attributes: structuredClone(previous) } : {}),
      },
    });
    const key = `${object.object === 'plan' ? 'price' : object.object}:${object.id}`;
    if (
      type.endsWith('.deleted') &&
      ['customer', 'product', 'price', 'tax_id', 'coupon', 'discount'].includes(object.object)
    )
      deleted.add(key);
    else truth.set(key, structuredClone(object));
  };
  /** Applies changes to an object and emits the update with Stripe's `previous_attributes`. */
  const update = (
    type: string,
    object: StripeObjectState,
    changes: Record<string, unknown>,
    basil: boolean,
  ) => {
    const previous: Record<string, unknown> = {};
    for (const [field, value] of Object.entries(changes)) {
      previous[field] = object[field] === undefined ? null : structuredClone(object[field]);
      object[field] = value;
    }
    emit(type, object, basil, previous);
  };

  const product: StripeObjectState = {
    id: `prod_${runId}`,
    object: 'product',
    name: 'Pro',
    description: null,
    active: true,
    default_price: null,
    metadata: {},
    updated: second,
  };
  emit('product.created', product, false);
  const price: StripeObjectState = {
    id: `price_${runId}`,
    object: 'price',
    product: product.id,
    active: true,
    currency: 'usd',
    unit_amount: 2500,
    type: 'recurring',
    recurring: { interval: 'month', interval_count: 1 },
    lookup_key: 'pro_monthly',
    nickname: null,
    metadata: {},
  };
  emit('price.created', price, false);
  if (plan.renameProduct)
    update('product.updated', product, { name: 'Pro Plus', updated: second + 1 }, false);

  const checkoutRequest = (
    id: string,
    subject: { type: string; id: string },
    mode: string,
  ): CheckoutRequest => ({
    id,
    requestedAt: second,
    requester: { role: 'authenticated', userId: `user_${subject.id}` },
    mode: mode as CheckoutRequest['mode'],
    subject,
    lineItems: [{ price: price.id, quantity: 1 }],
    successUrl: 'https://app.example/success',
    cancelUrl: 'https://app.example/cancel',
    customerEmail: null,
    customerId: null,
    metadata: {
      payfold_subject_type: subject.type,
      payfold_subject_id: subject.id,
      payfold_request_id: id,
    },
    idempotencyKey: `key-${id}`,
    fingerprint: `fingerprint-${id}`,
  });
  const failure = (request: CheckoutRequest) => ({
    failedAt: request.requestedAt * 1000 + 400,
    message: 'Stripe answered 500: try again',
    stripeStatus: 500,
  });
  if (plan.abandonedRequest) {
    const request = checkoutRequest(
      nameBasedUuid(`abandoned:${runId}`),
      { type: 'team', id: '9' },
      'payment',
    );
    sessionEntries.push(
      checkoutRequestLogEntry('test', request, { status: 'initialized' }),
      checkoutRequestLogEntry('test', request, { status: 'failed', failure: failure(request) }),
    );
  }

  plan.stories.forEach((story, index) => {
    const tag = `${runId}_${index}`;
    const basil = story.basil;
    const subjectMetadata: Record<string, string> = story.subject
      ? { payfold_subject_type: story.subject.type, payfold_subject_id: story.subject.id }
      : {};
    const request =
      story.subject && story.throughPayfold !== 'no'
        ? checkoutRequest(nameBasedUuid(`request:${tag}`), story.subject, story.mode)
        : null;
    if (request) Object.assign(subjectMetadata, { payfold_request_id: request.id });
    const customer: StripeObjectState = {
      id: `cus_${tag}`,
      object: 'customer',
      email: `buyer${index}@example.com`,
      name: null,
      invoice_settings: { default_payment_method: null },
      metadata: story.subjectOnCustomer ? { ...subjectMetadata } : {},
    };
    emit('customer.created', customer, basil);
    /** The customer's active entitlements: the product's features while the subscription grants them. */
    const entitlementsOf = (lookupKeys: string[]) => ({
      object: 'list',
      data: lookupKeys.map((lookupKey) => ({
        id: `ent_${tag}_${lookupKey}`,
        object: 'entitlements.active_entitlement',
        feature: `feat_${runId}_${lookupKey}`,
        livemode: false,
        lookup_key: lookupKey,
      })),
      has_more: false,
      url: '/v1/entitlements/active_entitlements',
    });
    const summary: StripeObjectState = {
      id: customer.id,
      object: summaryType,
      customer: customer.id,
      entitlements: entitlementsOf([]),
      livemode: false,
    };
    const entitle = (lookupKeys: string[]) =>
      update(`${summaryType}.updated`, summary, { entitlements: entitlementsOf(lookupKeys) }, basil);
    const card: StripeObjectState = {
      id: `pm_${tag}`,
      object: 'payment_method',
      type: 'card',
      customer: customer.id,
      card: { brand: 'visa', last4: '4242', exp_month: 12, exp_year: 2030, wallet: null },
      billing_details: { address: { country: 'US' } },
      metadata: {},
    };
    if (story.paymentMethod !== 'none') {
      emit('payment_method.attached', card, basil);
      update('customer.updated', customer, { invoice_settings: { default_payment_method: card.id } }, basil);
    }
    const taxId: StripeObjectState = {
      id: `txi_${tag}`,
      object: 'tax_id',
      customer: customer.id,
      type: 'eu_vat',
      value: `DE${String(index).padStart(9, '1')}`,
      country: 'DE',
      verification: { status: 'pending', verified_address: null, verified_name: null },
    };
    if (story.taxId !== 'none') {
      emit('customer.tax_id.created', taxId, basil);
      update(
        'customer.tax_id.updated',
        taxId,
        { verification: { status: 'verified', verified_address: null, verified_name: 'Buyer' } },
        basil,
      );
    }
    if (story.setupIntent !== 'none') {
      const setup: StripeObjectState = {
        id: `seti_${tag}`,
        object: 'setup_intent',
        customer: customer.id,
        status: 'requires_payment_method',
        usage: 'off_session',
        payment_method: null,
        last_setup_error: null,
        metadata: {},
      };
      emit('setup_intent.created', setup, basil);
      if (story.setupIntent === 'succeeded')
        update('setup_intent.succeeded', setup, { status: 'succeeded', payment_method: card.id }, basil);
      else
        update(
          'setup_intent.setup_failed',
          setup,
          { last_setup_error: { code: 'card_declined', message: 'Your card was declined.' } },
          basil,
        );
    }
    const amount = 2500;

    const intent: StripeObjectState = {
      id: `pi_${tag}`,
      object: 'payment_intent',
      amount,
      amount_received: 0,
      currency: 'usd',
      customer: customer.id,
      status: 'requires_payment_method',
      latest_charge: null,
      last_payment_error: null,
      metadata: story.mode === 'payment' ? { ...subjectMetadata } : {},
      ...(basil ? {} : { invoice: story.mode === 'subscription' ? `in_${tag}` : null }),
    };
    const charge: StripeObjectState = {
      id: `ch_${tag}`,
      object: 'charge',
      amount,
      amount_captured: 0,
      amount_refunded: 0,
      refunded: false,
      currency: 'usd',
      customer: customer.id,
      payment_intent: intent.id,
      status: 'pending',
      created: second,
      metadata: {},
      ...(basil ? {} : { invoice: story.mode === 'subscription' ? `in_${tag}` : null }),
    };

    let subscription: StripeObjectState | undefined;
    let invoice: StripeObjectState | undefined;
    if (story.mode === 'subscription') {
      const item = {
        id: `si_${tag}`,
        object: 'subscription_item',
        price: { id: price.id, object: 'price', product: product.id },
        quantity: 1,
        ...(basil ? { current_period_start: second, current_period_end: second + 2_592_000 } : {}),
      };
      subscription = {
        id: `sub_${tag}`,
        object: 'subscription',
        customer: customer.id,
        status: 'incomplete',
        cancel_at_period_end: false,
        cancel_at: null,
        canceled_at: null,
        ended_at: null,
        trial_start: null,
        trial_end: null,
        latest_invoice: `in_${tag}`,
        default_payment_method: null,
        discounts: [],
        metadata: { ...subjectMetadata },
        items: { object: 'list', data: [item], has_more: false },
        ...(basil ? {} : { current_period_start: second, current_period_end: second + 2_592_000 }),
      };
      emit('customer.subscription.created', subscription, basil);
      invoice = {
        id: `in_${tag}`,
        object: 'invoice',
        customer: customer.id,
        status: 'draft',
        amount_due: amount,
        amount_paid: 0,
        currency: 'usd',
        hosted_invoice_url: null,
        post_payment_credit_notes_amount: 0,
        pre_payment_credit_notes_amount: 0,
        status_transitions: { paid_at: null },
        metadata: {},
        ...(basil
          ? {
              parent: {
                type: 'subscription_details',
                subscription_details: { subscription: subscription.id },
              },
            }
          : { subscription: subscription.id, payment_intent: intent.id, charge: null }),
      };
      emit('invoice.created', invoice, basil);
      update(
        'invoice.finalized',
        invoice,
        { status: 'open', hosted_invoice_url: `https://invoice.example/${tag}` },
        basil,
      );
    }

    emit('payment_intent.created', intent, basil);
    if (story.paymentFails) {
      update('charge.failed', charge, { status: 'failed' }, basil);
      update(
        'payment_intent.payment_failed',
        intent,
        { last_payment_error: { code: 'card_declined' }, latest_charge: charge.id },
        basil,
      );
      if (subscription)
        update('customer.subscription.updated', subscription, { status: 'incomplete_expired' }, basil);
      return;
    }
    update('charge.succeeded', charge, { status: 'succeeded', amount_captured: amount }, basil);
    update(
      'payment_intent.succeeded',
      intent,
      { status: 'succeeded', amount_received: amount, latest_charge: charge.id },
      basil,
    );
    if (invoice && subscription) {
      update(
        'invoice.paid',
        invoice,
        {
          status: 'paid',
          amount_paid: amount,
          status_transitions: { paid_at: second },
          ...(basil ? {} : { charge: charge.id }),
        },
        basil,
      );
      if (basil) {
        emit(
          'invoice_payment.paid',
          {
            id: `inpay_${tag}`,
            object: 'invoice_payment',
            invoice: invoice.id,
            amount_paid: amount,
            amount_requested: amount,
            currency: 'usd',
            status: 'paid',
            payment: { type: 'payment_intent', payment_intent: intent.id },
            status_transitions: { paid_at: second },
          },
          basil,
        );
      }
      update('customer.subscription.updated', subscription, { status: 'active' }, basil);
      entitle(['team_workspace']);
    }
    const session: StripeObjectState = {
      id: `cs_test_${tag}`,
      object: 'checkout.session',
      mode: story.mode,
      status: 'complete',
      payment_status: 'paid',
      customer: customer.id,
      customer_email: customer.email,
      payment_intent: story.mode === 'payment' ? intent.id : null,
      subscription: subscription?.id ?? null,
      success_url: 'https://app.example/success',
      cancel_url: 'https://app.example/cancel',
      url: null,
      // The subscription's coupon, applied at Checkout.
      discounts:
        subscription && story.discount !== 'none' ? [{ coupon: `welcome_${tag}`, promotion_code: null }] : [],
      total_details: { amount_discount: subscription && story.discount !== 'none' ? 500 : 0 },
      metadata: { ...subjectMetadata },
      ...(request && { client_reference_id: request.id }),
    };
    if (request) {
      sessionEntries.push(checkoutRequestLogEntry('test', request, { status: 'initialized' }));
      if (story.throughPayfold === 'failed_then_created')
        sessionEntries.push(
          checkoutRequestLogEntry('test', request, { status: 'failed', failure: failure(request) }),
        );
      // Stripe's answer to the request: the session as it was made, open and unpaid.
      sessionEntries.push(
        checkoutRequestLogEntry('test', request, {
          status: 'created',
          observedAt: request.requestedAt,
          session: {
            ...structuredClone(session),
            status: 'open',
            payment_status: 'unpaid',
            customer: null,
            payment_intent: null,
            subscription: null,
            url: `https://checkout.stripe.com/c/pay/${session.id}`,
          },
        }),
      );
    }
    emit('checkout.session.completed', session, basil);

    if (story.renameCustomer) update('customer.updated', customer, { name: `Buyer ${index}` }, basil);
    if (subscription && story.paymentMethod !== 'none')
      update('customer.subscription.updated', subscription, { default_payment_method: card.id }, basil);
    if (story.paymentMethod === 'saved_then_detached')
      update('payment_method.detached', card, { customer: null }, basil);
    if (subscription && story.quantityChange) {
      const items = structuredClone(subscription.items) as { data: Array<Record<string, unknown>> };
      (items.data[0] as Record<string, unknown>).quantity = 3;
      update('customer.subscription.updated', subscription, { items }, basil);
    }
    if (subscription?.status === 'active' && story.features !== 'one')
      entitle(['priority_support', 'team_workspace']);
    if (subscription && story.discount !== 'none') {
      const discount: StripeObjectState = {
        id: `di_${tag}`,
        object: 'discount',
        customer: customer.id,
        subscription: subscription.id,
        invoice: null,
        checkout_session: null,
        promotion_code: null,
        source: { coupon: `welcome_${tag}`, type: 'coupon' },
        start: second,
        end: null,
      };
      emit('customer.discount.created', discount, basil);
      update('customer.subscription.updated', subscription, { discounts: [discount.id] }, basil);
      if (story.discount === 'applied_then_removed') {
        emit('customer.discount.deleted', discount, basil);
        update('customer.subscription.updated', subscription, { discounts: [] }, basil);
      }
    }
    if (subscription && story.schedule !== 'none') {
      const month = 2_592_000;
      const phase = (start: number, quantity: number) => ({
        start_date: start,
        end_date: start + month,
        items: [{ price: price.id, quantity }],
      });
      const first = phase(second, 1);
      const schedule: StripeObjectState = {
        id: `sub_sched_${tag}`,
        object: 'subscription_schedule',
        customer: customer.id,
        subscription: subscription.id,
        released_subscription: null,
        status: 'active',
        end_behavior: 'release',
        current_phase: { start_date: first.start_date, end_date: first.end_date },
        phases: [first, phase(first.end_date, 2)],
        metadata: {},
      };
      emit('subscription_schedule.created', schedule, basil);
      if (story.schedule !== 'first_phase') {
        const next = (schedule.phases as Array<{ start_date: number; end_date: number }>)[1] as {
          start_date: number;
          end_date: number;
        };
        update(
          'subscription_schedule.updated',
          schedule,
          { current_phase: { start_date: next.start_date, end_date: next.end_date } },
          basil,
        );
      }
      if (story.schedule === 'released') {
        update(
          'subscription_schedule.released',
          schedule,
          {
            status: 'released',
            released_subscription: subscription.id,
            subscription: null,
            current_phase: null,
          },
          basil,
        );
      }
    }
    if (invoice?.status === 'paid' && story.creditNote !== 'none') {
      const note: StripeObjectState = {
        id: `cn_${tag}`,
        object: 'credit_note',
        invoice: invoice.id,
        customer: customer.id,
        amount: 500,
        currency: 'usd',
        status: 'issued',
        type: 'post_payment',
        reason: 'product_unsatisfactory',
        out_of_band_amount: 500,
        memo: null,
        voided_at: null,
        refunds: [],
        metadata: {},
      };
      emit('credit_note.created', note, basil);
      update('invoice.updated', invoice, { post_payment_credit_notes_amount: 500 }, basil);
      if (story.creditNote === 'issued_then_voided') {
        update('credit_note.voided', note, { status: 'void', voided_at: second }, basil);
        update('invoice.updated', invoice, { post_payment_credit_notes_amount: 0 }, basil);
      }
    }
    const warning: StripeObjectState = {
      id: `issfr_${tag}`,
      object: 'radar.early_fraud_warning',
      actionable: true,
      charge: charge.id,
      payment_intent: intent.id,
      fraud_type: 'made_with_stolen_card',
    };
    const warned = story.earlyFraudWarning && charge.status === 'succeeded';
    if (warned) emit('radar.early_fraud_warning.created', warning, basil);
    if (story.refund !== 'none') {
      const refunded = story.refund === 'full' ? amount : 1000;
      const refund: StripeObjectState = {
        id: `re_${tag}`,
        object: 'refund',
        amount: refunded,
        charge: charge.id,
        payment_intent: intent.id,
        currency: 'usd',
        status: 'pending',
        reason: 'requested_by_customer',
        metadata: {},
      };
      emit('refund.created', refund, basil);
      update('charge.refunded', charge, { amount_refunded: refunded, refunded: refunded === amount }, basil);
      update('refund.updated', refund, { status: 'succeeded' }, basil);
      if (warned && story.refund === 'full')
        update('radar.early_fraud_warning.updated', warning, { actionable: false }, basil);
    }
    if (story.dispute) {
      const dispute: StripeObjectState = {
        id: `dp_${tag}`,
        object: 'dispute',
        amount,
        charge: charge.id,
        payment_intent: intent.id,
        currency: 'usd',
        status: 'needs_response',
        reason: 'fraudulent',
      };
      emit('charge.dispute.created', dispute, basil);
      if (warned && warning.actionable)
        update('radar.early_fraud_warning.updated', warning, { actionable: false }, basil);
      update('charge.dispute.closed', dispute, { status: 'lost' }, basil);
    }
    if (
      story.features === 'upgraded_then_downgraded' &&
      (summary.entitlements as { data: unknown[] }).data.length > 1
    )
      entitle(['team_workspace']);
    if (subscription && story.cancel === 'period_end') {
      update(
        'customer.subscription.updated',
        subscription,
        { cancel_at_period_end: true, cancel_at: second + 100 },
        basil,
      );
    }
    if (subscription && story.cancel !== 'none') {
      update(
        'customer.subscription.deleted',
        subscription,
        { status: 'canceled', canceled_at: second, ended_at: second },
        basil,
      );
      if ((summary.entitlements as { data: unknown[] }).data.length > 0) entitle([]);
    }
    if (story.taxId === 'added_then_deleted') emit('customer.tax_id.deleted', taxId, basil);
    if (story.deleteCustomer)
      emit('customer.deleted', { id: customer.id, object: 'customer', deleted: true }, basil);
  });

  if (plan.coupon !== 'none') {
    const coupon: StripeObjectState = {
      id: `launch_${runId}`,
      object: 'coupon',
      name: 'Launch',
      percent_off: 12.5,
      amount_off: null,
      currency: null,
      duration: 'repeating',
      duration_in_months: 3,
      max_redemptions: null,
      times_redeemed: 0,
      redeem_by: null,
      valid: true,
      metadata: {},
    };
    emit('coupon.created', coupon, true);
    const code: StripeObjectState = {
      id: `promo_${runId}`,
      object: 'promotion_code',
      code: 'LAUNCH',
      active: true,
      customer: null,
      expires_at: null,
      max_redemptions: null,
      times_redeemed: 0,
      promotion: { coupon: coupon.id, type: 'coupon' },
      metadata: {},
    };
    emit('promotion_code.created', code, true);
    if (plan.coupon === 'code_deactivated') update('promotion_code.updated', code, { active: false }, true);
    if (plan.coupon === 'deleted') emit('coupon.deleted', coupon, true);
  }
  if (plan.archivePrice) update('price.updated', price, { active: false }, false);
  if (plan.deleteProduct) emit('product.deleted', product, false);
  // The catalog's features as a sync lists them, a page at a second of its own.
  const features: StripeObjectState[] = ['priority_support', 'team_workspace'].map((lookupKey) => ({
    id: `feat_${runId}_${lookupKey}`,
    object: 'entitlements.feature',
    name: lookupKey.replace('_', ' '),
    lookup_key: lookupKey,
    active: true,
    livemode: false,
    metadata: {},
  }));
  const syncRead = (objects: StripeObjectState[], observedAt: number) => {
    const objectKind = (objects[0] as StripeObjectState).object;
    reads.push(
      stripeSyncPageLogEntry('test', {
        syncId: nameBasedUuid(`sync:${runId}:${reads.length}`),
        objectKind,
        cursor: null,
        observedAt,
        objects: structuredClone(objects),
        hasMore: false,
      }),
    );
    for (const object of objects) truth.set(`${object.object}:${object.id}`, structuredClone(object));
  };
  const readAt = tick();
  syncRead(features, readAt);
  // The product grants both, as a sync reads its features (Payfold names the product).
  syncRead(
    features.map((feature) => ({
      id: `prodft_${feature.id}`,
      object: 'product_feature',
      entitlement_feature: structuredClone(feature),
      livemode: false,
      product: product.id,
    })),
    readAt,
  );
  if (plan.archiveFeature) {
    // A later sync, a second later at least: two reads of one second differ only by their hash.
    (features[0] as StripeObjectState).active = false;
    second += 1;
    syncRead(features, second);
  }
  return { events, sessionEntries, reads, truth, deleted };
};
