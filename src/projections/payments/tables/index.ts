import { checkoutSessionsTable } from './checkout-sessions.js';
import { couponsTable, promotionCodesTable } from './coupons.js';
import { creditNotesTable } from './credit-notes.js';
import { customerMappingsTable } from './customer-mappings.js';
import { customerPortalSessionsTable } from './customer-portal-sessions.js';
import { customersTable } from './customers.js';
import { discountsTable } from './discounts.js';
import { disputesTable } from './disputes.js';
import { earlyFraudWarningsTable } from './early-fraud-warnings.js';
import { entitlementsTable } from './entitlements.js';
import { featuresTable } from './features.js';
import { invoicesTable } from './invoices.js';
import { paymentHistoryTable } from './payment-history.js';
import { paymentMethodsTable } from './payment-methods.js';
import { pricesTable } from './prices.js';
import { productFeaturesTable } from './product-features.js';
import { productsTable } from './products.js';
import { refundsTable } from './refunds.js';
import { setupIntentsTable } from './setup-intents.js';
import { stripeObjectsTable } from './stripe-objects.js';
import { subscriptionItemsTable } from './subscription-items.js';
import { subscriptionSchedulesTable } from './subscription-schedules.js';
import { subscriptionsTable } from './subscriptions.js';
import type { Columns, DerivedTable, TableShape } from './table.js';
import { taxIdsTable } from './tax-ids.js';

// Each definition keeps its own column types; the lists below hold them side by side.

/** The tables computed from winning snapshots, in the order their rows are written. */
export const derivedTables: ReadonlyArray<DerivedTable<Columns>> = [
  productsTable,
  pricesTable,
  customersTable,
  checkoutSessionsTable,
  customerPortalSessionsTable,
  subscriptionsTable,
  subscriptionItemsTable,
  invoicesTable,
  paymentHistoryTable,
  refundsTable,
  disputesTable,
  paymentMethodsTable,
  setupIntentsTable,
  featuresTable,
  productFeaturesTable,
  entitlementsTable,
  taxIdsTable,
  earlyFraudWarningsTable,
  creditNotesTable,
  couponsTable,
  promotionCodesTable,
  discountsTable,
  subscriptionSchedulesTable,
] as unknown as ReadonlyArray<DerivedTable<Columns>>;

const shape = <C extends Columns>(table: TableShape<C>) => table as unknown as TableShape<Columns>;

/** Every `payments.*` table the payments projection writes, and so a rebuild of it empties. */
export const paymentsProjectionTables: ReadonlyArray<TableShape<Columns>> = [
  shape(stripeObjectsTable),
  shape(customerMappingsTable),
  ...derivedTables,
];
