import { randomUUID } from 'node:crypto';
import type { Environment } from '../../domain/environment.js';
import { stripeConnectionLogEntry } from '../../domain/event-log.js';
import type { EventLog } from '../../ports/event-log.js';
import type { SecretBox, StripeConnectionsStore } from '../../ports/stores.js';
import type { StripeGateway } from '../../ports/stripe.js';
import { checkStripeKey } from './key-check.js';
import { stripeKeyVault } from './key-vault.js';
import {
  type ManagedWebhookEndpoint,
  managedWebhookEndpoints,
  type WebhookSetup,
} from './managed-endpoint.js';
import { type ConnectionRefusal, connectionStatus, maskKey, type StripeConnectionStatus } from './status.js';

export { type ManagedWebhookEndpoint, managedWebhookEvents } from './managed-endpoint.js';
export {
  type ConnectionRefusal,
  maskKey,
  notConnectedMessage,
  type StripeConnectionStatus,
  stripeSecretKeySchema,
} from './status.js';

export type ConnectResult =
  | {
      ok: true;
      connection: StripeConnectionStatus;
      /** What became of the managed webhook endpoint; how to forward webhooks without one. */
      webhook: WebhookSetup;
      /** The environment was not connected to this account before: its first sync is due. */
      newAccount: boolean;
      switchedFrom?: string;
    }
  | { ok: false; refusal: ConnectionRefusal };

export interface StripeConnectionsOptions {
  store: StripeConnectionsStore;
  gateway: StripeGateway;
  log: EventLog;
  /** Seals and opens the stored secrets under the master key. */
  secrets: SecretBox;
  /** `PAYFOLD_PUBLIC_URL`: when set, each connected account gets a webhook endpoint managed by Payfold. */
  publicUrl?: string | undefined;
}

/**
 * Connecting Payfold to a Stripe account per environment: the key is checked against Stripe,
 * stored sealed (the key vault), the account's managed webhook endpoint made, and the change
 * recorded in the log (the account, never the key).
 */
export const stripeConnections = ({ store, gateway, log, secrets, publicUrl }: StripeConnectionsOptions) => {
  const vault = stripeKeyVault(store, secrets);
  const endpoints = managedWebhookEndpoints(gateway, vault, publicUrl);
  const activeRow = async (environment: Environment) =>
    (await store.all()).find((row) => row.environment === environment && row.active);
  const recordChange = (environment: Environment, change: 'connected' | 'removed', accountId: string) =>
    log.append(
      stripeConnectionLogEntry(environment, randomUUID(), {
        change,
        accountId,
        livemode: environment === 'live',
      }),
    );

  return {
    secretKey: vault.secretKey,
    webhookSecrets: vault.webhookSecrets,
    resealAll: vault.resealAll,

    async connect(environment: Environment, secretKey: string, force = false): Promise<ConnectResult> {
      const checked = await checkStripeKey(gateway, environment, secretKey);
      if (!checked.ok) return checked;
      const { key, accountId } = checked;
      const current = await activeRow(environment);
      if (current && current.accountId !== accountId && !force) {
        return {
          ok: false,
          refusal: {
            code: 'other_account',
            status: 409,
            message: `${environment} is connected to ${current.accountId} and this key belongs to ${accountId}; connect it with force (--force) to switch: the payments tables keep ${current.accountId}'s objects, and webhooks and syncs then come from ${accountId}`,
          },
        };
      }
      await vault.saveKey(environment, key, maskKey(key), accountId);
      const newAccount = current?.accountId !== accountId;
      if (newAccount) await recordChange(environment, 'connected', accountId);
      const webhook = await endpoints.replace(environment, key);
      const saved = (await store.all()).find((row) => row.environment === environment);
      return {
        ok: true,
        connection: connectionStatus(saved as NonNullable<typeof saved>),
        webhook,
        newAccount,
        ...(current && newAccount && { switchedFrom: current.accountId }),
      };
    },

    /**
     * The managed webhook endpoint as Stripe has it now, asked of Stripe on each call; null when the
     * environment has no managed endpoint.
     */
    async webhookEndpoint(
      environment: Environment,
    ): Promise<{ ok: true; endpoint: ManagedWebhookEndpoint | null } | { ok: false; message: string }> {
      const row = await activeRow(environment);
      if (!row?.webhookEndpointId) return { ok: true, endpoint: null };
      return endpoints.describe(environment, vault.keyOf(row), row.webhookEndpointId);
    },

    /** Deactivates the environment's connection, and deletes its managed endpoint; false when there was none. */
    async remove(environment: Environment): Promise<boolean> {
      vault.forget(environment);
      const row = await activeRow(environment);
      if (row?.webhookEndpointId)
        await endpoints.remove(environment, vault.keyOf(row), row.webhookEndpointId);
      const accountId = await store.deactivate(environment);
      if (!accountId) return false;
      await recordChange(environment, 'removed', accountId);
      return true;
    },

    async list(): Promise<StripeConnectionStatus[]> {
      return (await store.all()).map(connectionStatus);
    },

    /** Remembers the Billing Portal configuration Payfold created in the environment's account. */
    async recordPortalConfiguration(environment: Environment, configurationId: string): Promise<void> {
      await store.savePortalConfiguration(environment, configurationId);
    },
  };
};

export type StripeConnections = ReturnType<typeof stripeConnections>;
