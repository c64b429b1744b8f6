import type Stripe from 'stripe';
import { bool, integer, invalid, mergeMetadata, missing, type Params, required, text } from './params.js';
import { existing } from './payments.js';
import { type Resource, resource } from './resources.js';
import type { EmulatorStore } from './store.js';

const durations = new Set(['once', 'repeating', 'forever']);

const percentOff = (params: Params): number | null => {
  const value = text(params, 'percent_off');
  if (value === null) return null;
  const percent = Number(value);
  if (!Number.isFinite(percent) || percent <= 0 || percent > 100) {
    throw invalid('percent_off', 'percent_off must be more than 0 and at most 100.');
  }
  return percent;
};

/** A coupon of the catalog (`coupon.created`): a percentage or an amount off, for a duration. */
const createCoupon = (params: Params, store: EmulatorStore): Stripe.Coupon => {
  const percent = percentOff(params);
  const amountOff = integer(params, 'amount_off');
  if ((percent === null) === (amountOff === null)) {
    throw invalid('percent_off', 'A coupon takes exactly one of percent_off and amount_off.');
  }
  const currency = text(params, 'currency');
  if (amountOff !== null && !currency) throw missing('currency');
  const duration = text(params, 'duration') ?? 'once';
  if (!durations.has(duration)) throw invalid('duration', `Invalid duration: ${duration}`);
  const months = integer(params, 'duration_in_months');
  if (duration === 'repeating' && months === null) throw missing('duration_in_months');
  const id = text(params, 'id') ?? store.id('').slice(1, 9);
  if (store.get('coupon', id)) throw invalid('id', `Coupon already exists: ${id}`);
  return {
    id,
    object: 'coupon',
    amount_off: amountOff,
    created: store.now(),
    currency: amountOff !== null ? (currency as string) : null,
    duration: duration as Stripe.Coupon.Duration,
    duration_in_months: duration === 'repeating' ? months : null,
    livemode: false,
    max_redemptions: integer(params, 'max_redemptions'),
    metadata: mergeMetadata({}, params.metadata),
    name: text(params, 'name'),
    percent_off: percent,
    redeem_by: integer(params, 'redeem_by'),
    times_redeemed: 0,
    valid: true,
  };
};

export const coupons: Resource = resource({
  type: 'coupon',
  path: 'coupons',
  create: (params, { store, context }) =>
    store.create('coupon', createCoupon(params, store), 'coupon.created', context),
  // Only the name and metadata of a coupon change, as in Stripe.
  update: (coupon, params, { store, context }) =>
    store.update(
      'coupon',
      coupon.id,
      {
        ...('name' in params && { name: text(params, 'name') }),
        ...('metadata' in params && { metadata: mergeMetadata(coupon.metadata ?? {}, params.metadata) }),
      },
      'coupon.updated',
      context,
    ),
  remove: (coupon, _params, { store, context }) => {
    store.remove('coupon', coupon.id, 'coupon.deleted', context);
    return { id: coupon.id, object: 'coupon', deleted: true };
  },
});

/** A code customers type to redeem a coupon (`promotion_code.created`); deactivated by an update. */
export const promotionCodes: Resource = resource({
  type: 'promotion_code',
  path: 'promotion_codes',
  create: (params, { store, context }) => {
    const promotion = (params.promotion as Params | undefined) ?? {};
    if (text(promotion, 'type') !== 'coupon')
      throw invalid('promotion[type]', 'promotion[type] must be coupon.');
    const coupon = existing(store, 'coupon', required(promotion, 'coupon'), 'promotion[coupon]');
    const code = text(params, 'code') ?? store.id('').slice(1, 9).toUpperCase();
    if (
      store.all('promotion_code').some((existingCode) => existingCode.active && existingCode.code === code)
    ) {
      throw invalid('code', `An active promotion code ${code} already exists.`);
    }
    const customer = text(params, 'customer');
    if (customer) existing(store, 'customer', customer, 'customer');
    return store.create(
      'promotion_code',
      {
        id: store.id('promo'),
        object: 'promotion_code',
        active: bool(params, 'active') ?? true,
        code,
        created: store.now(),
        customer,
        customer_account: null,
        expires_at: integer(params, 'expires_at'),
        livemode: false,
        max_redemptions: integer(params, 'max_redemptions'),
        metadata: mergeMetadata({}, params.metadata),
        promotion: { coupon: coupon.id, type: 'coupon' },
        restrictions: {
          first_time_transaction: false,
          minimum_amount: null,
          minimum_amount_currency: null,
        },
        times_redeemed: 0,
      },
      'promotion_code.created',
      context,
    );
  },
  update: (code, params, { store, context }) =>
    store.update(
      'promotion_code',
      code.id,
      {
        ...('active' in params && { active: bool(params, 'active') ?? code.active }),
        ...('metadata' in params && { metadata: mergeMetadata(code.metadata ?? {}, params.metadata) }),
      },
      'promotion_code.updated',
      context,
    ),
  matches: (code, params) =>
    (!text(params, 'code') || code.code === text(params, 'code')) &&
    (!text(params, 'coupon') || code.promotion.coupon === text(params, 'coupon')) &&
    (bool(params, 'active') === null || code.active === bool(params, 'active')),
});
