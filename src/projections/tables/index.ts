import { checkoutSessionsTable } from './checkout-sessions.js';
import { customerMappingsTable } from './customer-mappings.js';
import { customersTable } from './customers.js';
import { disputesTable } from './disputes.js';
import { invoicesTable } from './invoices.js';
import { paymentHistoryTable } from './payment-history.js';
import { pricesTable } from './prices.js';
import { productsTable } from './products.js';
import { refundsTable } from './refunds.js';
import { subscriptionItemsTable } from './subscription-items.js';
import { subscriptionsTable } from './subscriptions.js';
import type { Columns, DerivedTable, TableShape } from './table.js';

// Each definition keeps its own column types; the lists below hold them side by side.

/** The tables computed from winning snapshots, in the order their rows are written. */
export const derivedTables: ReadonlyArray<DerivedTable<Columns>> = [
  productsTable,
  pricesTable,
  customersTable,
  checkoutSessionsTable,
  subscriptionsTable,
  subscriptionItemsTable,
  invoicesTable,
  paymentHistoryTable,
  refundsTable,
  disputesTable,
] as unknown as ReadonlyArray<DerivedTable<Columns>>;

/** Every `payments.*` table the payments projection writes (`stripe_objects` aside). */
export const paymentsTables: ReadonlyArray<TableShape<Columns>> = [
  ...derivedTables,
  customerMappingsTable as unknown as TableShape<Columns>,
];
