import { randomUUID } from 'node:crypto';
import Stripe from 'stripe';
import { z } from 'zod';
import type { StripeConnectionsStore } from '../adapters/postgres/stripe-connections.js';
import { masterKeyId, openSecret, sealSecret } from '../adapters/secret-box.js';
import { type StripeGateway, StripeGatewayError } from '../adapters/stripe/gateway.js';
import type { Environment } from '../domain/environment.js';
import { type EventLog, stripeConnectionLogEntry } from '../domain/event-log.js';

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

/** The managed webhook endpoint as Stripe reports it. */
export interface ManagedWebhookEndpoint {
  endpointId: string;
  url: string;
  /** `enabled`, or `disabled` (Stripe disables an endpoint that keeps failing). */
  status: string;
  enabledEvents: string[];
}

export type ConnectResult =
  | {
      ok: true;
      connection: StripeConnectionStatus;
      /** What became of the managed webhook endpoint; how to forward webhooks without one. */
      webhook: { managed: true; url: string } | { managed: false; message: string };
      /** The environment was not connected to this account before: its first sync is due. */
      newAccount: boolean;
      switchedFrom?: string;
    }
  | { ok: false; refusal: ConnectionRefusal };

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

const belongsTo = (environment: Environment) => `stripe_connections/${environment}`;
const webhookSecretBelongsTo = (environment: Environment) => `stripe_connections/${environment}/webhook`;

/** The events the projections read, which a managed endpoint subscribes to. */
export const managedWebhookEvents = [
  'product.created',
  'product.updated',
  'product.deleted',
  'price.created',
  'price.updated',
  'price.deleted',
  'customer.created',
  'customer.updated',
  'customer.deleted',
  'customer.subscription.created',
  'customer.subscription.updated',
  'customer.subscription.deleted',
  'customer.subscription.paused',
  'customer.subscription.resumed',
  'customer.subscription.trial_will_end',
  'invoice.created',
  'invoice.updated',
  'invoice.deleted',
  'invoice.finalized',
  'invoice.paid',
  'invoice.payment_failed',
  'invoice.payment_succeeded',
  'invoice.voided',
  'invoice.marked_uncollectible',
  'invoice_payment.paid',
  'payment_intent.created',
  'payment_intent.processing',
  'payment_intent.requires_action',
  'payment_intent.succeeded',
  'payment_intent.payment_failed',
  'payment_intent.canceled',
  'charge.pending',
  'charge.succeeded',
  'charge.failed',
  'charge.captured',
  'charge.updated',
  'charge.refunded',
  'charge.refund.updated',
  'refund.created',
  'refund.updated',
  'refund.failed',
  'charge.dispute.created',
  'charge.dispute.updated',
  'charge.dispute.closed',
  'checkout.session.completed',
  'checkout.session.expired',
  'checkout.session.async_payment_succeeded',
  'checkout.session.async_payment_failed',
] as const;

const forwardingHint = (environment: Environment) =>
  `set PAYFOLD_PUBLIC_URL for a managed endpoint, or forward webhooks to /api/webhooks/stripe/${environment} (stripe listen --forward-to, or payfold emulator --forward-to)`;

const managedMetadata = (environment: Environment) => ({
  payfold_managed: 'true',
  payfold_environment: environment,
});

/**
 * What Payfold reads from Stripe (sync, reconcile): a restricted key must be able to list each, or
 * it is refused with the first it cannot read.
 */
const readsNeeded: ReadonlyArray<[string, (stripe: Stripe) => Promise<unknown>]> = [
  ['products', (stripe) => stripe.products.list({ limit: 1 })],
  ['prices', (stripe) => stripe.prices.list({ limit: 1 })],
  ['customers', (stripe) => stripe.customers.list({ limit: 1 })],
  ['subscriptions', (stripe) => stripe.subscriptions.list({ limit: 1 })],
  ['invoices', (stripe) => stripe.invoices.list({ limit: 1 })],
  ['payment intents', (stripe) => stripe.paymentIntents.list({ limit: 1 })],
  ['charges', (stripe) => stripe.charges.list({ limit: 1 })],
  ['refunds', (stripe) => stripe.refunds.list({ limit: 1 })],
  ['disputes', (stripe) => stripe.disputes.list({ limit: 1 })],
  ['checkout sessions', (stripe) => stripe.checkout.sessions.list({ limit: 1 })],
];

export interface StripeConnectionsOptions {
  store: StripeConnectionsStore;
  gateway: StripeGateway;
  log: EventLog;
  /** The master key, then any previous ones still opening older secrets. */
  masterKeys: readonly Buffer[];
  /** `PAYFOLD_PUBLIC_URL`: when set, each connected account gets a webhook endpoint managed by Payfold. */
  publicUrl?: string;
}

/**
 * Connecting Payfold to a Stripe account per environment: the key is checked against Stripe,
 * stored sealed, and the change is recorded in the log (the account, never the key).
 */
