import type Stripe from 'stripe';
import { cycleBoundary, recurrenceOf } from './billing-cycles.js';
import { integer, invalid, mergeMetadata, missing, type Params, StripeApiError, text } from './params.js';
import { existing, onClockOf, onCustomerClock } from './payments.js';
import { type Resource, resource } from './resources.js';
import { type Act, type EmulatorStore, referencedId } from './store.js';
import { createSubscription, updateSubscription } from './subscriptions.js';

const phaseItemsOf = (params: Params, index: number): Array<{ price: string; quantity: number }> => {
  const given = params.items;
  const entries = Array.isArray(given) ? given : Object.values((given ?? {}) as Record<string, unknown>);
  if (entries.length === 0) throw missing(`phases[${index}][items]`);
  return entries.map((entry, itemIndex) => {
    const fields = (entry ?? {}) as Params;
    const price = text(fields, 'price');
    if (!price) throw missing(`phases[${index}][items][${itemIndex}][price]`);
    return { price, quantity: integer(fields, 'quantity') ?? 1 };
  });
};

const intervals = new Set(['day', 'week', 'month', 'year']);

/** Where a phase ends: its `end_date`, else after its `duration`, else after one billing period. */
const phaseEnd = (phase: Params, index: number, start: number, price: Stripe.Price): number => {
  const endDate = integer(phase, 'end_date');
  if (endDate !== null) {
    if (endDate <= start) throw invalid(`phases[${index}][end_date]`, 'A phase must end after it starts.');
    return endDate;
  }
  const duration = phase.duration as Params | undefined;
  if (duration) {
    const interval = text(duration, 'interval') ?? '';
    if (!intervals.has(interval))
      throw invalid(`phases[${index}][duration][interval]`, `Invalid interval: ${interval}`);
    return cycleBoundary(start, interval, integer(duration, 'interval_count') ?? 1, 1);
  }
  const recurrence = recurrenceOf(price);
  return cycleBoundary(start, recurrence.interval, recurrence.interval_count, 1);
};

const phaseOf = (
  store: EmulatorStore,
  phase: Params,
  index: number,
  start: number,
): Stripe.SubscriptionSchedule.Phase => {
  const items = phaseItemsOf(phase, index);
  const prices = items.map((item, itemIndex) =>
    existing(store, 'price', item.price, `phases[${index}][items][${itemIndex}][price]`),
  );
  return {
    add_invoice_items: [],
    application_fee_percent: null,
    billing_cycle_anchor: null,
    billing_thresholds: null,
    collection_method: null,
    currency: (prices[0] as Stripe.Price).currency,
    default_payment_method: null,
    description: null,
    discounts: [],
    end_date: phaseEnd(phase, index, start, prices[0] as Stripe.Price),
    invoice_settings: null,
    items: items.map((item, index) => ({
      billing_thresholds: null,
      discounts: [],
      metadata: {},
      plan: (prices[index] as Stripe.Price).id,
      price: (prices[index] as Stripe.Price).id,
      quantity: item.quantity,
    })),
    metadata: mergeMetadata({}, phase.metadata),
    on_behalf_of: null,
    proration_behavior: 'create_prorations',
    start_date: start,
    transfer_data: null,
    trial_end: null,
  };
};

/**
 * A subscription schedule from a customer and its phases (`subscription_schedule.created`): it
 * starts now, creating the subscription of its first phase; each phase lasts until its `end_date`,
 * for its `duration`, or one billing period; a renewal at a phase's start moves the subscription to that phase's items; after the
 * last phase the schedule releases the subscription (`end_behavior: release`).
 */
