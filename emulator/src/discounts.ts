import type Stripe from 'stripe';
import { invalid, type Params, text } from './params.js';
import { existing } from './payments.js';
import { type Act, type EmulatorStore, referencedId } from './store.js';

/** What a `discounts[]` entry names: a coupon, or a promotion code of one. */
export interface DiscountInput {
  coupon: string | null;
  promotionCode: string | null;
}

/** `discounts[n][coupon]` / `discounts[n][promotion_code]` of a request. */
export const discountInputs = (params: Params): DiscountInput[] => {
  const given = params.discounts;
  if (given === undefined || given === '') return [];
  const entries = Array.isArray(given) ? given : Object.values(given as Record<string, unknown>);
  return entries.map((entry, index) => {
    const fields = (entry ?? {}) as Params;
    const coupon = text(fields, 'coupon');
    const promotionCode = text(fields, 'promotion_code');
    if ((coupon === null) === (promotionCode === null)) {
      throw invalid(`discounts[${index}]`, 'Each discount names one coupon or one promotion_code.');
    }
    return { coupon, promotionCode };
  });
};

const addMonths = (seconds: number, months: number): number => {
  const date = new Date(seconds * 1000);
  date.setUTCMonth(date.getUTCMonth() + months);
  return Math.floor(date.getTime() / 1000);
};

/**
 * Discounts on a subscription, made (not stored) for its coupons or codes, each redeemed once:
 * `once` ends with the first period, `repeating` after its months, `forever` never.
 */
export const subscriptionDiscounts = (
  act: Act,
  inputs: readonly DiscountInput[],
  owner: { customer: string; subscription: string; firstPeriodEnd: number },
): Stripe.Discount[] => {
  const { store } = act;
  const start = act.context.at ?? store.now();
  return inputs.map((input, index) => {
    const code = input.promotionCode
      ? existing(store, 'promotion_code', input.promotionCode, `discounts[${index}][promotion_code]`)
      : null;
    if (code && !code.active) {
      throw invalid(`discounts[${index}][promotion_code]`, `Promotion code ${code.code} is not active.`);
    }
    const couponId = code ? (referencedId(code.promotion.coupon) as string) : (input.coupon as string);
    const coupon = existing(store, 'coupon', couponId, `discounts[${index}][coupon]`);
    if (!coupon.valid)
      throw invalid(`discounts[${index}][coupon]`, `Coupon ${coupon.id} is no longer valid.`);
    store.put('coupon', { ...coupon, times_redeemed: coupon.times_redeemed + 1 });
    if (code) store.put('promotion_code', { ...code, times_redeemed: code.times_redeemed + 1 });
    const end =
      coupon.duration === 'once'
        ? owner.firstPeriodEnd
        : coupon.duration === 'repeating'
          ? addMonths(start, coupon.duration_in_months ?? 1)
          : null;
    return {
      id: store.id('di'),
      object: 'discount' as const,
      checkout_session: null,
      customer: owner.customer,
      customer_account: null,
      end,
      invoice: null,
      invoice_item: null,
      promotion_code: code?.id ?? null,
      source: { coupon: coupon.id, type: 'coupon' as const },
      start,
      subscription: owner.subscription,
      subscription_item: null,
    };
  });
};

/** Announces discounts stored with their subscription: `customer.discount.created` for each. */
export const announceDiscounts = (act: Act, discounts: readonly Stripe.Discount[]): void => {
  for (const discount of discounts)
    act.store.emit('customer.discount.created', discount, undefined, act.context);
};

/** Removes discounts (`customer.discount.deleted`, carrying the discount as it was). */
export const removeDiscounts = (act: Act, ids: readonly string[]): void => {
  for (const id of ids) {
    if (act.store.get('discount', id))
      act.store.remove('discount', id, 'customer.discount.deleted', act.context);
  }
};

/** A subscription's discounts that have ended by `at`, which a renewal takes off. */
export const endedDiscounts = (
  store: EmulatorStore,
  subscription: Stripe.Subscription,
  at: number,
): string[] =>
  subscription.discounts.flatMap((reference) => {
    const discount = store.get('discount', referencedId(reference) ?? '');
    return discount && discount.end !== null && discount.end <= at ? [discount.id] : [];
  });

/** What a subscription's discounts take off an invoice's subtotal, discount by discount. */
export const discountAmounts = (
  store: EmulatorStore,
  subscription: Stripe.Subscription,
  subtotal: number,
): Stripe.Invoice.TotalDiscountAmount[] => {
  let left = subtotal;
  return subscription.discounts.flatMap((reference) => {
    const discount = store.get('discount', referencedId(reference) ?? '');
    const coupon = discount ? store.get('coupon', referencedId(discount.source.coupon) ?? '') : undefined;
    if (!discount || !coupon) return [];
    const off =
      coupon.percent_off !== null
        ? Math.round((subtotal * coupon.percent_off) / 100)
        : Math.min(coupon.amount_off ?? 0, left);
    const amount = Math.min(off, left);
    left -= amount;
    return [{ amount, discount: discount.id }];
  });
};
