import type Stripe from 'stripe';
import { settleCharge } from './balance-transactions.js';
import { nextBoundary, recurrenceOf } from './billing-cycles.js';
import { endedDiscounts, removeDiscounts } from './discounts.js';
import { attemptInvoicePayment, finalizeInvoice, subscriptionInvoice, voidInvoice } from './invoices.js';
import { invalid } from './params.js';
import { day, timeOf } from './payments.js';
import {
  type Act,
  type EmulatorStore,
  type RequestContext,
  referencedId,
  subscriptionItemType,
  testClockType,
} from './store.js';
import { followSchedule } from './subscription-schedules.js';
import {
  afterCollection,
  cancelSubscription,
  itemsList,
  latestInvoice,
  periodOf,
  retryDelays,
  subscriptionChanged,
} from './subscriptions.js';

/**
 * What time does on a test clock: next invoices announced, periods ending (renewals, cancellations
 * at period end), renewal invoices collected an hour later, trials ending, declined renewals
 * retried, incomplete subscriptions expiring, in time order.
 */

/** How long Stripe keeps a renewal invoice a draft before it finalizes and collects it. */
const draftHour = 60 * 60;

/** The period after the current one, by the subscription's price. */
const nextPeriod = (store: EmulatorStore, subscription: Stripe.Subscription, start: number) => {
  const price = itemsList(store, subscription.id).data[0]?.price;
  // A subscription always keeps an item (updates refuse to remove the last one).
  if (!price) return undefined;
  return { start, end: nextBoundary(subscription.billing_cycle_anchor, recurrenceOf(price), start) };
};

/**
 * Three days before a period ends, Stripe tells what the next invoice will be (`invoice.upcoming`):
 * a preview (`upcoming_in_…`) that nothing stores and no API call returns by that id.
 */
const announceUpcoming = (act: Act, subscription: Stripe.Subscription) => {
  const current = periodOf(subscription);
  const period = nextPeriod(act.store, subscription, current.end);
  if (!period) return;
  const draft = subscriptionInvoice(act, subscription, 'upcoming', period, false, current.start);
  const id = `upcoming_${draft.id}`;
  const lines = draft.lines.data.map((line) => ({ ...line, invoice: id }));
  act.store.emit(
    'invoice.upcoming',
    { ...draft, id, lines: { ...draft.lines, data: lines, url: `/v1/invoices/${id}/lines` } },
    undefined,
    act.context,
  );
};

/**
 * A period ends: the subscription ends if it was to, else moves to the next period with a draft
 * invoice for it (`invoice.created`), which Stripe finalizes and collects about an hour later.
 */
const renew = (act: Act, renewing: Stripe.Subscription) => {
  const { store } = act;
  const now = timeOf(act);
  if (renewing.cancel_at != null && renewing.cancel_at <= now) {
    cancelSubscription(act, renewing);
    return;
  }
  const previous = periodOf(renewing);
  const period = nextPeriod(store, renewing, now);
  if (!period) return;
  // A schedule's next phase takes over with the period: its items are billed from now on.
  const subscription = followSchedule(act, renewing, period.start);
  for (const item of store.all(subscriptionItemType)) {
    if (item.subscription !== subscription.id) continue;
    item.current_period_start = period.start;
    item.current_period_end = period.end;
  }
  // Discounts that ended with the period are taken off before the next invoice.
  const ended = endedDiscounts(store, subscription, period.start);
  removeDiscounts(act, ended);
  const draft = subscriptionInvoice(act, subscription, 'subscription_cycle', period, false, previous.start);
  subscriptionChanged(act, subscription, {
    items: itemsList(store, subscription.id),
    ...(ended.length > 0 && {
      discounts: subscription.discounts.filter((reference) => !ended.includes(referencedId(reference) ?? '')),
    }),
    latest_invoice: draft.id,
    ...(subscription.status === 'trialing' ? { status: 'active' } : {}),
  });
  store.create('invoice', draft, 'invoice.created', act.context);
};

/** An hour after a renewal: its invoice is finalized and collected (declined: retried later). */
const collectRenewal = (act: Act, subscription: Stripe.Subscription, draft: Stripe.Invoice) => {
  const invoice = finalizeInvoice(act, draft);
  const paid = attemptInvoicePayment(act, invoice, null, (retryDelays[0] ?? day) + timeOf(act));
  afterCollection(act, subscription, paid);
};

/** A scheduled retry of a declined renewal; after the last one the subscription is canceled. */
export const retry = (act: Act, subscription: Stripe.Subscription, invoice: Stripe.Invoice) => {
  const attempts = invoice.attempt_count;
  const delay = retryDelays[attempts];
  const paid = attemptInvoicePayment(act, invoice, null, delay === undefined ? null : timeOf(act) + delay);
  if (paid) afterCollection(act, subscription, true);
  else if (delay === undefined) cancelSubscription(act, subscription, 'payment_failed');
};