export const stripeConnections = ({
  store,
  gateway,
  log,
  masterKeys,
  publicUrl,
}: StripeConnectionsOptions) => {
  const [masterKey] = masterKeys;
  if (!masterKey) throw new Error('a master key is required to store Stripe keys');

  const statusOf = (row: Awaited<ReturnType<StripeConnectionsStore['all']>>[number]) => ({
    environment: row.environment,
    maskedKey: row.maskedKey,
    accountId: row.accountId,
    webhook: row.webhookEndpointId
      ? { managed: true as const, endpointId: row.webhookEndpointId }
      : { managed: false as const, message: forwardingHint(row.environment) },
    portalConfigurationCreatedByPayfold: row.portalConfigurationId,
    active: row.active,
    connectedAt: row.connectedAt.toISOString(),
  });

  /**
   * With a public URL: replaces the account's previous Payfold endpoint for the environment by one
   * for `<public URL>/api/webhooks/stripe/<environment>` and stores its secret. A failure leaves
   * the key connected and says why.
   */
  const manageWebhookEndpoint = async (
    environment: Environment,
    key: string,
  ): Promise<Extract<ConnectResult, { ok: true }>['webhook']> => {
    if (!publicUrl) {
      return {
        managed: false,
        message: forwardingHint(environment),
      };
    }
    const url = new URL(`/api/webhooks/stripe/${environment}`, publicUrl).toString();
    try {
      const endpoint = await gateway.call(environment, key, async ({ stripe, requestOptions }) => {
        for await (const existing of stripe.webhookEndpoints.list({ limit: 100 })) {
          const metadata = existing.metadata ?? {};
          if (metadata.payfold_managed === 'true' && metadata.payfold_environment === environment)
            await stripe.webhookEndpoints.del(existing.id);
        }
        return stripe.webhookEndpoints.create(
          {
            url,
            enabled_events: [...managedWebhookEvents],
            api_version: Stripe.API_VERSION as Stripe.WebhookEndpointCreateParams.ApiVersion,
            description: 'Payfold: keeps the payments tables in step',
            metadata: managedMetadata(environment),
          },
          requestOptions,
        );
      });
      if (!endpoint.secret)
        throw new StripeGatewayError('Stripe returned no signing secret', undefined, undefined, undefined);
      await store.saveWebhookEndpoint(
        environment,
        endpoint.id,
        sealSecret(masterKey, endpoint.secret, webhookSecretBelongsTo(environment)),
      );
      openedCache.delete(environment);
      return { managed: true, url };
    } catch (error) {
      if (!(error instanceof StripeGatewayError)) throw error;
      return { managed: false, message: `the webhook endpoint was not created: ${error.message}` };
    }
  };

  /** Opened managed secrets, kept a while: the webhook route asks on every delivery. */
  /**
   * The environment's opened secrets, kept a few seconds: every session request and webhook needs
   * them, and another process that changes them is followed within seconds.
   */
  const openedCache = new Map<
    Environment,
    { secretKey: string | undefined; webhookSecrets: string[]; until: number }
  >();
  const opened = async (environment: Environment) => {
    const cached = openedCache.get(environment);
    if (cached && cached.until > Date.now()) return cached;
    const row = (await store.all()).find((stored) => stored.environment === environment && stored.active);
    const secrets = {
      secretKey: row && openSecret(masterKeys, row.secretKeySealed, belongsTo(environment)),
      webhookSecrets: row?.webhookSecretSealed
        ? [openSecret(masterKeys, row.webhookSecretSealed, webhookSecretBelongsTo(environment))]
        : [],
      until: Date.now() + 5000,
    };
    openedCache.set(environment, secrets);
    return secrets;
  };

  return {
    /** The signing secrets of the environment's managed endpoint (none without one). */
    async webhookSecrets(environment: Environment): Promise<string[]> {
      return (await opened(environment)).webhookSecrets;
    },

    async connect(environment: Environment, secretKey: string, force = false): Promise<ConnectResult> {
      const parsed = stripeSecretKeySchema(environment).safeParse(secretKey);
      if (!parsed.success) {
        const message = parsed.error.issues[0]?.message ?? 'not a Stripe secret key';
        return { ok: false, refusal: { code: 'invalid_key', message, status: 400 } };
      }
      const key = parsed.data;
      let accountId: string;
      try {
        accountId = await gateway.call(environment, key, async ({ stripe }) => {
          const account = await stripe.accounts.retrieveCurrent();
          if (key.startsWith('rk_')) {
            for (const [what, read] of readsNeeded) {
              try {
                await read(stripe);
              } catch (error) {
                if (error instanceof Stripe.errors.StripePermissionError)
                  throw new MissingPermission(`the restricted key cannot read ${what}: give it read access`);
                throw error;
              }
            }
          }
          return account.id;
        });
      } catch (error) {
        if (error instanceof MissingPermission)
          return {
            ok: false,
            refusal: { code: 'insufficient_permissions', message: error.message, status: 400 },
          };
        if (error instanceof StripeGatewayError) {
          const refused = error.status !== undefined && error.status < 500;
          return {
            ok: false,
            refusal: {
              code: 'stripe_refused',
              message: error.message,
              status: refused ? 400 : 502,
            },
          };
        }
        throw error;
      }
      const current = (await store.all()).find((row) => row.environment === environment && row.active);
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
      await store.save(
        environment,
        sealSecret(masterKey, key, belongsTo(environment)),
        maskKey(key),
        accountId,
      );
      openedCache.delete(environment);
      if (current?.accountId !== accountId) {
        await log.append(
          stripeConnectionLogEntry(environment, randomUUID(), {
            change: 'connected',
            accountId,
            livemode: environment === 'live',
          }),
        );
      }
      const webhook = await manageWebhookEndpoint(environment, key);
      const saved = (await store.all()).find((row) => row.environment === environment);
      return {
        ok: true,
        connection: statusOf(saved as NonNullable<typeof saved>),
        webhook,
        newAccount: current?.accountId !== accountId,
        ...(current && current.accountId !== accountId && { switchedFrom: current.accountId }),
      };
    },

    /**
     * The managed webhook endpoint as Stripe has it now (whether it is enabled, where it sends),
     * asked of Stripe on each call; null when the environment has no managed endpoint.
     */
    async webhookEndpoint(
      environment: Environment,
    ): Promise<{ ok: true; endpoint: ManagedWebhookEndpoint | null } | { ok: false; message: string }> {
      const row = (await store.all()).find((stored) => stored.environment === environment && stored.active);
      const endpointId = row?.webhookEndpointId;
      if (!row || !endpointId) return { ok: true, endpoint: null };
      const key = openSecret(masterKeys, row.secretKeySealed, belongsTo(environment));
      try {
        const endpoint = await gateway.call(environment, key, ({ stripe }) =>
          stripe.webhookEndpoints.retrieve(endpointId),
        );
        return {
          ok: true,
          endpoint: {
            endpointId: endpoint.id,
            url: endpoint.url,
            status: endpoint.status,
            enabledEvents: endpoint.enabled_events,
          },
        };
      } catch (error) {
        if (error instanceof StripeGatewayError) return { ok: false, message: error.message };
        throw error;
      }
    },

    /** Deactivates the environment's connection; false when there was none. */
    async remove(environment: Environment): Promise<boolean> {
      openedCache.delete(environment);
      const row = (await store.all()).find((stored) => stored.environment === environment && stored.active);
      // Stripe would otherwise keep sending to an endpoint nobody verifies any more.
      if (row?.webhookEndpointId) {
        const key = openSecret(masterKeys, row.secretKeySealed, belongsTo(environment));
        const endpointId = row.webhookEndpointId;
        await gateway
          .call(environment, key, ({ stripe }) => stripe.webhookEndpoints.del(endpointId))
          .catch((error: unknown) => {
            // Already gone is fine; anything else keeps the connection until it can be removed.
            if (!(error instanceof StripeGatewayError && error.status === 404)) throw error;
          });
      }
      const accountId = await store.deactivate(environment);
      if (!accountId) return false;
      await log.append(
        stripeConnectionLogEntry(environment, randomUUID(), {
          change: 'removed',
          accountId,
          livemode: environment === 'live',
        }),
      );
      return true;
    },

    async list(): Promise<StripeConnectionStatus[]> {
      return (await store.all()).map(statusOf);
    },

    /** Remembers the Billing Portal configuration Payfold created in the environment's account. */
    async recordPortalConfiguration(environment: Environment, configurationId: string): Promise<void> {
      await store.savePortalConfiguration(environment, configurationId);
    },

    /** The environment's key, for calls through the gateway; undefined when not connected. */
    async secretKey(environment: Environment): Promise<string | undefined> {
      return (await opened(environment)).secretKey;
    },

    /** Seals every stored secret under the current master key (after a rotation). Returns how many rows moved. */
    async resealAll(): Promise<number> {
      let moved = 0;
      for (const row of await store.all()) {
        if (row.secretKeySealed.split('.')[1] === masterKeyId(masterKey)) continue;
        const key = openSecret(masterKeys, row.secretKeySealed, belongsTo(row.environment));
        const webhookSecret =
          row.webhookSecretSealed &&
          openSecret(masterKeys, row.webhookSecretSealed, webhookSecretBelongsTo(row.environment));
        await store.reseal(
          row.environment,
          sealSecret(masterKey, key, belongsTo(row.environment)),
          webhookSecret
            ? sealSecret(masterKey, webhookSecret, webhookSecretBelongsTo(row.environment))
            : null,
        );
        moved += 1;
      }
      return moved;
    },
  };
};

export type StripeConnections = ReturnType<typeof stripeConnections>;

class MissingPermission extends Error {}