const createSchedule = (params: Params, act: Act): Stripe.SubscriptionSchedule => {
  if (text(params, 'from_subscription')) {
    throw invalid('from_subscription', 'The emulator makes schedules from a customer and phases only.');
  }
  const customerId = text(params, 'customer');
  if (!customerId) throw missing('customer');
  const customer = existing(act.store, 'customer', customerId, 'customer');
  const endBehavior = text(params, 'end_behavior') ?? 'release';
  if (endBehavior !== 'release') {
    throw invalid('end_behavior', 'The emulator ends schedules by releasing their subscription only.');
  }
  const startDate = text(params, 'start_date');
  if (startDate !== null && startDate !== 'now')
    throw invalid('start_date', 'The emulator starts schedules now.');
  const given = params.phases;
  const phaseParams = (
    Array.isArray(given) ? given : Object.values((given ?? {}) as Record<string, unknown>)
  ) as Params[];
  if (phaseParams.length === 0) throw missing('phases');
  const onClock = onCustomerClock(act, customer.id);
  const now = onClock.context.at ?? onClock.store.now();
  const phases: Stripe.SubscriptionSchedule.Phase[] = [];
  phaseParams.forEach((phase, index) => {
    const start = phases.at(-1)?.end_date ?? now;
    phases.push(phaseOf(onClock.store, phase, index, start));
  });
  const first = phases[0] as Stripe.SubscriptionSchedule.Phase;
  const subscription = createSubscription(onClock, {
    customer: customer.id,
    items: first.items.map((item) => ({
      price: referencedId(item.price) as string,
      quantity: item.quantity ?? 1,
    })),
    metadata: {},
    defaultPaymentMethod: null,
    trialEnd: null,
    paymentBehavior: 'allow_incomplete',
    discounts: [],
  });
  const id = onClock.store.id('sub_sched');
  onClock.store.update('subscription', subscription.id, { schedule: id }, null, onClock.context);
  return onClock.store.create(
    'subscription_schedule',
    {
      id,
      object: 'subscription_schedule',
      application: null,
      billing_mode: { flexible: null, type: 'classic' },
      canceled_at: null,
      completed_at: null,
      created: now,
      current_phase: { start_date: first.start_date, end_date: first.end_date },
      customer: customer.id,
      customer_account: null,
      default_settings: {
        application_fee_percent: null,
        billing_cycle_anchor: 'automatic',
        billing_thresholds: null,
        collection_method: 'charge_automatically',
        default_payment_method: null,
        description: null,
        invoice_settings: {
          account_tax_ids: null,
          custom_fields: null,
          days_until_due: null,
          description: null,
          footer: null,
          issuer: { type: 'self' },
        },
        on_behalf_of: null,
        transfer_data: null,
      },
      end_behavior: 'release',
      livemode: false,
      metadata: mergeMetadata({}, params.metadata),
      pause_schedules: [],
      phases,
      released_at: null,
      released_subscription: null,
      status: 'active',
      subscription: subscription.id,
      test_clock: customer.test_clock ?? null,
    },
    'subscription_schedule.created',
    onClock.context,
  );
};

/** The schedule a subscription follows, while it is active. */
const activeScheduleOf = (store: EmulatorStore, subscription: Stripe.Subscription) => {
  const id = referencedId(subscription.schedule);
  const schedule = id ? store.get('subscription_schedule', id) : undefined;
  return schedule?.status === 'active' ? schedule : undefined;
};

/**
 * At a renewal starting at `periodStart`: a subscription that reached the next phase of its
 * schedule takes that phase's items (`customer.subscription.updated`, then
 * `subscription_schedule.updated`); past the last phase the schedule releases it
 * (`subscription_schedule.released`) and it renews as it is.
 */
export const followSchedule = (
  act: Act,
  subscription: Stripe.Subscription,
  periodStart: number,
): Stripe.Subscription => {
  const schedule = activeScheduleOf(act.store, subscription);
  if (!schedule) return subscription;
  const phase = schedule.phases.find(
    (candidate) => candidate.start_date <= periodStart && periodStart < candidate.end_date,
  );
  if (!phase) {
    act.store.update(
      'subscription_schedule',
      schedule.id,
      {
        status: 'released',
        released_at: periodStart,
        released_subscription: subscription.id,
        subscription: null,
        current_phase: null,
      },
      'subscription_schedule.released',
      act.context,
    );
    return act.store.update('subscription', subscription.id, { schedule: null }, null, act.context);
  }
  if (schedule.current_phase?.start_date === phase.start_date) return subscription;
  const changed = updateSubscription(act, subscription, {
    items: [
      ...subscription.items.data.map((item) => ({ id: item.id, price: null, quantity: null, deleted: true })),
      ...phase.items.map((item) => ({
        id: null,
        price: referencedId(item.price),
        quantity: item.quantity ?? 1,
        deleted: false,
      })),
    ],
    cancelAtPeriodEnd: null,
    metadata: null,
    defaultPaymentMethod: undefined,
  });
  act.store.update(
    'subscription_schedule',
    schedule.id,
    { current_phase: { start_date: phase.start_date, end_date: phase.end_date } },
    'subscription_schedule.updated',
    act.context,
  );
  return changed;
};

export const subscriptionSchedules: Resource = resource({
  type: 'subscription_schedule',
  path: 'subscription_schedules',
  create: createSchedule,
  actions: {
    /** Lets the subscription go on without the schedule (`subscription_schedule.released`). */
    release: (schedule, _params, act) => {
      if (schedule.status !== 'active' && schedule.status !== 'not_started') {
        throw new StripeApiError(
          400,
          'invalid_request_error',
          `You cannot release a schedule that is ${schedule.status}.`,
        );
      }
      const onClock = onClockOf(act, schedule);
      const subscription = referencedId(schedule.subscription);
      if (subscription)
        onClock.store.update('subscription', subscription, { schedule: null }, null, onClock.context);
      return onClock.store.update(
        'subscription_schedule',
        schedule.id,
        {
          status: 'released',
          released_at: onClock.context.at ?? onClock.store.now(),
          released_subscription: subscription,
          subscription: null,
          current_phase: null,
        },
        'subscription_schedule.released',
        onClock.context,
      );
    },
  },
  matches: (schedule, params) =>
    !text(params, 'customer') || referencedId(schedule.customer) === text(params, 'customer'),
});
