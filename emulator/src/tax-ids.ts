import type Stripe from 'stripe';
import { invalid, type Params, required, resourceMissing, text } from './params.js';
import { type Act, type EmulatorStore, referencedId } from './store.js';

/** The tax id types the emulator accepts, and the country each belongs to. */
const countries: Record<string, string> = {
  eu_vat: 'DE',
  gb_vat: 'GB',
  us_ein: 'US',
  au_abn: 'AU',
  ca_bn: 'CA',
  ch_vat: 'CH',
};

/**
 * A customer's tax id (`customer.tax_id.created`). An EU VAT number is checked against VIES: it
 * stays `pending` until the check answers (`customer.tax_id.updated`, `verified`, or
 * `unverified` for Stripe's test value 000000000); other types are not checked (`unavailable`).
 */
export const addTaxId = (act: Act, customer: Stripe.Customer, params: Params): Stripe.TaxId => {
  const type = required(params, 'type');
  const country = countries[type];
  if (!country)
    throw invalid('type', `Invalid type: ${type}, the emulator knows ${Object.keys(countries).join(', ')}`);
  const value = required(params, 'value');
  const { store } = act;
  const checked = type === 'eu_vat';
  const taxId = store.create(
    'tax_id',
    {
      id: store.id('txi'),
      object: 'tax_id',
      country,
      created: act.context.at ?? store.now(),
      customer: customer.id,
      customer_account: null,
      livemode: false,
      owner: { type: 'customer', customer: customer.id, customer_account: null },
      type: type as Stripe.TaxId.Type,
      value,
      verification: {
        status: checked ? 'pending' : 'unavailable',
        verified_address: null,
        verified_name: null,
      },
    },
    'customer.tax_id.created',
    act.context,
  );
  if (checked) {
    const { context } = act;
    store.schedule(store.settlementDelayMs, () => {
      if (!store.get('tax_id', taxId.id)) return;
      const verified = !/^[A-Z]{2}0+$/.test(value.replace(/\s/g, '')) && !/^0+$/.test(value);
      store.update(
        'tax_id',
        taxId.id,
        {
          verification: verified
            ? { status: 'verified', verified_address: null, verified_name: customer.name ?? 'Verified name' }
            : { status: 'unverified', verified_address: null, verified_name: null },
        },
        'customer.tax_id.updated',
        { ...context, requestId: null, idempotencyKey: null },
      );
    });
  }
  return taxId;
};

export const taxIdsOfCustomer = (store: EmulatorStore, customer: Stripe.Customer): Stripe.TaxId[] =>
  store
    .all('tax_id')
    .filter((taxId) => referencedId(taxId.customer) === customer.id)
    .reverse();

/** Deletes a tax id (`customer.tax_id.deleted`, carrying the object as it was). */
export const deleteTaxId = (act: Act, taxId: Stripe.TaxId) => {
  act.store.remove('tax_id', taxId.id, 'customer.tax_id.deleted', act.context);
  return { id: taxId.id, object: 'tax_id', deleted: true };
};

/** `owner[customer]` of a top-level create: the customer it belongs to. */
export const ownerCustomer = (store: EmulatorStore, params: Params): Stripe.Customer => {
  const owner = (params.owner as Params | undefined) ?? {};
  if (text(owner, 'type') !== 'customer')
    throw invalid('owner[type]', 'The emulator keeps tax ids of customers only: owner[type]=customer.');
  const id = required(owner, 'customer');
  const customer = store.get('customer', id);
  if (!customer) throw resourceMissing('customer', id, 'owner[customer]');
  return customer;
};
