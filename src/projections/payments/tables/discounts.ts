import { discountSchema } from '../../../domain/stripe/objects.js';
import { customerMirrorTable, timestamp } from './table.js';

/**
 * `payments.discounts`: the coupons applied to customers, subscriptions, invoices and Checkout
 * Sessions, with the subject through the customer; a removed discount is kept with `deleted`.
 */
export const discountsTable = customerMirrorTable(
  {
    name: 'payments.discounts',
    key: ['environment', 'discount_id'],
    columns: {
      environment: 'text not null',
      discount_id: 'text not null',
      customer_id: 'text',
      subject_type: 'text',
      subject_id: 'text',
      coupon_id: 'text',
      promotion_code_id: 'text',
      subscription_id: 'text',
      invoice_id: 'text',
      checkout_session_id: 'text',
      start_at: 'timestamptz',
      end_at: 'timestamptz',
      deleted: 'boolean not null',
    },
  },
  'discount',
  ({ environment, snapshot, deleted }) => {
    const discount = discountSchema.parse(snapshot);
    return {
      environment,
      discount_id: discount.id,
      customer_id: discount.customer,
      coupon_id: discount.coupon,
      promotion_code_id: discount.promotion_code,
      subscription_id: discount.subscription,
      invoice_id: discount.invoice,
      checkout_session_id: discount.checkout_session,
      start_at: timestamp(discount.start),
      end_at: timestamp(discount.end),
      deleted,
    };
  },
);
