import type { Environment } from '../../domain/environment.js';
import type { SecretBox, StripeConnectionsStore } from '../../ports/stores.js';

const keyBelongsTo = (environment: Environment) => `stripe_connections/${environment}`;
const webhookSecretBelongsTo = (environment: Environment) => `stripe_connections/${environment}/webhook`;

/**
 * The secrets of each environment's connection, sealed at rest (the secret key, the managed
 * endpoint's signing secret), opened on demand and kept opened a few seconds: every session request
 * and webhook needs them, and another process that changes them is followed within seconds.
 */
export const stripeKeyVault = (store: StripeConnectionsStore, secrets: SecretBox) => {
  const opened = new Map<
    Environment,
    { secretKey: string | undefined; webhookSecrets: string[]; until: number }
  >();
  const openedSecrets = async (environment: Environment) => {
    const cached = opened.get(environment);
    if (cached && cached.until > Date.now()) return cached;
    const row = (await store.all()).find((stored) => stored.environment === environment && stored.active);
    const found = {
      secretKey: row && secrets.open(row.secretKeySealed, keyBelongsTo(environment)),
      webhookSecrets: row?.webhookSecretSealed
        ? [secrets.open(row.webhookSecretSealed, webhookSecretBelongsTo(environment))]
        : [],
      until: Date.now() + 5000,
    };
    opened.set(environment, found);
    return found;
  };

  return {
    /** The environment's key, for calls through the gateway; undefined when not connected. */
    async secretKey(environment: Environment): Promise<string | undefined> {
      return (await openedSecrets(environment)).secretKey;
    },
    /** The signing secrets of the environment's managed endpoint (none without one). */
    async webhookSecrets(environment: Environment): Promise<string[]> {
      return (await openedSecrets(environment)).webhookSecrets;
    },
    /** The stored key of a connection row, opened (for a row read a moment ago). */
    keyOf(row: { environment: Environment; secretKeySealed: string }): string {
      return secrets.open(row.secretKeySealed, keyBelongsTo(row.environment));
    },
    async saveKey(
      environment: Environment,
      key: string,
      maskedKey: string,
      accountId: string,
    ): Promise<void> {
      await store.save(environment, secrets.seal(key, keyBelongsTo(environment)), maskedKey, accountId);
      opened.delete(environment);
    },
    async saveWebhookEndpoint(environment: Environment, endpointId: string, secret: string): Promise<void> {
      await store.saveWebhookEndpoint(
        environment,
        endpointId,
        secrets.seal(secret, webhookSecretBelongsTo(environment)),
      );
      opened.delete(environment);
    },
    /** Forgets what was opened of an environment (its connection is being removed). */
    forget(environment: Environment): void {
      opened.delete(environment);
    },
    /** Seals every stored secret under the current master key (after a rotation). Returns how many rows moved. */
    async resealAll(): Promise<number> {
      let moved = 0;
      for (const row of await store.all()) {
        if (secrets.sealedUnderCurrentKey(row.secretKeySealed)) continue;
        const key = secrets.open(row.secretKeySealed, keyBelongsTo(row.environment));
        const webhookSecret =
          row.webhookSecretSealed &&
          secrets.open(row.webhookSecretSealed, webhookSecretBelongsTo(row.environment));
        await store.reseal(
          row.environment,
          secrets.seal(key, keyBelongsTo(row.environment)),
          webhookSecret ? secrets.seal(webhookSecret, webhookSecretBelongsTo(row.environment)) : null,
        );
        moved += 1;
      }
      return moved;
    },
  };
};

export type StripeKeyVault = ReturnType<typeof stripeKeyVault>;
