import type Stripe from 'stripe';
import { day } from './payments.js';

/** Billing cycles: where each period of a recurring price ends. */

/**
 * The n-th boundary of a billing cycle anchored at `anchor`: months and years keep the anchor's
 * day (clamped to the end of shorter months) and time of day, as Stripe bills.
 */
export const cycleBoundary = (anchor: number, interval: string, count: number, n: number): number => {
  if (interval === 'day') return anchor + n * count * day;
  if (interval === 'week') return anchor + n * count * 7 * day;
  const date = new Date(anchor * 1000);
  const month = date.getUTCMonth() + n * count * (interval === 'year' ? 12 : 1);
  const lastDay = new Date(Date.UTC(date.getUTCFullYear(), month + 1, 0)).getUTCDate();
  return (
    Date.UTC(
      date.getUTCFullYear(),
      month,
      Math.min(date.getUTCDate(), lastDay),
      date.getUTCHours(),
      date.getUTCMinutes(),
      date.getUTCSeconds(),
    ) / 1000
  );
};

type Recurrence = Pick<Stripe.Price.Recurring, 'interval' | 'interval_count'>;

/** A recurring price's cycle; prices are checked to be recurring where subscriptions take them. */
export const recurrenceOf = (price: Stripe.Price): Recurrence =>
  price.recurring ?? { interval: 'month', interval_count: 1 };

/** The first boundary of the cycle after `time`. */
export const nextBoundary = (anchor: number, recurrence: Recurrence, time: number): number => {
  let n = 1;
  while (cycleBoundary(anchor, recurrence.interval, recurrence.interval_count, n) <= time) n += 1;
  return cycleBoundary(anchor, recurrence.interval, recurrence.interval_count, n);
};

/** The legacy plan object Stripe still shows beside an item's price. */
export const planOf = (price: Stripe.Price): Stripe.Plan => ({
  id: price.id,
  object: 'plan',
  active: price.active,
  amount: price.unit_amount,
  amount_decimal: price.unit_amount_decimal,
  billing_scheme: 'per_unit',
  created: price.created,
  currency: price.currency,
  interval: recurrenceOf(price).interval,
  interval_count: recurrenceOf(price).interval_count,
  livemode: false,
  metadata: price.metadata,
  meter: null,
  nickname: price.nickname,
  product: price.product,
  tiers_mode: null,
  transform_usage: null,
  trial_period_days: null,
  usage_type: 'licensed',
});
