import { couponSchema, promotionCodeSchema } from '../../../domain/stripe/objects.js';
import { mirrorTable, timestamp } from './table.js';

/** `payments.coupons`: the catalog's coupons, deleted ones kept with `deleted`. */
export const couponsTable = mirrorTable(
  {
    name: 'payments.coupons',
    key: ['environment', 'coupon_id'],
    columns: {
      environment: 'text not null',
      coupon_id: 'text not null',
      name: 'text',
      percent_off: 'numeric',
      amount_off: 'bigint',
      currency: 'text',
      duration: 'text',
      duration_in_months: 'integer',
      max_redemptions: 'bigint',
      times_redeemed: 'bigint',
      redeem_by: 'timestamptz',
      valid: 'boolean',
      metadata: 'jsonb not null',
      deleted: 'boolean not null',
    },
  },
  'coupon',
  ({ environment, snapshot, deleted }) => {
    const coupon = couponSchema.parse(snapshot);
    return {
      environment,
      coupon_id: coupon.id,
      name: coupon.name,
      percent_off: coupon.percent_off,
      amount_off: coupon.amount_off,
      currency: coupon.currency,
      duration: coupon.duration,
      duration_in_months: coupon.duration_in_months,
      max_redemptions: coupon.max_redemptions,
      times_redeemed: coupon.times_redeemed,
      redeem_by: timestamp(coupon.redeem_by),
      valid: deleted ? false : coupon.valid,
      metadata: coupon.metadata,
      deleted,
    };
  },
);

/** `payments.promotion_codes`: the codes customers redeem coupons with. */
export const promotionCodesTable = mirrorTable(
  {
    name: 'payments.promotion_codes',
    key: ['environment', 'promotion_code_id'],
    columns: {
      environment: 'text not null',
      promotion_code_id: 'text not null',
      code: 'text',
      coupon_id: 'text',
      active: 'boolean',
      customer_id: 'text',
      expires_at: 'timestamptz',
      max_redemptions: 'bigint',
      times_redeemed: 'bigint',
      metadata: 'jsonb not null',
    },
  },
  'promotion_code',
  ({ environment, snapshot }) => {
    const code = promotionCodeSchema.parse(snapshot);
    return {
      environment,
      promotion_code_id: code.id,
      code: code.code,
      coupon_id: code.coupon,
      active: code.active,
      customer_id: code.customer,
      expires_at: timestamp(code.expires_at),
      max_redemptions: code.max_redemptions,
      times_redeemed: code.times_redeemed,
      metadata: code.metadata,
    };
  },
);
