import { z } from 'zod';
import type { Environment } from '../../domain/environment.js';
import type { StoredStripeConnection } from '../../ports/stores.js';

/** Why a key was not connected: one line for the user, and the HTTP status that says it. */
export interface ConnectionRefusal {
  code: 'invalid_key' | 'stripe_refused' | 'insufficient_permissions' | 'other_account';
  message: string;
  status: 400 | 409 | 502;
}

/** A connection as status shows it: the key masked (`sk_test_…abcd`). */
export interface StripeConnectionStatus {
  environment: Environment;
  maskedKey: string;
  accountId: string;
  /** The webhook endpoint Payfold manages in the account (with `PAYFOLD_PUBLIC_URL`), or how to forward webhooks. */
  webhook: { managed: true; endpointId: string } | { managed: false; message: string };
  /** Set when the account had no Billing Portal configuration and Payfold created this one. */
  portalConfigurationCreatedByPayfold: string | null;
  active: boolean;
  connectedAt: string;
}

/** A secret key of the environment's mode: a full key (`sk_`) or a restricted one (`rk_`). */
export const stripeSecretKeySchema = (environment: Environment) =>
  z
    .string()
    .trim()
    .regex(
      new RegExp(`^(sk|rk)_${environment}_[A-Za-z0-9_]+$`),
      `a ${environment} key starts with sk_${environment}_ (or rk_${environment}_ for a restricted key)`,
    );

/** Why a call to Stripe cannot be made: the environment has no connected key. */
export const notConnectedMessage = (environment: Environment): string =>
  `${environment} is not connected to Stripe: payfold config set ${environment} <secret key>`;

export const maskKey = (secretKey: string): string => {
  const prefix = /^(sk|rk)_(test|live)_/.exec(secretKey)?.[0] ?? '';
  return `${prefix}…${secretKey.slice(-4)}`;
};

/** How to receive webhooks without a managed endpoint. */
export const forwardingHint = (environment: Environment) =>
  `set PAYFOLD_PUBLIC_URL for a managed endpoint, or forward webhooks to /api/webhooks/stripe/${environment} (stripe listen --forward-to, or payfold emulator --forward-to)`;

export const connectionStatus = (row: StoredStripeConnection): StripeConnectionStatus => ({
  environment: row.environment,
  maskedKey: row.maskedKey,
  accountId: row.accountId,
  webhook: row.webhookEndpointId
    ? { managed: true, endpointId: row.webhookEndpointId }
    : { managed: false, message: forwardingHint(row.environment) },
  portalConfigurationCreatedByPayfold: row.portalConfigurationId,
  active: row.active,
  connectedAt: row.connectedAt.toISOString(),
});
