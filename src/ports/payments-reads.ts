import type { Environment } from '../domain/environment.js';
import type { Subject } from '../domain/subject.js';

/** A row of a `payments.*` table as the admin API answers it: its columns by name. */
export type TableRow = Record<string, unknown>;

/** What the tables hold of a subject or of a customer: the dashboard's subject page. */
export interface BillingOverview {
  customers: TableRow[];
  customerMappings: TableRow[];
  /** Each with `items`, its rows of `payments.subscription_items`. */
  subscriptions: TableRow[];
  invoices: TableRow[];
  paymentHistory: TableRow[];
  refunds: TableRow[];
  disputes: TableRow[];
  checkoutSessions: TableRow[];
  paymentMethods: TableRow[];
  setupIntents: TableRow[];
  /** The features the customers may use now (`payments.entitlements`). */
  entitlements: TableRow[];
  taxIds: TableRow[];
  earlyFraudWarnings: TableRow[];
  creditNotes: TableRow[];
  /** Each with the `coupon_name`, `percent_off`, `amount_off`, `currency` and `duration` of its coupon. */
  discounts: TableRow[];
  subscriptionSchedules: TableRow[];
}

/** The catalog as the tables hold it: the dashboard's catalog page. */
export interface Catalog {
  products: TableRow[];
  features: TableRow[];
  coupons: TableRow[];
}

export interface WebhookActivity {
  /** The newest deliveries, with how many times Stripe delivered each again. */
  deliveries: TableRow[];
  /** Events received per minute over the last 24 hours (minutes without any left out). */
  perMinute: Array<{ minute: string; events: number }>;
}

/** What the admin API reads of the `payments.*` tables for the dashboard's pages. */
export interface PaymentsReads {
  overview(
    environment: Environment,
    of: { subject: Subject } | { customerId: string },
  ): Promise<BillingOverview>;
  /** Customers by subject (`type:id`), customer id, or part of an email or name; the newest 50. */
  searchCustomers(environment: Environment, search: string): Promise<TableRow[]>;
  /** Products not deleted, each with its `prices`; the features; coupons not deleted, each with its `promotion_codes`. */
  catalog(environment: Environment): Promise<Catalog>;
  webhookActivity(environment: Environment, limit: number): Promise<WebhookActivity>;
  /** When the last webhook of each environment arrived (null: none yet). */
  lastWebhooks(): Promise<Record<Environment, Date | null>>;
}
