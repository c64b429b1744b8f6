import type { Environment } from '../../../domain/environment.js';
import { customerSchema, paymentMethodSchema, subscriptionSchema } from '../../../domain/stripe/objects.js';
import { type DerivedTable, type ObjectRef, subjectColumns, type WinnerSource } from './table.js';

const columns = {
  environment: 'text not null',
  payment_method_id: 'text not null',
  customer_id: 'text',
  subject_type: 'text',
  subject_id: 'text',
  type: 'text',
  card_brand: 'text',
  card_last4: 'text',
  card_exp_month: 'integer',
  card_exp_year: 'integer',
  wallet: 'text',
  billing_country: 'text',
  attached: 'boolean not null',
  customer_default: 'boolean not null',
  subscription_defaults: 'jsonb not null',
  metadata: 'jsonb not null',
} as const;

/** Subscriptions that still charge: a default payment method of an ended one no longer matters. */
const ended = new Set(['canceled', 'incomplete_expired']);

const paymentMethodsOfCustomer = async (
  source: WinnerSource,
  environment: Environment,
  customerId: string | null,
): Promise<ObjectRef[]> =>
  customerId
    ? (await source.linkedFrom(environment, customerId, 'customer', 'payment_method')).map((objectId) => ({
        environment,
        objectType: 'payment_method',
        objectId,
      }))
    : [];

/**
 * `payments.payment_methods`: one row per payment method, with its customer's subject and whether
 * it is what renewals charge: the customer's default for invoices, or the default of live
 * subscriptions (their ids). A change of the customer or of one of its subscriptions rebuilds the
 * rows of every payment method the customer holds, so a default that moved leaves the old one too.
 */
export const paymentMethodsTable: DerivedTable<typeof columns> = {
  name: 'payments.payment_methods',
  key: ['environment', 'payment_method_id'],
  columns,
  rootsAffectedBy: async (changed, source) => {
    if (changed.objectType === 'payment_method') return [changed];
    if (changed.objectType === 'customer')
      return paymentMethodsOfCustomer(source, changed.environment, changed.objectId);
    if (changed.objectType !== 'subscription') return [];
    const subscription = subscriptionSchema.parse(changed.snapshot);
    return [
      ...(await paymentMethodsOfCustomer(source, changed.environment, subscription.customer)),
      ...(subscription.default_payment_method
        ? [
            {
              environment: changed.environment,
              objectType: 'payment_method',
              objectId: subscription.default_payment_method,
            },
          ]
        : []),
    ];
  },
  mappedRowRoot: (row) => ({
    environment: row.environment as Environment,
    objectType: 'payment_method',
    objectId: row.payment_method_id,
  }),
  rowsOf: async ({ environment, objectId }, source) => {
    const winner = await source.winner(environment, 'payment_method', objectId);
    if (!winner) return { rows: [] };
    const method = paymentMethodSchema.parse(winner.snapshot);
    const customerWinner = await source.winner(environment, 'customer', method.customer);
    const customer =
      customerWinner && !customerWinner.deleted ? customerSchema.parse(customerWinner.snapshot) : null;
    const subscriptionIds = await source.linkedFrom(
      environment,
      method.id,
      'default_payment_method',
      'subscription',
    );
    const live = [];
    for (const id of subscriptionIds) {
      const subscription = await source.winner(environment, 'subscription', id);
      const status = subscription ? subscriptionSchema.parse(subscription.snapshot).status : null;
      if (subscription && !ended.has(status ?? '')) live.push(id);
    }
    const row = {
      environment,
      payment_method_id: method.id,
      customer_id: method.customer,
      ...subjectColumns(await source.mappedSubject(environment, method.customer)),
      type: method.type,
      card_brand: method.card?.brand ?? null,
      card_last4: method.card?.last4 ?? null,
      card_exp_month: method.card?.exp_month ?? null,
      card_exp_year: method.card?.exp_year ?? null,
      wallet: method.card?.wallet ?? null,
      billing_country: method.billing_details.country,
      attached: method.customer !== null,
      customer_default: method.customer !== null && customer?.default_payment_method === method.id,
      subscription_defaults: live,
      metadata: method.metadata,
    };
    return { rows: [{ row, createdAt: winner.createdAt }] };
  },
};