/** A first invoice left unpaid for 23 hours: the subscription expires and its invoice is voided. */
export const expire = (act: Act, subscription: Stripe.Subscription) => {
  const invoice = latestInvoice(act.store, subscription);
  if (invoice?.status === 'open') voidInvoice(act, invoice);
  const expired = act.store.update(
    'subscription',
    subscription.id,
    { status: 'incomplete_expired', ended_at: timeOf(act) },
    null,
    act.context,
  );
  act.store.emit('customer.subscription.deleted', expired, undefined, act.context);
};

interface DueChange {
  /** Names the change, so that each happens once. */
  key: string;
  at: number;
  run: (act: Act) => void;
}

/** How long after a charge on a clock its balance transaction comes, in the clock's time. */
const settlementSeconds = 2;

/** The clock's customers' charges whose balance transaction is still to come (`charge.updated`). */
const unsettledCharges = (store: EmulatorStore, customers: ReadonlySet<string>): DueChange[] =>
  store
    .all('charge')
    .filter(
      (charge) =>
        charge.status === 'succeeded' &&
        !charge.balance_transaction &&
        customers.has(referencedId(charge.customer) ?? ''),
    )
    .map((charge) => ({
      key: `${charge.id}/settle`,
      at: charge.created + settlementSeconds,
      run: (act: Act) => settleCharge(act, charge.id),
    }));

/** What time will do to a subscription, each change at the second it is due. */
const dueChanges = (store: EmulatorStore, subscription: Stripe.Subscription): DueChange[] => {
  const changes: DueChange[] = [];
  const due = (kind: string, at: number, run: (act: Act) => void) =>
    changes.push({ key: `${subscription.id}/${kind}/${at}`, at, run });
  const { status } = subscription;
  if (status === 'incomplete') {
    due('expire', subscription.created + 23 * 60 * 60, (act) => expire(act, subscription));
  }
  if (status === 'trialing' && subscription.trial_end != null) {
    due('trial_will_end', subscription.trial_end - 3 * day, (act) =>
      act.store.emit('customer.subscription.trial_will_end', subscription, undefined, act.context),
    );
  }
  if (status === 'active' || status === 'trialing' || status === 'past_due') {
    const periodEnd = periodOf(subscription).end;
    if (subscription.cancel_at == null) {
      due('upcoming', periodEnd - 3 * day, (act) => announceUpcoming(act, subscription));
    }
    due('renew', periodEnd, (act) => renew(act, subscription));
    if (subscription.cancel_at != null) {
      due('cancel', subscription.cancel_at, (act) => cancelSubscription(act, subscription));
    }
    const invoice = latestInvoice(store, subscription);
    if (invoice?.status === 'draft' && invoice.billing_reason === 'subscription_cycle') {
      due('collect', invoice.created + draftHour, (act) => collectRenewal(act, subscription, invoice));
    }
    if (status === 'past_due' && invoice?.status === 'open' && invoice.next_payment_attempt != null) {
      due('retry', invoice.next_payment_attempt, (act) => retry(act, subscription, invoice));
    }
  }
  return changes;
};

export const automatic: RequestContext = { requestId: null, idempotencyKey: null };

/**
 * Moves a test clock forward, doing on the way what time does to its customers' subscriptions,
 * in time order: trial ending warnings, renewals with their invoices (declined ones retried, then
 * the subscription canceled), cancellations at period end, unpaid first invoices expiring. Emits
 * `test_helpers.test_clock.advancing`, the changes' events at the times they happen, then `.ready`.
 */
export const advanceTestClock = (
  store: EmulatorStore,
  clock: Stripe.TestHelpers.TestClock,
  frozenTime: number,
  context: RequestContext,
): Stripe.TestHelpers.TestClock => {
  const from = clock.frozen_time;
  if (frozenTime <= from) {
    throw invalid(
      'frozen_time',
      'The test clock can only be advanced to a time after its current frozen_time.',
    );
  }
  if (frozenTime > from + 2 * 366 * day) {
    throw invalid('frozen_time', 'A test clock can advance at most two years at a time.');
  }
  store.update(
    testClockType,
    clock.id,
    { status: 'advancing', status_details: { advancing: { target_frozen_time: frozenTime } } },
    'test_helpers.test_clock.advancing',
    { ...context, at: from },
  );
  const customers = new Set(
    store
      .all('customer')
      .filter((customer) => customer.test_clock === clock.id)
      .map((customer) => customer.id),
  );
  const done = new Set<string>();
  for (let step = 0; step < 10_000; step += 1) {
    const due = [
      ...store
        .all('subscription')
        .filter((subscription) => customers.has(referencedId(subscription.customer) ?? ''))
        .flatMap((subscription) => dueChanges(store, subscription)),
      ...unsettledCharges(store, customers),
    ]
      .filter((change) => change.at > from && change.at <= frozenTime && !done.has(change.key))
      .sort((a, b) => a.at - b.at || (a.key < b.key ? -1 : 1))[0];
    if (!due) break;
    done.add(due.key);
    const now = due.at;
    store.update(testClockType, clock.id, { frozen_time: now }, null, { ...automatic, at: now });
    due.run({ store, context: { ...automatic, at: now } });
  }
  return store.update(
    testClockType,
    clock.id,
    { frozen_time: frozenTime, status: 'ready', status_details: {} },
    'test_helpers.test_clock.ready',
    { ...context, at: frozenTime },
  );
};
